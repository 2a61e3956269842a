"""Demodulation of modulated convolutions (StyleGAN2 and the families built on it), and the per-layer
tensors derived from a frozen weight that every call would otherwise recompute.

``d_o = (Σ_{i,k} (W_oik s_i)² + ε)^-½`` for a style vector ``s``: :func:`demodulation` from the squared kernel
sums ``Σ_k W_oik²`` (:func:`squared_weight_sums`).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

__all__ = ["DEMOD_EPS", "demodulation", "squared_weight_sums", "conv_weight"]

#: ε of the demodulation (NVlabs' value).
DEMOD_EPS = 1e-8


def demodulation(wsq: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """d for style vectors ``[..., C_in]`` -> ``[..., C_out]``: ``(Σ_{i,k} (W_oik s_i)² + ε)^-½``;
    wsq: ``Σ_k W_oik²`` ``[C_out, C_in]`` (:func:`squared_weight_sums`)."""
    return (styles.square() @ wsq.t() + DEMOD_EPS).rsqrt()


def _of_frozen_weight(layer: nn.Module, slot: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``fn(layer.weight)``, kept on the layer under ``slot`` while the weight is frozen — the layer in eval
    mode, no gradient recorded for it, not inference mode — and reused until it changes (storage, version
    counter, dtype and device are the key), as BigGAN's spectrally normalised weights are. A layer in
    training mode never caches: optimisers may update weights without moving their version counter
    (fused Adam does not), and training changes them every step anyway."""
    w = layer.weight
    if layer.training or (w.requires_grad and torch.is_grad_enabled()) or torch.is_inference_mode_enabled():
        return fn(w)
    key = (w.data_ptr(), w._version, w.dtype, w.device)
    cache = layer.__dict__.setdefault("_frozen_weight_cache", {})
    hit = cache.get(slot)
    if hit is not None and hit[0] == key:
        return hit[1]
    out = fn(w.detach())
    cache[slot] = (key, out)
    return out


def squared_weight_sums(layer: nn.Module) -> torch.Tensor:
    """``Σ_k W_oik²`` ``[C_out, C_in]`` of a layer's ``weight [C_out, C_in, k, k]``, which demodulation needs
    (kept while the weight is frozen)."""
    return _of_frozen_weight(layer, "wsq", lambda w: w.square().sum(dim=[2, 3]))


def conv_weight(layer: nn.Module, dtype: torch.dtype, channels_last: bool) -> torch.Tensor:
    """The layer's weight in ``dtype`` and memory format, as the convolution wants it for a channels_last
    input (kept while the weight is frozen: no conversion pass per call)."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if layer.weight.dtype == dtype and layer.weight.is_contiguous(memory_format=fmt):
        return layer.weight
    return _of_frozen_weight(layer, f"{dtype}-{fmt}", lambda w: w.to(dtype).contiguous(memory_format=fmt))
