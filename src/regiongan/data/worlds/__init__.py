"""Procedural, part-annotated worlds: our training data and the ground truth for region methods.

Every world renders anti-aliased images together with exact part-label maps, attribute vectors and a
class id, deterministically per ``(seed, index)``::

    from regiongan.data.worlds import get_world
    faces = get_world("faces")                       # or "scenes"; list_worlds() names them all
    s = faces.sample(seed=0, index=7, size=64)        # WorldSample(image, labels, attributes, class_id)
    images, labels, attrs, classes = faces.sample_batch(seed=0, start=0, count=256, size=64)

    # Edit what was sampled, or recolour one part, and render again:
    params = faces.sample_params(0, [7])              # dict of [B, ...] arrays
    params["iris"][:] = (0.1, 0.6, 0.9)               # both eyes share one iris colour
    images, labels = faces.render(params, 64, part_colors={"mouth": (255, 0, 0)})

``sample(seed, i)`` always equals element ``i - start`` of ``sample_batch(seed, start, ...)``: each sample
reads its own random stream ``np.random.default_rng([seed, i])`` and the renderer treats samples
independently. Part, attribute and class names are documented in :mod:`.faces` and :mod:`.scenes`;
rendering (signed distances, one-pixel coverage ramps, label-consistent compositing) in :mod:`.raster`;
the name -> world table in :mod:`.registry`.
``WorldDataset`` wraps a world as a ``torch.utils.data.Dataset``.
"""

from __future__ import annotations

from .base import Params, World, WorldSample
from .dataset import WorldDataset
from .faces import FacesWorld
from .registry import get_world, list_worlds
from .scenes import ScenesWorld

__all__ = ["World", "WorldSample", "Params", "WorldDataset", "FacesWorld", "ScenesWorld", "get_world", "list_worlds"]
