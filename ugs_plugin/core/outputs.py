"""Write-then-rename: outputs appear complete or not at all."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import UgsError


class OutputError(UgsError):
    """The output cannot be written where asked; the message says why."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_beside(target, suffix: str) -> str:
    """Create an empty temporary file next to ``target`` (proving the folder is
    writable) with the permissions a plain new file would get."""
    target = Path(target)
    folder = target.parent
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"cannot write the output in {folder}: it is a file, not a "
                          "folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=suffix, dir=folder)
    except OSError as err:
        raise OutputError(f"cannot write the output in folder {folder}: "
                          f"{err.strerror or err}; choose a folder you can write to") \
            from None
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    return tmp


def remove_quietly(*paths):
    for path in paths:
        for p in (path, f"{path}.aux.xml"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)


@contextlib.contextmanager
def atomic_output(target, suffix: str):
    """``with atomic_output(path, ".tif") as tmp:`` write tmp; it replaces ``path``
    only if the block completes."""
    tmp = temp_beside(target, suffix)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        remove_quietly(tmp)
