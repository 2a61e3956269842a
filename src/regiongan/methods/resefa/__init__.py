"""ReSeFa — region-based semantic factorization (Zhu et al., ICML 2022); docs/resefa.md.

Latent directions that change one region of the image and leave the rest alone, found from the
generator's Jacobian at a few samples — no training, no labels beyond the region:

    dirs = find_directions(G, "part:mouth", samples=8)        # Directions: vectors [k, d], eigenvalues [k]
    dirs.save("mouth.safetensors"); dirs = load_directions("mouth.safetensors")
    out = edit(G, [0, 1], dirs, index=0, strengths=[-3, 0, 3])   # Result: images [2·3, 3, R, R]

Modules: :mod:`.solvers` (the eigenproblem ``A n = λ (B + αI) n``), :mod:`.spaces` (latent spaces, rows,
the differentiated image function), :mod:`.directions` (the result type and its file), :mod:`.factorize`
(the pipeline, :func:`find_directions`), :mod:`.operations` (the registered ``resefa.edit``). The
Jacobian engine itself is model-agnostic: :mod:`regiongan.jacobian`.
"""

from ...jacobian import DEFAULT_MAX_JACOBIAN_BYTES, EmptyRegionError, NonFiniteOutputError
from .directions import (
    FORMAT,
    FORMAT_VERSION,
    Directions,
    DirectionsLike,
    as_directions,
    directions_summary,
    load_directions,
)
from .factorize import DEFAULT_CHUNK, DEFAULT_K, DEFAULT_SAMPLES, find_directions
from .operations import DEFAULT_STRENGTHS, edit
from .solvers import (
    DEFAULT_SOLVER,
    DEFAULT_TAU,
    SOLVERS,
    EigenSolution,
    Solver,
    regularization,
    solve,
    solve_cholesky,
    solve_woodbury,
    woodbury_inverse,
)
from .spaces import (
    DEFAULT_SPACE,
    LayerSpillWarning,
    direction_offset,
    edited_ws,
    family_space,
    image_function,
    latent_dim,
    latent_rows,
    model_spaces,
    tangent_function,
)

__all__ = [
    "find_directions", "edit", "load_directions", "Directions", "DirectionsLike", "as_directions",
    "directions_summary", "FORMAT", "FORMAT_VERSION",
    "EigenSolution", "Solver", "SOLVERS", "solve", "solve_cholesky", "solve_woodbury", "woodbury_inverse",
    "regularization",
    "latent_rows", "latent_dim", "model_spaces", "family_space", "image_function", "tangent_function", "direction_offset", "edited_ws",
    "LayerSpillWarning", "EmptyRegionError", "NonFiniteOutputError",
    "DEFAULT_SAMPLES", "DEFAULT_K", "DEFAULT_SPACE", "DEFAULT_TAU", "DEFAULT_SOLVER", "DEFAULT_CHUNK",
    "DEFAULT_STRENGTHS", "DEFAULT_MAX_JACOBIAN_BYTES",
]  # fmt: skip
