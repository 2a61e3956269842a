"""Method inputs: the one place where a ``region`` / ``regions`` argument becomes masks.

Every operation of every method takes regions in the same forms (docs/vocabulary.md):

* a :class:`~regiongan.regions.Region` or a mask tensor ``[N|1, 1, H, W]`` at the image size;
* a spec string in the command-line syntax (``"box:16,16,48,40"``, ``"mask:brush.png"``,
  ``"part:mouth+part:nose"``; ``regiongan regions`` lists it). ``part:`` terms are resolved on the images
  the region is about by the model's companion part parser (declared in its ``config.json``, e.g.
  faces-64 -> parser-faces-64) or the ``parser`` given;
* for a partition (``regions``): a :class:`~regiongan.regions.RegionSet`, a ``[N, K, H, W]`` tensor, or a
  list of the above (``RegionSet.from_regions``: a background first, later regions winning overlaps).

Recipes store spec strings as they are, except specs that read files or run the parser (``mask:``,
``label:``, ``part:``): those are stored as the resolved masks, so a replay needs neither the file nor the
parser.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, Union

import torch

from ..regions import Region, RegionError, RegionSet, parse_region

__all__ = [
    "RegionLike",
    "as_region",
    "RegionsLike",
    "RegionSource",
    "needs_images",
    "load_part_parser",
    "region_source",
    "resolve_region",
    "resolve_regionset",
]

RegionLike = Union[Region, torch.Tensor, str]
RegionsLike = Union[RegionSet, torch.Tensor, str, Region, Sequence[Union[Region, str]]]
#: ``images [N, 3, H, W] -> masks [N, 1, H, W]``: a region that depends on the image (``part:``).
RegionSource = Callable[[torch.Tensor], torch.Tensor]

_FILE_FORMS = ("mask:", "label:")
#: The most regions a list of regions may name (K masks per image and K style passes; ITAN uses 2 to 8).
MAX_REGIONS = 64


def _spec_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"spec"} and isinstance(value["spec"], str):
        return value["spec"]  # the recipe form of regiongan 0.1
    return None


def needs_images(value: Any) -> bool:
    """Whether ``value`` has ``part:`` terms, i.e. its masks depend on the image."""
    spec = _spec_of(value)
    return spec is not None and "part:" in spec


def load_part_parser(G, parser: Any = None):
    """The part parser for ``part:`` regions on ``G``'s images: ``parser`` (an object or a name / path),
    else the model's companion parser, else a RegionError that says how to get one."""
    if parser is not None and not isinstance(parser, str):
        return parser
    name = parser or getattr(G, "companions", {}).get("parser")
    if name is None:
        raise RegionError(
            f"part: regions need a part parser, and model {getattr(G, 'model_name', None)!r} declares none; pass "
            "parser='parser-faces-64' (CLI: --parser NAME) or a parser you trained, or use box:/poly:/mask: regions"
        )
    from ..parser import load_parser  # the parser package is a sibling layer, loaded only when a part is asked for

    try:
        return load_parser(name)
    except (FileNotFoundError, ValueError) as e:
        raise RegionError(f"cannot load the part parser {name!r} for part: regions: {e}") from None


def _part_names(parser) -> dict[str, Any]:
    names: dict[str, Any] = {n: i for i, n in enumerate(parser.part_names)}
    if "eyes" not in names and {"eye_left", "eye_right"} <= set(names):
        names["eyes"] = [names["eye_left"], names["eye_right"]]  # a convenient union
    return names


def region_source(G, spec: str, parser: Any = None) -> RegionSource:
    """Masks of a ``part:`` spec on given images: the parser's labels of each image, parsed with ``spec``.

    The spec is checked once on a label map that holds every part, so a typo fails at once with its own
    message; on a real image a part that is not visible gives an empty mask.
    """
    parser = load_part_parser(G, parser)
    names = _part_names(parser)
    size = (G.img_resolution, G.img_resolution)
    every_part = (torch.arange(size[0] * size[1]) % len(parser.part_names)).reshape(size)
    parse_region(spec, size, labels=every_part, part_names=names)

    def mask_of(labels: torch.Tensor) -> torch.Tensor:
        try:
            return parse_region(spec, size, labels=labels, part_names=names).mask
        except RegionError:
            return torch.zeros(1, 1, *size)  # the part is absent from this image

    def source(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            labels = parser.parse(images.float().cpu())
        return torch.cat([mask_of(labels[i]) for i in range(len(labels))])

    return source


def resolve_region(
    G, value: RegionLike, images: torch.Tensor | None = None, parser: Any = None, what: str = "region"
) -> tuple[Region, Any]:
    """A ``region`` argument -> ``(Region [N|1, 1, R, R] at the image size, what a recipe stores)``.

    images: ``[N, 3, R, R]``, the images the region is about; needed only for ``part:`` specs.
    """
    size = (G.img_resolution, G.img_resolution)
    spec = _spec_of(value)
    if spec is not None:
        if "part:" in spec:
            if images is None:
                raise RegionError(f"{what} {spec!r} has part: terms, which need the image they are about")
            region = Region(region_source(G, spec, parser)(images))
            return region, region
        region = parse_region(spec, size)
        return region, (region if any(f in spec for f in _FILE_FORMS) else spec)
    region = as_region(value, size, what, f"this model generates {size[0]}x{size[1]} images")
    return region, region


def as_region(value: Any, size: tuple[int, int], what: str, made_for: str, example: str = "'part:mouth'") -> Region:
    """A Region, or a mask tensor ``[N, 1, H, W]`` / ``[H, W]``, as a :class:`Region` of ``size`` ``(H, W)``;
    anything else, or another size, is a one-line RegionError (``made_for`` says what the size is of)."""
    if isinstance(value, torch.Tensor):
        value = Region(value if value.ndim == 4 else Region.from_tensor(value).mask)
    if not isinstance(value, Region):
        raise RegionError(
            f"{what} must be a Region, a mask tensor [N, 1, H, W] or a spec string such as 'box:8,8,24,24' or "
            f"{example}, got {type(value).__name__}"
        )
    if value.size != size:
        raise RegionError(
            f"{what} is {value.size[0]}x{value.size[1]} but {made_for}; build it at that size, "
            f"e.g. parse_region(spec, size={size}) or region.resize({size})"
        )
    return value


def resolve_regionset(
    G, value: RegionsLike, images: torch.Tensor | None = None, parser: Any = None, what: str = "regions"
) -> tuple[RegionSet, Any]:
    """A ``regions`` argument -> ``(RegionSet [N|1, K, R, R], what a recipe stores)``.

    A RegionSet or ``[N, K, H, W]`` tensor is used as it is. One region (any :data:`RegionLike`) becomes
    ``[background, region]``; a list of regions becomes ``[background, r0, r1, …]`` with later regions
    winning overlaps (``{"specs": [...]}``, the 0.1 recipe form, is read as such a list).
    """
    size = (G.img_resolution, G.img_resolution)
    if isinstance(value, RegionSet):
        regions, record = value, value
    elif isinstance(value, torch.Tensor) and value.ndim == 4 and value.shape[1] > 1:
        regions = RegionSet(value)
        record = regions
    else:
        if isinstance(value, dict) and set(value) == {"specs"}:
            value = value["specs"]
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if not items:
            raise RegionError(f"{what} is empty; give at least one region")
        if len(items) > MAX_REGIONS:
            raise RegionError(
                f"{what} has {len(items)} regions; at most {MAX_REGIONS} are blended at once (each holds a mask per "
                "image and a style pass); merge regions that share a code"
            )
        resolved = [resolve_region(G, v, images, parser, f"{what}[{i}]") for i, v in enumerate(items)]
        regions = RegionSet.from_regions([r for r, _ in resolved])
        stored = [rec for _, rec in resolved]  # specs that needed a file or the parser are stored as masks
        record = stored if isinstance(value, (list, tuple)) else stored[0]
    if regions.size != size:
        raise RegionError(
            f"{what} are {regions.size[0]}x{regions.size[1]} but this model generates {size[0]}x{size[1]} images; "
            f"build them at the image size"
        )
    return regions, record
