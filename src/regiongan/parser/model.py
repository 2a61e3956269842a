"""The part parser network: a compact U-Net with a segmentation head and an attribute head.

::

    image [N, 3, H, W] in [-1, 1]
      -> stem + encoder stages (each halves H and W)      skips at 1, 1/2, 1/4, ... of the input size
      -> bottleneck [N, D, H/2^k, W/2^k]                  D = channels[-1]
           |-> global average pool -> features [N, D]     (FD-parser embeds images with these)
           |      -> BatchNorm + MLP -> attributes [N, A] (standardised: (a - mean) / std)
      -> decoder stages (upsample, concat skip, convs)
      -> 1x1 conv -> logits [N, P, H, W]                  P = len(part_names)

Convolutions are 3x3 + BatchNorm + ReLU. In eval mode (the mode :func:`load_parser` returns) every output
depends on its own image only, so batching never changes a result. H and W must be multiples of
``2 ** (len(channels) - 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["PartParser", "ParserOutput"]


@dataclass
class ParserOutput:
    """What :meth:`PartParser.forward` returns.

    logits: ``[N, P, H, W]`` unnormalised part scores; attributes: ``[N, A]`` standardised attribute
    predictions; features: ``[N, D]`` global-pooled bottleneck features.
    """

    logits: torch.Tensor
    attributes: torch.Tensor
    features: torch.Tensor


def _conv_bn_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class _Down(nn.Module):
    """Halve the resolution (stride-2 conv), then one more conv: ``[N, in, H, W] -> [N, out, H/2, W/2]``."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.reduce = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)
        )
        self.conv = _conv_bn_relu(out_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.reduce(x))


class _Up(nn.Module):
    """Double the resolution, concatenate the skip, fuse: ``[N, in, h, w] + [N, skip, 2h, 2w] -> [N, out, 2h, 2w]``."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int):
        super().__init__()
        self.fuse = _conv_bn_relu(in_ch + skip_ch, out_ch)
        self.conv = _conv_bn_relu(out_ch, out_ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(self.fuse(torch.cat([x, skip], dim=1)))


class PartParser(nn.Module):
    """Segment images into a world's parts and regress its attributes.

    Constructor arguments are the config (saved as ``config.json`` by :func:`regiongan.parser.save_parser`).

    Args:
        part_names: label names, index = label id (e.g. ``get_world("faces").part_names``).
        attribute_names: names of the regressed attributes (may be empty).
        channels: channel count per resolution level, full resolution first; ``channels[-1]`` is the
            feature dimension D of :meth:`features`.
        world: name of the world the parser was trained on (default data for evaluation and FD-parser).
        in_channels: image channels (3 for RGB).
    """

    model_type = "part-parser"

    def __init__(
        self,
        part_names: Sequence[str],
        attribute_names: Sequence[str] = (),
        channels: Sequence[int] = (24, 48, 96, 192),
        world: str | None = None,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        part_names, attribute_names, channels = list(part_names), list(attribute_names), [int(c) for c in channels]
        if len(part_names) < 2 or len(set(part_names)) != len(part_names):
            raise ValueError(f"part_names must hold at least two distinct names, got {part_names!r}")
        if len(set(attribute_names)) != len(attribute_names):
            raise ValueError(f"attribute_names must be distinct, got {attribute_names!r}")
        if len(channels) < 2 or any(c <= 0 for c in channels):
            raise ValueError(f"channels must list at least two positive ints (full resolution first), got {channels!r}")
        self.config: dict[str, Any] = dict(
            part_names=part_names, attribute_names=attribute_names, channels=channels, world=world, in_channels=in_channels
        )
        self.part_names: tuple[str, ...] = tuple(part_names)
        self.attribute_names: tuple[str, ...] = tuple(attribute_names)
        self.world = world
        self.in_channels = in_channels
        self.feature_dim = channels[-1]
        self.size_multiple = 2 ** (len(channels) - 1)

        self.stem = nn.Sequential(_conv_bn_relu(in_channels, channels[0]), _conv_bn_relu(channels[0], channels[0]))
        self.down = nn.ModuleList(_Down(a, b) for a, b in zip(channels[:-1], channels[1:]))
        self.up = nn.ModuleList(_Up(b, a, a) for a, b in zip(channels[:-1], channels[1:]))  # applied in reverse
        self.seg_head = nn.Conv2d(channels[0], len(part_names), 1)
        a = len(attribute_names)
        d = channels[-1]
        # Pooled features vary little between images compared with their mean; standardising them first
        # (BatchNorm1d) lets the head learn in a few hundred steps instead of barely moving from the mean.
        self.attr_head = nn.Sequential(nn.BatchNorm1d(d), nn.Linear(d, d), nn.ReLU(inplace=True), nn.Linear(d, a))
        # Attribute standardisation, set from training data by train_parser; saved with the weights.
        self.register_buffer("attribute_mean", torch.zeros(a))
        self.register_buffer("attribute_std", torch.ones(a))

    # ---------------------------------------------------------------------------------------------------
    def _check_images(self, images: torch.Tensor) -> None:
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != self.in_channels:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images must be [N, {self.in_channels}, H, W] in [-1, 1], got {shape}")
        h, w = images.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(
                f"image height and width must be multiples of {self.size_multiple} for this parser, got {h}x{w}; "
                "resize the images (e.g. to 64x64)"
            )
        if not images.is_floating_point():
            raise ValueError(
                f"images must be a float tensor in [-1, 1], got dtype {images.dtype}; "
                "convert uint8 [N, H, W, 3] arrays with regiongan.parser.images_to_tensor"
            )

    def _encode(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``[N, 3, H, W] -> (bottleneck [N, D, h, w], skips full resolution first)``."""
        x = self.stem(images)
        skips = []
        for down in self.down:
            skips.append(x)
            x = down(x)
        return x, skips

    def forward(self, images: torch.Tensor) -> ParserOutput:
        """``images [N, 3, H, W]`` in [-1, 1] -> :class:`ParserOutput` (logits, attributes, features)."""
        self._check_images(images)
        x, skips = self._encode(images)
        features = x.mean(dim=(2, 3))
        attributes = self.attr_head(features)
        for up, skip in zip(reversed(self.up), reversed(skips)):
            x = up(x, skip)
        return ParserOutput(logits=self.seg_head(x), attributes=attributes, features=features)

    # -- explicit verbs ------------------------------------------------------------------------------------
    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``images [N, 3, H, W]`` in [-1, 1] -> global-pooled bottleneck features ``[N, D]`` (encoder only)."""
        self._check_images(images)
        return self._encode(images)[0].mean(dim=(2, 3))

    @torch.no_grad()
    def parse(self, images: torch.Tensor) -> torch.Tensor:
        """``images [N, 3, H, W]`` in [-1, 1] -> part labels ``[N, H, W]`` int64 (ids index ``part_names``)."""
        return self(images).logits.argmax(dim=1)

    @torch.no_grad()
    def predict_attributes(self, images: torch.Tensor) -> torch.Tensor:
        """``images [N, 3, H, W]`` in [-1, 1] -> attributes ``[N, A]`` in the world's units (de-standardised)."""
        return self(images).attributes * self.attribute_std + self.attribute_mean

    def part_ids(self, part: str | Sequence[str]) -> list[int]:
        """Label ids of a part name or list of names; unknown names raise a ValueError listing the parts."""
        names = [part] if isinstance(part, str) else list(part)
        if not names:
            raise ValueError(f"no part given; parts are {list(self.part_names)}")
        unknown = [n for n in names if n not in self.part_names]
        if unknown:
            raise ValueError(f"unknown part(s) {unknown!r} for this parser; parts are {list(self.part_names)}")
        return [self.part_names.index(n) for n in names]

    @torch.no_grad()
    def part_masks(self, images: torch.Tensor, part: str | Sequence[str]) -> torch.Tensor:
        """Hard mask ``[N, 1, H, W]`` float32 (0/1) of the pixels :meth:`parse` labels as ``part``.

        ``part``: one part name or a list (their union). Wrap the result in
        :class:`regiongan.regions.Region` to use it as a region; :meth:`part_probabilities` is the soft version.
        """
        ids = torch.tensor(self.part_ids(part), device=images.device)
        return torch.isin(self.parse(images)[:, None], ids).float()

    @torch.no_grad()
    def part_probabilities(self, images: torch.Tensor, part: str | Sequence[str]) -> torch.Tensor:
        """Soft mask ``[N, 1, H, W]`` in [0, 1]: the summed softmax probability of ``part`` (name or list)."""
        ids = self.part_ids(part)
        return self(images).logits.softmax(dim=1)[:, ids].sum(dim=1, keepdim=True).clamp_(0, 1)

    def extra_repr(self) -> str:
        parts, attrs = len(self.part_names), len(self.attribute_names)
        return f"world={self.world!r}, parts={parts}, attributes={attrs}, channels={self.config['channels']}"
