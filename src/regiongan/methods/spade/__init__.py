"""Region-level control of SPADE (Park et al., CVPR 2019) label-to-image models; docs/spade.md.

:mod:`.labels` reads label maps (id PNGs, colour maps with a palette, .npy, tensors, world samples) and
style references; :mod:`.repaint` paints a region of a label map and bounds where that can change the
image; :mod:`.operations` holds the registered operations ``synthesize``, ``repaint``, ``region_styles``.
"""

from .labels import class_ids, label_preview, load_labels, palette_colors
from .operations import region_styles, repaint, synthesize
from .repaint import label_reach, repaint_labels

__all__ = [
    "synthesize", "repaint", "region_styles", "load_labels", "palette_colors", "class_ids", "label_preview",
    "repaint_labels", "label_reach",
]  # fmt: skip
