"""The one output writer of the command line: plan every file first, write them all at the end.

Every command that writes files goes through :class:`OutputPlan`:

1. **plan** — the command lists every path it will write (:meth:`OutputPlan.add`; a family of numbered
   files whose count is not known yet with :meth:`OutputPlan.add_numbered`) and calls
   :meth:`OutputPlan.check` *before any work*: an existing file is refused with one line that lists the
   files (unless ``--overwrite``); a path that is a directory or a symbolic link, a parent that is a file, or
   an output that is one of the command's inputs are refused even with ``--overwrite``;
2. **render** — after the work, :meth:`OutputPlan.write` attaches a writer to each planned path;
3. **commit** — :meth:`OutputPlan.commit` writes every file into a temporary directory next to its target,
   flushes it to disk and then moves them into place with ``os.replace``. If anything fails, nothing is
   left behind (not even a directory) and files already moved are put back. ``--overwrite`` replaces only
   the planned files; other files are never touched. A process killed while committing leaves each file
   whole (old or new) and only hidden temporaries (``.regiongan-out.*``), which never block a rerun.

A folder artefact (a model directory for ``convert``, a dataset for ``data export``) is planned with
:meth:`OutputPlan.add_folder` and committed as one unit by its own saver (:meth:`OutputPlan.write_folder`;
e.g. ``save_pretrained``, which swaps in a new folder by one rename): with ``--overwrite`` it replaces only
an earlier artefact of its kind or an empty folder, and never a folder that is, holds or lies inside an input.

:class:`ImageOutputs` is the layout of every image-producing command (and of ``regiongan replay``)::

    OUT.png              the grid: the "before" images (original, or target and reference), then the results
    OUT_00.png …         one image per result (generate: OUT_seed0007.png …)
    OUT_region.png       the region mask, where there is one
    OUT.json (+ OUT.safetensors)   result.recipe, with ``outputs`` set: `regiongan replay OUT.json` reproduces it
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..checkpoints.files import check_folder, fsync_path
from ..images import make_grid, to_pil
from ..recipes import recipe_files

__all__ = [
    "IMAGE_SUFFIXES",
    "OutputError",
    "OutputPlan",
    "ImageOutputs",
    "image_path",
    "region_mask",
    "describe",
]

#: Extensions an image ``--out`` may have (PIL writes each by its extension).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

#: Writes one file at the path it is given (a path inside a temporary directory, with the final name).
Writer = Callable[[Path], None]
#: Writes several files into the directory it is given (with their final names).
GroupWriter = Callable[[Path], None]

_MAX_LISTED = 6


class OutputError(ValueError):
    """An output path that can never be written: a directory, a symbolic link, an input, a bad extension."""


def image_path(out: str | os.PathLike, option: str = "--out") -> Path:
    """``out`` as a Path, or an :class:`OutputError` unless it ends in an image extension."""
    path = Path(out)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        example = path / "grid.png" if path.is_dir() or not path.name else path.with_suffix(".png")
        raise OutputError(
            f"{option} {out}: an image file name is needed, ending in {', '.join(IMAGE_SUFFIXES)}; e.g. {option} {example}"
        )
    return path


def _listing(paths: Sequence[Path]) -> str:
    shown = ", ".join(str(p) for p in paths[:_MAX_LISTED])
    return shown + (f" and {len(paths) - _MAX_LISTED} more" if len(paths) > _MAX_LISTED else "")


@dataclass(frozen=True)
class _Numbered:
    """Files ``directory/<prefix><digits><suffix>`` whose count is known only after the work."""

    directory: Path
    prefix: str
    suffix: str

    def matches(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        pattern = re.compile(re.escape(self.prefix) + r"\d+" + re.escape(self.suffix) + r"\Z")
        return sorted(p for p in self.directory.iterdir() if pattern.match(p.name))

    def covers(self, path: Path) -> bool:
        name = path.name
        return (
            path.parent == self.directory and name.startswith(self.prefix) and name.endswith(self.suffix)
            and name[len(self.prefix) : len(name) - len(self.suffix)].isdigit()
        )  # fmt: skip


@dataclass(frozen=True)
class _Folder:
    """A folder written as one unit by its own saver; ``replaceable`` tells an earlier one of its kind."""

    path: Path
    what: str
    replaceable: Callable[[Path], bool]


class OutputPlan:
    """The files one command writes: planned and checked before any work, written together at the end.

    overwrite: replace planned files that exist (never anything else); inputs: files the command reads,
    which no output may replace.
    """

    def __init__(self, overwrite: bool = False, inputs: Iterable[str | os.PathLike | None] = ()) -> None:
        self.overwrite = bool(overwrite)
        self.inputs = [Path(p) for p in inputs if p is not None]
        self._planned: list[Path] = []
        self._numbered: list[_Numbered] = []
        self._writers: dict[Path, Writer] = {}
        self._groups: list[tuple[list[Path], GroupWriter]] = []
        self._folders: list[_Folder] = []
        self._savers: dict[Path, Callable[[], Any]] = {}

    # ------------------------------------------------------------------------------------------ plan
    def add(self, *paths: str | os.PathLike) -> list[Path]:
        """Plan ``paths`` (files this command may write); returns them as Paths."""
        out = [Path(p) for p in paths]
        self._planned.extend(p for p in out if p not in self._planned)
        return out

    def add_numbered(self, directory: Path, prefix: str, suffix: str) -> None:
        """Plan ``directory/<prefix>NN<suffix>`` for any number NN (for outputs counted only after the work)."""
        self._numbered.append(_Numbered(Path(directory), prefix, suffix))

    def add_folder(self, path: str | os.PathLike, what: str, replaceable: Callable[[Path], bool]) -> Path:
        """Plan the folder artefact ``path`` (``what``: e.g. "regiongan model directory"), committed as one
        unit by the saver given to :meth:`write_folder`. A non-empty folder needs ``--overwrite`` and must be
        an earlier artefact of its kind (``replaceable(path)``)."""
        folder = _Folder(Path(path), what, replaceable)
        self._folders.append(folder)
        return folder.path

    @property
    def planned(self) -> list[Path]:
        return list(self._planned)

    def _is_planned(self, path: Path) -> bool:
        return path in self._planned or any(n.covers(path) for n in self._numbered)

    def _refusals(self) -> list[str]:
        """Problems that ``--overwrite`` does not lift."""
        problems: list[str] = []
        inputs = {_resolved(p) for p in self.inputs}
        for path in self._planned:
            if path.is_symlink():
                problems.append(f"{path} is a symbolic link; regiongan does not write through links: remove it or choose another name")
            elif path.is_dir():
                problems.append(f"{path} is a directory; give a file name (e.g. {path / 'out.png'}) or choose another name")
            elif _resolved(path) in inputs:
                problems.append(f"{path} is also an input of this command; choose another output name")
            else:
                blocker = _file_in_parents(path)
                if blocker is not None:
                    problems.append(f"cannot create {path}: {blocker} is a file, not a directory")
        for folder in self._folders:
            path = folder.path
            overlap = next((p for p in self.inputs if _overlaps(path, p)), None)
            if path.is_symlink():
                problems.append(
                    f"{path} is a symbolic link; regiongan never writes through links or replaces them: remove it or "
                    "choose another folder"
                )
            elif path.exists() and not path.is_dir():
                problems.append(f"{path} is a file, not a folder; choose another name for the {folder.what}")
            elif overlap is not None:
                out, given = _resolved(path), _resolved(overlap)
                relation = "is" if out == given else "holds" if out in given.parents else "lies inside"
                problems.append(f"{path} {relation} the input {overlap}; choose an output folder apart from the input")
            else:
                blocker = _file_in_parents(path)
                if blocker is not None:
                    problems.append(f"cannot create {path}: {blocker} is a file, not a directory")
        return problems

    def existing(self) -> list[Path]:
        """Planned files that exist already (numbered families included)."""
        found = [p for p in self._planned if p.exists() or p.is_symlink()]
        for numbered in self._numbered:
            found.extend(p for p in numbered.matches() if p not in found)
        return found

    def check(self) -> "OutputPlan":
        """Refuse, before any work, what cannot or may not be written (one-line errors); returns self."""
        problems = self._refusals()
        if problems:
            raise OutputError(problems[0] + (f" (and {len(problems) - 1} more such path(s))" if len(problems) > 1 else ""))
        if not self.overwrite:
            existing = self.existing()
            if existing:
                raise FileExistsError(
                    f"{_listing(existing)} {'exists' if len(existing) == 1 else 'exist'}; pass --overwrite to replace "
                    "(only the files this command writes), or choose another --out"
                )
        for folder in self._folders:
            check_folder(folder.path, self.overwrite, folder.what, folder.replaceable)
        return self

    # ----------------------------------------------------------------------------------------- render
    def write(self, path: str | os.PathLike, writer: Writer) -> None:
        """Attach ``writer`` to the planned file ``path`` (it is called at :meth:`commit`)."""
        path = Path(path)
        if not self._is_planned(path):
            raise RuntimeError(f"output {path} was not planned before the work (a regiongan bug)")
        self._writers[path] = writer

    def write_group(self, paths: Sequence[str | os.PathLike], writer: GroupWriter) -> None:
        """Attach one ``writer(directory)`` that writes the planned files ``paths`` (one directory) at once."""
        group = [Path(p) for p in paths]
        if len({p.parent for p in group}) != 1:
            raise RuntimeError("a group of outputs must share one directory (a regiongan bug)")
        for p in group:
            if not self._is_planned(p):
                raise RuntimeError(f"output {p} was not planned before the work (a regiongan bug)")
        self._groups.append((group, writer))

    def write_folder(self, path: str | os.PathLike, save: Callable[[], Any]) -> None:
        """Attach the saver of the planned folder ``path``: ``save()`` writes the whole folder as one unit
        (e.g. ``save_pretrained(G, path, overwrite=...)``) and is called at :meth:`commit`."""
        path = Path(path)
        if path not in [f.path for f in self._folders]:
            raise RuntimeError(f"output folder {path} was not planned before the work (a regiongan bug)")
        self._savers[path] = save

    # ----------------------------------------------------------------------------------------- commit
    def commit(self) -> list[Path]:
        """Write every attached file into a temporary directory next to it, then move all into place;
        then let each planned folder's saver write its folder.

        Re-checks the plan first (a file may have appeared while the command worked). On any error the
        temporaries and the directories this call created are removed, files already moved are put back,
        and nothing else is replaced.
        """
        self.check()
        files = self._commit_files()
        for path, save in self._savers.items():
            save()
            files.append(path)
        return files

    def _commit_files(self) -> list[Path]:
        targets = list(self._writers) + [p for group, _ in self._groups for p in group]
        created: list[Path] = []
        staging: dict[Path, Path] = {}
        moves: list[tuple[Path, Path]] = []
        done: list[tuple[Path, Path | None]] = []  # (moved in, its earlier version kept in staging)
        try:
            for parent in dict.fromkeys(p.parent for p in targets):
                created.extend(_make_dirs(parent))
                staging[parent] = Path(tempfile.mkdtemp(prefix=".regiongan-out.", dir=parent))
            for path, writer in self._writers.items():
                tmp = staging[path.parent] / path.name
                writer(tmp)
                moves.append((tmp, path))
            for i, (group, writer) in enumerate(self._groups):
                folder = staging[group[0].parent] / f".group{i}"
                folder.mkdir()
                writer(folder)
                for p in group:
                    if not (folder / p.name).is_file():
                        raise RuntimeError(f"output {p.name} was not produced by its writer (a regiongan bug)")
                    moves.append((folder / p.name, p))
            for tmp, _ in moves:
                os.chmod(tmp, 0o644)  # like any file we write (safetensors and mkdtemp use private modes)
                fsync_path(tmp)
            for i, (tmp, path) in enumerate(moves):
                earlier = None
                if path.exists():
                    earlier = staging[path.parent] / f".earlier{i}"
                    _link_or_copy(path, earlier)
                os.replace(tmp, path)
                done.append((path, earlier))
            for parent in staging:
                fsync_path(parent)
        except BaseException:
            for path, earlier in reversed(done):  # put back what this commit replaced
                try:
                    if earlier is None:
                        path.unlink()
                    else:
                        os.replace(earlier, path)
                except OSError:
                    pass
            for folder in staging.values():
                shutil.rmtree(folder, ignore_errors=True)
            for folder in reversed(created):
                _remove_if_empty(folder)
            raise
        for folder in staging.values():
            shutil.rmtree(folder, ignore_errors=True)
        return [path for _, path in moves]


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()


def _overlaps(output: Path, given: Path) -> bool:
    """``output`` is ``given``, holds it, or lies inside it (after resolving links)."""
    a, b = _resolved(output), _resolved(given)
    return a == b or a in b.parents or b in a.parents


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _file_in_parents(path: Path) -> Path | None:
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def _make_dirs(directory: Path) -> list[Path]:
    """``mkdir -p directory``; returns the directories it created, outermost first."""
    missing = []
    for d in [directory, *directory.parents]:
        if d.exists():
            break
        missing.append(d)
    directory.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass


# --------------------------------------------------------------------------------------------------
# Image outputs


def region_mask(result: Any):
    """The region of a result as one mask ``[H, W]`` in [0, 1], or None: ``extras["masks"]`` (a partition
    ``[N, K, H, W]``, region = 1 − background; ITAN) or ``extras["part_mask"]`` (Editing in Style),
    ``extras["region"]`` / ``extras["mask"]`` (a Region or ``[N, 1, H, W]``)."""
    extras = getattr(result, "extras", {}) or {}
    masks = extras.get("masks")
    if isinstance(masks, torch.Tensor) and masks.ndim == 4 and masks.shape[1] > 1:
        return (1 - masks[0, 0]).clamp(0, 1)
    for key in ("part_mask", "region", "mask"):
        value = extras.get(key)
        value = getattr(value, "mask", value)  # a Region
        if isinstance(value, torch.Tensor) and value.ndim >= 2:
            return value.reshape(-1, *value.shape[-2:])[0].clamp(0, 1)
    return None


def _mask_writer(mask) -> Writer:
    """A soft mask ``[H, W]`` in [0, 1] as an 8-bit grayscale PNG (readable with ``mask:PATH``)."""
    arr = (mask.detach().float().cpu() * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    return lambda path: Image.fromarray(arr).save(path, format="PNG")


def _image_writer(image) -> Writer:
    return lambda path: image.save(path)


class ImageOutputs:
    """The files of an image-producing command (see the module docstring), planned and checked at once.

    out: the grid path (an image extension); count: the number of result images, or None when it is only
    known after the work (replay: then any ``OUT_<digits>`` file counts as an output); names: the per-image
    file names instead of ``OUT_00…`` (generate: ``OUT_seed0007.png``); region: write ``OUT_region.png``
    (when the result has a region); recipe: write ``OUT.json`` (+ its sidecar); extra: more planned files
    (e.g. generate's latents); inputs: files the command reads, which no output may replace.
    """

    def __init__(
        self,
        out: str | os.PathLike,
        count: int | None,
        overwrite: bool = False,
        names: Sequence[str] | None = None,
        region: bool = False,
        recipe: bool = True,
        extra: Sequence[str | os.PathLike] = (),
        inputs: Iterable[str | os.PathLike | None] = (),
    ) -> None:
        self.grid = image_path(out)
        self.count = count
        self.plan = OutputPlan(overwrite, inputs)
        stem, suffix, folder = self.grid.stem, self.grid.suffix, self.grid.parent
        self.images: list[Path] | None = None
        if names is not None:
            self.images = [folder / n for n in names]
        elif count is not None:
            self.images = [folder / n for n in self.numbered_names(count)]
        self.region = folder / f"{stem}_region.png" if region else None
        self.recipe = folder / f"{stem}.json" if recipe else None
        self.sidecar = folder / f"{stem}.safetensors" if recipe else None
        self.plan.add(self.grid, *(self.images or []))
        if self.images is None:
            self.plan.add_numbered(folder, f"{stem}_", suffix)
        self.plan.add(*[p for p in (self.region, self.recipe, self.sidecar) if p is not None], *extra)
        self.plan.check()

    def numbered_names(self, count: int) -> list[str]:
        width = max(2, len(str(count - 1)))
        return [f"{self.grid.stem}_{i:0{width}d}{self.grid.suffix}" for i in range(count)]

    def save(
        self,
        result: Any,
        scale: int = 1,
        ncols: int | None = None,
        before: torch.Tensor | None = None,
        region: Any = "auto",
        extra: dict[str | os.PathLike, Writer] | None = None,
    ) -> list[Path]:
        """Write the grid, one image per result, the region mask and ``result.recipe``; returns the paths.

        before: images put first in the grid ``[B, 3, H, W]`` (the unedited images), or None; region: a
        mask ``[H, W]`` ("auto": :func:`region_mask`); ncols: grid columns (default: ``extras["grid_shape"]``,
        one row for a single result after its before images, else a square).
        """
        images = result.images
        n = images.shape[0]
        paths = self.images if self.images is not None else [self.grid.parent / name for name in self.numbered_names(n)]
        if len(paths) != n:
            raise RuntimeError(f"{n} result images for {len(paths)} planned files (a regiongan bug)")
        if ncols is None:
            shape = (getattr(result, "extras", {}) or {}).get("grid_shape")
            if shape is not None and before is None:
                ncols = int(shape[1])
            elif before is not None and n == 1:
                ncols = before.shape[0] + 1
        grid = images if before is None else torch.cat([before.to(images), images])
        self.plan.write(self.grid, _image_writer(make_grid(grid, ncols=ncols, scale=scale)))
        for image, path in zip(images, paths):
            self.plan.write(path, _image_writer(to_pil(image)))
        mask = region_mask(result) if isinstance(region, str) else region
        if self.region is not None and mask is not None:
            self.plan.write(self.region, _mask_writer(mask))
        if self.recipe is not None:
            recipe = result.recipe
            recipe.outputs = [p.name for p in paths]
            for name, writer in recipe_files(recipe, self.recipe).items():
                self.plan.write(self.recipe.parent / name, writer)
        for path, writer in (extra or {}).items():
            self.plan.write(path, writer)
        return self.plan.commit()


def describe(paths: Sequence[Path]) -> str:
    """``"out/g.png and 5 files next to it: g_00.png … g_03.png, g.json"`` for a message."""
    if not paths:
        return "nothing"
    first, rest = paths[0], list(paths[1:])
    if not rest:
        return str(first)
    names = [p.name if p.parent == first.parent else str(p) for p in rest]
    numbered = [n for n in names if re.fullmatch(re.escape(first.stem) + r"_(\d+|seed\d+)" + re.escape(first.suffix), n)]
    others = [n for n in names if n not in numbered]
    parts = ([numbered[0]] if len(numbered) == 1 else [f"{numbered[0]} … {numbered[-1]}"] if numbered else []) + others
    return f"{first} and {len(rest)} file{'s' if len(rest) != 1 else ''} next to it: {', '.join(parts)}"
