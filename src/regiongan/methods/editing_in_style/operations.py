"""Editing in Style's registered operation: ``transfer_part`` (``regiongan.transfer_part``, a recipe
method, a CLI command).

    transfer_part(G, target, reference, part, catalog=None)   the reference's part in the target

The catalog is the model's companion catalog by default (``config.json``: ``"companions": {"catalog":
…}``), or a shipped catalog's name, a catalog directory, a :class:`~.catalog.Catalog` or its dict form.
Recipes store a shipped catalog by name (it ships with regiongan) and any other as its dict form (JSON +
tensors in the recipe's sidecar), so a replay never needs the user's catalog files.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Union

import torch

from ...latents import Code, Space, code_tensor, codes_to_ws
from ...limits import check_count
from ...registry import register_method
from ...results import Result
from .catalog import Catalog, PartSpec, catalog_path, list_catalogs, load_catalog, shipped_catalog_dir
from .errors import CatalogError
from .queries import DEFAULT_EPS, DEFAULT_LAMBDA, DEFAULT_RHO, QueryMethod, part_queries
from .transfer import transfer_styles

__all__ = ["CatalogLike", "resolve_catalog", "transfer_part"]

#: A catalog argument: None (the model's companion), a shipped name or directory, a Catalog, its dict form.
CatalogLike = Union[None, str, os.PathLike, Catalog, Mapping[str, Any]]


def resolve_catalog(G, catalog: CatalogLike = None) -> tuple[Catalog, Any]:
    """A ``catalog`` argument -> ``(Catalog, what a recipe stores)``: a shipped catalog's name, else the
    catalog's dict form (:meth:`~.catalog.Catalog.to_dict`)."""
    if catalog is None:
        catalog = getattr(G, "companions", {}).get("catalog")
        if catalog is None:
            raise CatalogError(
                f"model {getattr(G, 'model_name', None)!r} declares no companion catalog; pass catalog= a catalog "
                f"directory, a shipped catalog ({', '.join(list_catalogs()) or 'none'}) or a Catalog; build one "
                "with `regiongan catalog --model MODEL --out DIR` (or build_catalog(G).save(DIR))"
            )
    if isinstance(catalog, Catalog):
        return catalog, catalog.to_dict()
    if isinstance(catalog, Mapping):
        cat = Catalog.from_dict(catalog)
        return cat, cat.to_dict()
    if isinstance(catalog, (str, os.PathLike)):
        directory = catalog_path(catalog)
        cat = load_catalog(directory)
        shipped = shipped_catalog_dir(catalog)
        return cat, (catalog if shipped is not None and shipped == directory else cat.to_dict())
    raise CatalogError(
        f"catalog must be None (the model's own), a shipped catalog name, a catalog directory, a Catalog or its "
        f"dict form, got {type(catalog).__name__}"
    )


@register_method("editing_in_style.transfer_part")
def transfer_part(
    G,
    target: Code,
    reference: Code,
    part: PartSpec,
    catalog: CatalogLike = None,
    method: QueryMethod = "sequential",
    lam: float = DEFAULT_LAMBDA,
    eps: float = DEFAULT_EPS,
    rho: float = DEFAULT_RHO,
    space: Space = "z",
    c: torch.Tensor | None = None,
    truncation_psi: float = 1.0,
) -> Result:
    """Copy ``part`` from ``reference`` into ``target`` (Eq. 3 with the query of Eq. 4 or 5).

    Args:
        G: the generator the catalog was built from (checked by fingerprint).
        target, reference: codes (seeds, or tensors ``[N|1, …]`` in ``space``; batch 1 broadcasts).
        part: a catalog part name (``"eyes"``), a cluster id or a list of ids.
        catalog: None (the model's companion catalog), a shipped name, a directory, a Catalog or its dict form.
        method: ``"sequential"`` (Eq. 5: ``eps``, ``rho``) or ``"simultaneous"`` (Eq. 4: ``lam``).
        lam: λ ≥ 0. eps: ε ≥ 0, the budget per layer. rho: the paper's ρ > 0 (threshold ρ/(1+ρ)).
        c, truncation_psi: as for plain generation (the same for both codes).

    Returns:
        :class:`~regiongan.results.Result` with ``images [N, 3, R, R]`` (exactly the target's where every
        ``q = 0`` or the reference is the target) and extras ``queries`` ``{control point: q [C_l]}``,
        ``clusters`` (the part's cluster ids) and ``part_mask`` ``[N, 1, R, R]`` (where the part's clusters
        are in the edited image: the paper's region of interest, read from the same synthesis pass).
    """
    cat, record = resolve_catalog(G, catalog)
    cat.check_model(G)
    queries = part_queries(cat, part, method, lam, eps, rho)
    t, r = code_tensor(G, target, space, "target"), code_tensor(G, reference, space, "reference")
    check_count(max(len(t) if t.ndim else 1, len(r) if r.ndim else 1), "images", "the number of images (the batch N)")
    ws_t = codes_to_ws(G, t, space, c, truncation_psi, what="target")
    ws_r = codes_to_ws(G, r, space, c, truncation_psi, what="reference")
    out = transfer_styles(G, ws_t, ws_r, queries, return_features=True)
    part_mask = cat.part_mask(out.features, part, G.img_resolution)
    extras = {"queries": queries, "clusters": cat.cluster_ids(part), "part_mask": part_mask}
    return Result(images=out.image, extras=extras, recorded={"catalog": record})
