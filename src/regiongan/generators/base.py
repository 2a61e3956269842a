"""The one generator interface that every region method plugs into (docs/architecture.md).

A generator exposes explicit verbs — ``map(z) -> ws``, ``styles(ws)``, ``synthesize(styles)`` — and
describes its *control points*: the layers where a latent-dependent modulation enters. Region methods edit
the per-layer styles (as vectors, spatial maps or per-region blends) and never reach into model internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Protocol, Sequence, Union, runtime_checkable

import torch

from ..latents import DIRECTION_SPACES, SPACES, LatentSpace
from ..ops.masks import resize_mask

__all__ = [
    "ControlPoint",
    "BlendedStyle",
    "Style",
    "SynthesisOutput",
    "Generator",
    "NoiseMode",
    "Precision",
    "TangentPass",
    "tangent_pass",
    "LatentSpace",
    "latent_spaces",
    "check_generator",
    "style_map",
]

NoiseMode = Literal["const", "random", "none"]
#: ``"auto"``: bf16 where the hardware has native bf16, else fp32 (:func:`regiongan.hardware.resolve_precision`).
Precision = Literal["fp32", "bf16", "auto"]


@dataclass(frozen=True)
class ControlPoint:
    """One layer where a style enters the generator.

    name: stable layer name, e.g. ``"b16.conv0"``; kind: ``"conv"`` (modulated + demodulated, takes a
    noise input), ``"torgb"`` (modulated only) or ``"norm"`` (a conditional normalisation's gain and bias,
    as in BigGAN: the style is ``[gain, bias]``, no noise); resolution: output resolution of the layer; in_resolution: resolution
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
    """K per-region style vectors blended by soft masks: ITAN's spatial style (docs/itan.md).

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


def style_map(style: Style, channels: int, resolution: int, name: str) -> torch.Tensor:
    """Any :data:`Style` as a tensor that broadcasts over a layer's activations ``[N, C, r, r]``:
    ``[N, C, 1, 1]`` for a vector, ``[N, C, r, r]`` for a spatial map or a blend (``Σ_k m_k s_k`` with the
    masks resized to ``r`` by :func:`~regiongan.ops.masks.resize_mask`). For families whose style enters
    linearly (a conditional normalisation's gain and bias), this *is* ITAN's spatially adaptive style."""
    if isinstance(style, BlendedStyle):
        if style.styles.shape[-1] != channels:
            raise ValueError(f"{name}: BlendedStyle has {style.styles.shape[-1]} channels, the layer expects {channels}")
        masks = resize_mask(style.masks.to(style.styles.dtype), resolution, resolution)[:, :, None]  # [N, K, 1, r, r]
        styles = style.styles[:, :, :, None, None]  # [N, K, C, 1, 1]
        # Σ_k m_k s_k as one product and K-1 fused multiply-adds: half the time of an einsum (a batched matmul
        # with an inner size of K), and exact where a hard mask picks one region (0·s + 1·s' = s').
        out = styles[:, 0] * masks[:, 0]
        for k in range(1, styles.shape[1]):
            out = out.addcmul_(styles[:, k], masks[:, k])
        return out
    if style.ndim == 2 and style.shape[1] == channels:
        return style[:, :, None, None]
    if style.ndim == 4 and style.shape[1] == channels:
        return style if style.shape[-2:] == (resolution, resolution) else resize_mask(style, resolution, resolution)
    raise ValueError(
        f"{name}: a style must be [N, {channels}], [N, {channels}, h, w] or a BlendedStyle, got {tuple(style.shape)}"
    )


@dataclass
class SynthesisOutput:
    """image: ``[N, C_img, H, W]`` in about [-1, 1]; features: per conv layer, the activation after bias,
    activation and clamp, ``{name: [N, C, h, w]}`` (only when requested)."""

    image: torch.Tensor
    features: dict[str, torch.Tensor] = field(default_factory=dict)


@runtime_checkable
class Generator(Protocol):
    """Everything a region method may use of a generator; methods touch nothing else.

    Latent spaces: ``z [N, z_dim]`` (sampled), ``w [N, w_dim]`` and ``w+ = ws [N, num_ws, w_dim]`` (one row
    per style input; ``map`` returns ws). Control points: the layers a latent-dependent modulation enters,
    each with a style vector ``[N, C]`` computed from one row of ws (``styles``), in the order of
    ``control_points()``. ``synthesize`` takes one :data:`Style` per control point — a vector, a spatial
    map or a :class:`BlendedStyle` — which is how every region method edits an image.

    Optional: ``synthesize_jvp(ws [1, num_ws, w_dim], dws [T, num_ws, w_dim], noise_mode)`` -> (image,
    tangents), and ``linearize(ws, noise_mode, precision)`` -> a callable ``dws -> tangents`` (the primal pass
    run once for many chunks); a family that has them gets the fast forward-mode Jacobian (see
    :func:`tangent_pass`), others use ``torch.func.jvp`` of ``synthesize``.

    Optional: ``latent_spaces() -> dict[str, LatentSpace | str]``: the family's latent spaces beyond z / w /
    w+ (a :class:`~regiongan.latents.LatentSpace`, e.g. BigGAN's ``"class"``), and the generic ones it does
    not offer (a one-line reason); see :func:`latent_spaces`. Without it a model has z, w and w+.
    """

    model_type: str
    config: dict
    z_dim: int
    c_dim: int
    w_dim: int
    num_ws: int
    img_resolution: int
    img_channels: int

    @property
    def device(self) -> torch.device:
        """Where the weights live (inputs are moved here)."""
        ...

    def map(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        """``z [N, z_dim]`` (+ ``c [N, c_dim]``) -> ``ws [N, num_ws, w_dim]``, truncated towards the mean."""
        ...

    def latent_mean(self) -> torch.Tensor:
        """``w̄ [w_dim]``: the centre truncation pulls towards."""
        ...

    def truncate(self, ws: torch.Tensor, psi: float | torch.Tensor) -> torch.Tensor:
        """``w̄ + ψ (ws − w̄)`` for ``ws [N, num_ws, w_dim]``."""
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
        """Per conv control point a noise input ``[N, 1, h, w]`` (unscaled) for :meth:`synthesize`; a
        family without noise returns one None per conv control point."""
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
        """Styles (one per control point) -> image ``[N, img_channels, R, R]``. precision: ``"fp32"``, ``"bf16"``
        or ``"auto"`` (resolved by :func:`regiongan.hardware.resolve_precision` for the model's device)."""
        ...


#: Fast tangent pass: ``ws [1, num_ws, w_dim]`` -> the derivatives at ws, ``dws [T, num_ws, w_dim] -> [T, C, R, R]``
#: (linearize once per sample, then call once per chunk of tangents).
TangentPass = Callable[[torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]


def tangent_pass(G: Generator, precision: Precision = "fp32") -> TangentPass | None:
    """The family's own forward-mode pass with constant noise — ``G.linearize`` (primal once per ws), else
    ``G.synthesize_jvp`` — or None when the family has none (then :mod:`regiongan.jacobian` differentiates
    :meth:`Generator.synthesize` generically). ``precision`` (fp32 / bf16 / auto) goes to ``linearize``."""
    lin = getattr(G, "linearize", None)
    if lin is not None:
        return lambda ws: lin(ws, "const", precision)
    fn = getattr(G, "synthesize_jvp", None)
    if fn is None:
        return None
    return lambda ws: (lambda dws: fn(ws, dws, noise_mode="const")[1])


def latent_spaces(G: Generator) -> dict[str, LatentSpace | str]:
    """The family's declaration of its latent spaces (``G.latent_spaces()``), checked; ``{}`` when it has none.

    Keys are words of :data:`~regiongan.latents.DIRECTION_SPACES`. A value is a
    :class:`~regiongan.latents.LatentSpace` for a space the family adds (never z / w / w+, which are
    generic), or a one-line reason (a str) for a space this model does not offer — a generic one that means
    nothing for the family (BigGAN's homogeneous ws rows: ``"w"``, ``"w+"``), or a family space this
    particular model lacks (an unconditional BigGAN's ``"class"``). Methods (ReSeFa) name the reason in
    their error. A malformed declaration is a TypeError / ValueError naming the family.
    """
    fn = getattr(G, "latent_spaces", None)
    if fn is None:
        return {}
    declared = fn()
    family = type(G).__name__
    if not isinstance(declared, dict):
        got = type(declared).__name__
        raise TypeError(f"{family}.latent_spaces() must return a dict of LatentSpace or str, got {got}")
    for name, value in declared.items():
        if name not in DIRECTION_SPACES:
            raise ValueError(
                f"{family}.latent_spaces(): {name!r} is not a latent space word of regiongan {DIRECTION_SPACES}; "
                "add it to regiongan.latents.DIRECTION_SPACES and docs/vocabulary.md"
            )
        if isinstance(value, str):
            if not value or "\n" in value:
                raise ValueError(f"{family}.latent_spaces()[{name!r}]: the reason must be one non-empty line")
        elif not isinstance(value, LatentSpace):
            got = type(value).__name__
            raise TypeError(f"{family}.latent_spaces()[{name!r}] must be a LatentSpace or a reason (str), got {got}")
        elif name in SPACES:
            raise ValueError(
                f"{family}.latent_spaces(): {name!r} is generic; a family can withdraw it (a str reason), not redefine it"
            )
    return dict(declared)


def check_generator(G: object) -> Generator:
    """``G`` if it implements :class:`Generator`, else a TypeError naming what is missing."""
    if isinstance(G, Generator):
        return G
    missing = [
        name for name in ("model_type", "z_dim", "w_dim", "num_ws", "img_resolution", "map", "latent_mean",
                          "truncate", "styles", "control_points", "make_noise", "synthesize", "device")
        if not hasattr(G, name)
    ]  # fmt: skip
    raise TypeError(
        f"expected a regiongan generator (load one with regiongan.load_model), got {type(G).__name__}"
        + (f" without {missing}" if missing else "")
    )
