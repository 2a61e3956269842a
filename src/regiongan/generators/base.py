"""The one generator interface that every region method plugs into (METHODS.md §0).

A generator exposes explicit verbs — ``map(z) -> ws``, ``styles(ws)``, ``synthesize(styles)`` — and
describes its *control points*: the layers where a latent-dependent modulation enters. Region methods edit
the per-layer styles (as vectors, spatial maps or per-region blends) and never reach into model internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, Sequence, Union, runtime_checkable

import torch

__all__ = [
    "ControlPoint",
    "BlendedStyle",
    "Style",
    "SynthesisOutput",
    "Generator",
    "NoiseMode",
    "Precision",
]

NoiseMode = Literal["const", "random", "none"]
Precision = Literal["fp32", "bf16"]


@dataclass(frozen=True)
class ControlPoint:
    """One layer where a style enters the generator.

    name: stable layer name, e.g. ``"b16.conv0"``; kind: ``"conv"`` (modulated + demodulated) or
    ``"torgb"`` (modulated only); resolution: output resolution of the layer; in_resolution: resolution
    of the activation the style scales (half of ``resolution`` for upsampling convs); channels: style
    channels (= input channels); out_channels; w_index: which entry of ``ws`` feeds it.
    """

    name: str
    kind: str
    resolution: int
    in_resolution: int
    channels: int
    out_channels: int
    w_index: int


@dataclass
class BlendedStyle:
    """K per-region style vectors blended by soft masks: ITAN's spatial style (METHODS.md §1).

    styles: ``[N, K, C]``; masks: ``[N, K, h, w]`` at any resolution, summing to 1 over K.
    The generator resizes the masks to each layer and uses ``S = Σ_k m_k s_k`` on the input and
    ``D = Σ_k m_k d(s_k)`` (blended demodulation) on the output.
    """

    styles: torch.Tensor
    masks: torch.Tensor

    def __post_init__(self) -> None:
        if self.styles.ndim != 3:
            raise ValueError(f"BlendedStyle.styles must be [N, K, C], got shape {tuple(self.styles.shape)}")
        if self.masks.ndim != 4:
            raise ValueError(f"BlendedStyle.masks must be [N, K, h, w], got shape {tuple(self.masks.shape)}")
        if self.masks.shape[:2] != self.styles.shape[:2]:
            raise ValueError(
                f"BlendedStyle: styles {tuple(self.styles.shape)} and masks {tuple(self.masks.shape)} "
                "disagree on [N, K]"
            )


#: A style entering one control point: a vector ``[N, C]``, a spatial map ``[N, C, h, w]`` at the layer's
#: resolution (demodulation is then computed per pixel), or a :class:`BlendedStyle`.
Style = Union[torch.Tensor, BlendedStyle]


@dataclass
class SynthesisOutput:
    """image: ``[N, C_img, H, W]`` in about [-1, 1]; features: per conv layer, the activation after bias,
    activation and clamp, ``{name: [N, C, h, w]}`` (only when requested)."""

    image: torch.Tensor
    features: dict[str, torch.Tensor] = field(default_factory=dict)


@runtime_checkable
class Generator(Protocol):
    """What every generator in regiongan provides."""

    z_dim: int
    c_dim: int
    w_dim: int
    num_ws: int
    img_resolution: int
    img_channels: int

    def map(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        """``z [N, z_dim]`` (+ ``c [N, c_dim]``) -> ``ws [N, num_ws, w_dim]``."""
        ...

    def styles(self, ws: torch.Tensor) -> list[torch.Tensor]:
        """``ws [N, num_ws, w_dim]`` -> one style vector ``[N, C]`` per control point."""
        ...

    def control_points(self) -> list[ControlPoint]:
        """The layers a style enters, in the order of :meth:`styles`."""
        ...

    def make_noise(
        self, batch: int, mode: NoiseMode = "random", generator: torch.Generator | None = None
    ) -> list[torch.Tensor | None]:
        """Per conv layer noise inputs ``[N, 1, h, w]`` (unscaled) for :meth:`synthesize`."""
        ...

    def synthesize(
        self,
        styles: Sequence[Style],
        noise_mode: NoiseMode = "const",
        generator: torch.Generator | None = None,
        return_features: bool = False,
        noise: Sequence[torch.Tensor | None] | None = None,
        precision: Precision = "fp32",
    ) -> SynthesisOutput:
        """Styles (one per control point) -> image."""
        ...
