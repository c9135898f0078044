"""The engine's error vocabulary: every failure a user can fix is a ``UgsError`` whose
message says what is wrong and how to fix it; a run stopped on request raises
``Cancelled``. The fronts (Processing, CLI) each turn these into their own form in one
place."""
from __future__ import annotations

import contextlib
import os


class UgsError(ValueError):
    """Bad input, bad output or a failed read/write; the message says how to fix it."""


class Cancelled(Exception):
    """The caller asked to stop; no output was written (or finished parts were kept,
    when the message says so)."""


def _describe(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    filename = getattr(err, "filename", None)
    if filename and str(filename) not in text:
        text = f"{filename}: {text}"
    return text


@contextlib.contextmanager
def file_errors(what: str = "a file"):
    """Turn low-level read/write failures (GDAL through rasterio, OS errors) into a
    ``UgsError`` that names the file; ``UgsError`` and ``Cancelled`` pass through."""
    try:
        yield
    except (UgsError, Cancelled):
        raise
    except Exception as err:  # rasterio / GDAL errors have no common public base
        if _is_gdal_error(err):
            raise UgsError(f"could not read {what}: {_describe(err)}; the file may be "
                           "truncated or damaged: check it opens in QGIS, or write it "
                           "again") from err
        if isinstance(err, OSError):
            raise UgsError(f"could not read or write {what}: {_describe(err)}; check "
                           "that the path exists and is writable") from err
        raise


def _is_gdal_error(err: BaseException) -> bool:
    module = type(err).__module__ or ""
    return module.startswith(("rasterio", "osgeo", "fiona"))


def check_output_path(output, inputs=(), suffixes=(".tif", ".tiff")):
    """An output path a run may write: the right extension, a writable folder, not one
    of its inputs."""
    path = os.path.abspath(os.fspath(output))
    if suffixes and not path.lower().endswith(tuple(suffixes)):
        raise UgsError(f"output {output} must end in {' or '.join(suffixes)}")
    for item in inputs:
        if item and os.path.abspath(os.fspath(item)) == path:
            raise UgsError(f"output {output} is also an input; choose another file name")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise UgsError(f"cannot write the output {output}: its folder {folder} does not "
                       "exist (or is a file); create it first")
    if not os.access(folder, os.W_OK):
        raise UgsError(f"cannot write the output {output}: no permission in {folder}; "
                       "choose another folder")
