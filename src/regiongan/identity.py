"""Model identity: one fingerprint for every artefact that depends on a model.

Recipes, catalogs and directions store :func:`model_record` of the model they were made with. Two checks
read it back:

* :func:`check_same_weights` — the artefact is only valid for exactly these weights (a catalog's
  contribution matrices, a recipe that must replay bit-for-bit);
* :func:`check_same_architecture` — the artefact transfers between fine-tunes of one architecture
  (ReSeFa directions): latent sizes and resolution must agree.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from typing import Any, Mapping

import torch

__all__ = ["ModelMismatchError", "model_fingerprint", "model_record", "check_same_weights", "check_same_architecture"]

_ARCHITECTURE_KEYS = ("model_type", "z_dim", "c_dim", "w_dim", "num_ws", "img_resolution")
_CACHE: "weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple, str]]" = weakref.WeakKeyDictionary()


class ModelMismatchError(ValueError):
    """An artefact (catalog, directions, recipe) was made with another model than the one given."""


def _state_key(G: torch.nn.Module) -> tuple:
    # In-place updates (optimizer steps, load_state_dict) bump a tensor's version counter.
    return tuple((k, t.data_ptr(), t._version) for k, t in G.state_dict(keep_vars=True).items())


def model_fingerprint(G: torch.nn.Module) -> str:
    """``"sha256:…"`` of the family, its config and every tensor (name, dtype, shape, bytes).

    Any change of weights or architecture changes it. Cached per model object until a tensor changes, so
    methods can check it on every call.
    """
    key = _state_key(G)
    hit = _CACHE.get(G)
    if hit is not None and hit[0] == key:
        return hit[1]
    h = hashlib.sha256()
    meta = {"model_type": getattr(G, "model_type", type(G).__name__), "config": getattr(G, "config", None)}
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    for name, t in sorted(G.state_dict().items()):
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    fp = "sha256:" + h.hexdigest()
    _CACHE[G] = (key, fp)
    return fp


def model_record(G: torch.nn.Module, name: str | None = None) -> dict[str, Any]:
    """What an artefact stores about its model: name, fingerprint, family, config and latent sizes."""
    return {
        "name": name if name is not None else getattr(G, "model_name", None),
        "fingerprint": model_fingerprint(G),
        "model_type": getattr(G, "model_type", type(G).__name__),
        "config": getattr(G, "config", None),
        **{k: getattr(G, k, None) for k in _ARCHITECTURE_KEYS[1:]},
    }


def check_same_weights(G: torch.nn.Module, record: Mapping[str, Any] | str | None, what: str) -> None:
    """Raise :class:`ModelMismatchError` unless ``G`` has the fingerprint in ``record`` (a record or the
    fingerprint string; None skips the check)."""
    if record is None:
        return
    expected = record if isinstance(record, str) else record.get("fingerprint")
    if expected is None:
        return
    if model_fingerprint(G) != expected:
        name = None if isinstance(record, str) else record.get("name")
        raise ModelMismatchError(
            f"{what} does not fit this model: it was made with other weights{f' (model {name!r})' if name else ''}; "
            "load that model, or rebuild it for this one"
        )


def check_same_architecture(G: torch.nn.Module, record: Mapping[str, Any], what: str) -> None:
    """Raise :class:`ModelMismatchError` when latent sizes, family or resolution differ from ``record``
    (the weights may differ: such artefacts transfer between fine-tunes)."""
    wrong = [k for k in _ARCHITECTURE_KEYS if record.get(k) is not None and getattr(G, k, None) != record.get(k)]
    if wrong:
        made = ", ".join(f"{k}={record.get(k)!r}" for k in wrong)
        have = ", ".join(f"{k}={getattr(G, k, None)!r}" for k in wrong)
        raise ModelMismatchError(
            f"{what} does not fit this model: made for {made} (model {record.get('name')!r}), this model has "
            f"{have}; load the model it was made for"
        )
