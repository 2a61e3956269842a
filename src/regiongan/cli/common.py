"""What every command shares: the one-line error report and exit codes, model loading, shared options.

Errors: every command runs inside :class:`CommandGroup`, which turns any exception into ONE line
``error: <message>`` on stderr (the library's messages name the problem and the fix) and an exit status:

* **2, usage error**: the command line must change — a bad option value, an unknown model name, a malformed
  region, an output file that exists (``--overwrite``), a missing input file. Click's own usage errors and
  the library's ``ValueError`` family (RegionError, RecipeError, CheckpointError, ModelMismatchError,
  CatalogError, …) are usage errors;
* **1, run-time error**: the command line is fine but running it failed — a corrupt checkpoint, an I/O or
  permission error, an error inside torch, a bug (reported as an internal error).

``regiongan --debug CMD …`` prints the traceback above the line.
"""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

import regiongan as rg

from .. import validate
from ..checkpoints.errors import CorruptCheckpointError
from ..latents import check_truncation_psi
from ..layer_selection import parse_layers
from ..limits import check_count

__all__ = [
    "CLASS",
    "USAGE_ERROR",
    "RUNTIME_ERROR",
    "CommandError",
    "CommandGroup",
    "exit_status",
    "one_line",
    "load_generator",
    "check_scale",
    "options",
    "model_option",
    "out_option",
    "image_out_option",
    "overwrite_option",
    "scale_option",
    "truncation_option",
    "layers_option",
    "region_option",
    "parser_option",
    "seed_option",
    "feather_option",
    "Checked",
    "count_type",
    "psi_type",
    "SEEDS",
    "LAYERS",
    "SEED",
    "SCALE",
    "FEATHER",
    "CUTOFF",
]

F = TypeVar("F", bound=Callable[..., Any])

USAGE_ERROR = 2
RUNTIME_ERROR = 1

#: Errors about the arguments even though they are OSErrors: a missing input, an existing output.
_ARGUMENT_OS_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError)


def one_line(message: str) -> str:
    """A (possibly multi-line) library message as one line: ``"a:\\n  b\\n  c"`` -> ``"a: b; c"``."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if not lines:
        return "(no message)"
    text = lines[0]
    for line in lines[1:]:
        text += (" " if text.endswith(":") else "; ") + line
    return text


def exit_status(error: BaseException) -> int:
    """2 when the command line must change (see the module docstring), 1 when running it failed."""
    if isinstance(error, click.ClickException):
        return error.exit_code  # 2 for usage errors
    if isinstance(error, CorruptCheckpointError):
        return RUNTIME_ERROR  # the file is damaged: not something an option can fix
    if isinstance(error, (ValueError, *_ARGUMENT_OS_ERRORS)):
        return USAGE_ERROR
    return RUNTIME_ERROR


def _message(error: BaseException) -> str:
    if isinstance(error, click.ClickException):
        ctx = getattr(error, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if isinstance(error, click.UsageError) and ctx is not None else ""
        return one_line(error.format_message()) + hint
    if isinstance(error, (ValueError, OSError)):
        if isinstance(error, OSError) and error.filename is not None and error.strerror:
            return f"{error.filename}: {error.strerror}"
        return one_line(str(error))
    # Anything else is a bug in regiongan, not a problem with the command line.
    return (
        f"internal error {type(error).__name__}: {one_line(str(error))} "
        "(rerun as 'regiongan --debug …' for the traceback, and please report it)"
    )


class CommandError(click.ClickException):
    """One line ``error: <message>`` and an exit status (2 usage, 1 run-time)."""

    def __init__(self, message: str, exit_code: int = USAGE_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    @classmethod
    def from_exception(cls, error: BaseException) -> "CommandError":
        return cls(_message(error), exit_status(error))

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    click.echo(f"warning: {one_line(str(message))}", err=True)


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Warnings (e.g. a replay on changed weights) as one ``warning: …`` line each, while a command runs."""
    with warnings.catch_warnings():
        # Shown whatever filters a library (or an earlier command in this process) installed, and every time.
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = _show_warning
        yield


class CommandGroup(click.Group):
    """The ``regiongan`` group: the ONE place where errors become one line and an exit status.

    Library errors raised by a command, and click's usage errors of any subcommand or nested group, are
    reported by :class:`CommandError`; with the group flag ``--debug`` the traceback is printed first.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as e:
            raise CommandError.from_exception(e) from e

    def invoke(self, ctx: click.Context) -> Any:
        if ctx.parent is not None:  # a nested group: the top-level group reports
            return super().invoke(ctx)
        debug = bool(ctx.params.get("debug"))
        try:
            with _warnings_as_lines():
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.exceptions.NoArgsIsHelpError):
            raise
        except CommandError as e:
            if debug and e.__cause__ is not None:
                click.echo("".join(traceback.format_exception(e.__cause__)).rstrip(), err=True)
            raise
        except Exception as e:  # noqa: BLE001  (every error ends as one line; --debug shows where)
            if debug:
                click.echo(traceback.format_exc().rstrip(), err=True)
            raise CommandError.from_exception(e) from e


# --------------------------------------------------------------------------------------------------
# Models


def check_scale(scale: int, G) -> int:
    """``--scale`` against the model's image side, before any work: one upscaled image must stay within the
    preview_size limit (:func:`regiongan.validate.scale`)."""
    return validate.scale(scale, G.img_resolution, "--scale")


def load_generator(model: str, operation: str | None = None):
    """``rg.load_model(model)``. ``operation``: the public operation the command calls without a class
    label (its command has no ``--class``); a class-conditional model is then refused with a message that
    names the Python route, ``regiongan.<operation>(G, …, c=…)``."""
    G = rg.load_model(model)
    if operation and getattr(G, "c_dim", 0) > 0:
        raise click.UsageError(
            f"this command passes no class label, and {model!r} is class-conditional ({G.c_dim} classes); "
            f"call regiongan.{operation}(G, …, c=…) from Python"
        )
    return G


# --------------------------------------------------------------------------------------------------
# Option types and shared options


class _Seeds(click.ParamType):
    """``"0-3,10"`` -> ``[0, 1, 2, 3, 10]`` (``rg.parse_seeds``)."""

    name = "SEEDS"

    def convert(self, value: Any, param: Any, ctx: Any) -> list[int]:
        if isinstance(value, list):
            return value
        try:
            return rg.parse_seeds(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


class _Layers(click.ParamType):
    """all | coarse | middle | fine | LO-HI | R | control point names -> a LayerSpec."""

    name = "LAYERS"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse_layers(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


class Checked(click.ParamType):
    """A number read with ``parse`` (``int`` or ``float``) and checked by the API's own validator ``check``,
    so a bad flag is a usage error (exit 2) with the API's message, before any work; the API checks it
    again with the same rule (one rule per kind of value: :mod:`regiongan.validate`)."""

    def __init__(self, name: str, parse: Callable[[str], Any], check: Callable[[Any], Any]) -> None:
        self.name = name
        self.parse = parse
        self.check = check

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str):
            try:
                value = self.parse(value.strip())
            except ValueError:
                self.fail(f"{value!r} is not {'an int' if self.parse is int else 'a number'}", param, ctx)
        try:
            return self.check(value)
        except ValueError as e:  # LimitError included
            self.fail(one_line(str(e)), param, ctx)


def count_type(limit_name: str, what: str) -> Checked:
    """A count under the resource cap ``limit_name`` (:func:`regiongan.limits.check_count`)."""
    return Checked("INT", int, lambda v: check_count(v, limit_name, what))


def psi_type(what: str) -> Checked:
    """A truncation ψ (:func:`regiongan.latents.check_truncation_psi`), named ``what`` in messages."""
    return Checked("PSI", float, lambda v: check_truncation_psi(v, what))


SEEDS = _Seeds()


class _Class(click.ParamType):
    """A class as typed: an index (digits) or a name the model resolves (``meadow``)."""

    name = "CLASS"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if not text:
            self.fail("give a class index or name, e.g. 0 or meadow", param, ctx)
        return int(text) if text.isdigit() else text


#: A class index or name (conditional models; names come from the model's training data).
CLASS = _Class()
LAYERS = _Layers()
SEED = Checked("SEED", int, validate.seed)
SCALE = Checked("INT", int, validate.scale)
#: --feather: finite and >= 0 here; the API also bounds it by the image size (validate.feather_sigma).
FEATHER = Checked("PIXELS", float, validate.feather_sigma)
#: --truncation-cutoff: an int >= 0 here; the API also bounds it by the model's num_ws.
CUTOFF = Checked("INT", int, lambda v: validate.integer(v, "truncation_cutoff (the number of ws truncated)", 0))


def options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Several click options as one decorator (applied in the order listed)."""

    def apply(fn: F) -> F:
        for deco in reversed(decorators):
            fn = deco(fn)
        return fn

    return apply


def model_option(default: str | None = "faces-64", help: str = "Shipped model name or checkpoint path.") -> Callable[[F], F]:
    return click.option("--model", "-m", default=default, show_default=default is not None, help=help)


def _required_or_default(default: str | None) -> dict[str, Any]:
    # click >= 8.2 treats an explicit default=None as a default, which disables required=True
    return {"required": True} if default is None else {"default": default, "show_default": True}


def image_out_option(default: str | None = None) -> Callable[[F], F]:
    return click.option(
        "--out", "-o", **_required_or_default(default),
        help="Grid image (.png/.jpg/.webp); the other files go next to it, named after it.",
    )  # fmt: skip


def out_option(help: str, default: str | None = None) -> Callable[[F], F]:
    return click.option("--out", "-o", **_required_or_default(default), help=help)


overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace existing output files (only those this command writes)."
)
scale_option = click.option(
    "--scale", default=1, show_default=True, type=SCALE,
    help="Nearest-neighbour upscale of the grid (the result stays within the preview_size limit).",
)  # fmt: skip
feather_option = click.option(
    "--feather", default=0.0, show_default=True, type=FEATHER,
    help="Gaussian edge softening (pixels; at most 4x the image side).",
)  # fmt: skip
region_option = click.option(
    "--region", "-r", required=True, help="Region, e.g. box:16,16,48,40 or part:mouth (syntax: `regiongan regions`)."
)
parser_option = click.option(
    "--parser", "parser", default=None, help="Part parser for part: regions [default: the model's companion parser]."
)


def truncation_option(default: float | None = 1.0, help: str = "Truncation ψ of every code (0 < ψ <= 100).") -> Callable[[F], F]:
    return click.option(
        "--truncation", "-t", "truncation_psi", default=default, show_default=default is not None,
        type=psi_type("truncation_psi"), help=help,
    )  # fmt: skip


def layers_option(default: str | None = "all", help: str = "Layers: all|coarse|middle|fine|LO-HI (resolutions)|names.") -> Callable[[F], F]:
    return click.option("--layers", "-l", default=default, show_default=default is not None, type=LAYERS, help=help)


def seed_option(help: str = "Seed of the image.", name: str = "--seed") -> Callable[[F], F]:
    return click.option(name, "-s", default=0, show_default=True, type=SEED, help=help)
