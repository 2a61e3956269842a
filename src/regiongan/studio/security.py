"""What the studio lets a browser reach: where it listens, which files it reads, which models it loads.

* It binds to ``127.0.0.1`` unless told otherwise, and :func:`bind_warning` says what binding elsewhere
  exposes (anyone who can reach the port can run models on this machine and read the studio's folders).
* The browser reaches two folders only (:class:`StudioFolders`): the uploads folder (Gradio's upload cache
  is pointed there) and the output folder (exports). Every path a request names is resolved — links
  followed — and refused unless it lies inside one of them (:meth:`StudioFolders.confine`).
* Region specs typed in the browser may not name files (``mask:`` / ``label:``): masks come in as uploads.
* User checkpoints are loaded only through ``rg.load_model`` (the safe loaders: no code from a checkpoint
  ever runs), only from the uploads folder, and only up to ``limit("checkpoint_bytes")``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from ..limits import check_count, limit

__all__ = ["LOOPBACK", "bind_warning", "StudioFolders", "check_typed_region", "FILE_FORMS"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: region forms that name a file; not accepted from the browser as text
FILE_FORMS = ("mask:", "label:")
_TERM = re.compile(r"(?:^|[+\-])\s*(mask|label):", re.IGNORECASE)


def bind_warning(host: str) -> str | None:
    """None for a loopback address, else the warning to print before serving on ``host``."""
    try:
        loopback = host in LOOPBACK or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return (
        f"warning: regiongan studio is listening on {host}, not 127.0.0.1: anyone who can reach this port can "
        "run models on this machine, upload checkpoints and masks, and read the studio's uploads and output "
        "folders. There is no login. Bind to 127.0.0.1 (the default) unless this network is trusted."
    )


def check_typed_region(spec: str) -> str:
    """A region spec typed in the browser, refused when it names a file (``mask:`` / ``label:``)."""
    if _TERM.search(spec.strip()):
        raise ValueError("a typed region may not name a file (mask: / label:); upload the mask with 'Upload a mask' instead")
    return spec.strip()


@dataclass(frozen=True)
class StudioFolders:
    """The two folders the browser may reach: ``uploads`` (what it sends) and ``output`` (exports)."""

    uploads: Path
    output: Path

    @classmethod
    def create(cls, uploads: str | Path, output: str | Path) -> "StudioFolders":
        """Make both folders (if missing) and return them resolved."""
        u, o = Path(uploads), Path(output)
        for p in (u, o):
            p.mkdir(parents=True, exist_ok=True)
        return cls(u.resolve(), o.resolve())

    @property
    def roots(self) -> tuple[Path, Path]:
        return (self.uploads, self.output)

    def confine(self, path: str | Path, what: str = "file", roots: tuple[Path, ...] | None = None) -> Path:
        """``path`` resolved (links followed), if it lies inside one of ``roots`` (default: both folders);
        else a ValueError naming the folders."""
        roots = roots or self.roots
        try:
            resolved = Path(path).resolve(strict=True)
        except (FileNotFoundError, RuntimeError, OSError):
            raise ValueError(f"{what} not found: {Path(path).name!r}; upload it again") from None
        if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
            raise ValueError(f"{what} {Path(path).name!r} is outside the studio's folders ({', '.join(map(str, roots))}); upload it instead")
        return resolved

    def checkpoint(self, path: str | Path) -> Path:
        """An uploaded checkpoint file: inside the uploads folder, a regular file, within the size cap."""
        p = self.confine(path, "checkpoint", (self.uploads,))
        if not p.is_file():
            raise ValueError(f"checkpoint {p.name!r} is not a file; upload one .pkl / .pt checkpoint")
        check_count(p.stat().st_size, "checkpoint_bytes", f"the size of checkpoint {p.name!r} in bytes", minimum=0)
        return p


def max_upload_bytes() -> int:
    """The largest upload the server accepts: the checkpoint size cap."""
    return limit("checkpoint_bytes")
