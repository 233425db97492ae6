"""Atomic file output.

Every stage writes its outputs through these helpers so that a stage killed
half-way never leaves a truncated file behind: data goes to a temporary file
in the destination folder and is renamed over the final name only when
complete (``os.replace`` is atomic on POSIX within one file system).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open ``path`` for writing through a temp file renamed on success.

    On an exception the temp file is removed and ``path`` is left untouched.
    ``mode`` must be a write mode ("w", "wb", "wt").
    """
    if "w" not in mode:
        raise ValueError(f"atomic_open needs a write mode, got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8, newlines untranslated)."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike, obj, indent: int = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def _old_name(path: Path) -> Path:
    """Where a folder being replaced waits, between the two renames of :func:`atomic_dir`, until deleted."""
    return path.with_name(f".{path.name}.old")


def _remove(path: Path) -> None:
    """Delete a folder tree, or a file or link."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, replace: bool = False) -> Iterator[Path]:
    """Build a folder under a temp name and rename it to ``path`` on success.

    Yields the temp folder ``.NAME.partial`` (a sibling of ``path``).  A stale
    temp folder from an earlier killed run is removed first, so an interrupted
    item is redone from scratch.  An existing ``path`` raises FileExistsError,
    unless ``replace``: then it is kept until the new folder is complete,
    renamed to ``.NAME.old``, the new one renamed to ``path`` and the old one
    deleted (a kill between the two renames is settled by
    :func:`settle_replaced_dir`); on an exception it is left as it was.
    """
    path = Path(path)
    exists = path.exists() or path.is_symlink()
    if exists and not replace:
        raise FileExistsError(f"{path} already exists")
    tmp, old = path.with_name(f".{path.name}.partial"), _old_name(path)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if path.exists() or path.is_symlink():
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old.exists() or old.is_symlink():
        _remove(old)


def settle_replaced_dir(path: str | os.PathLike) -> None:
    """Finish a replacement by :func:`atomic_dir` killed between its renames: drop ``.NAME.old`` when the
    new folder made it, else put the old one back."""
    path = Path(path)
    old = _old_name(path)
    if not (old.exists() or old.is_symlink()):
        return
    if path.exists() or path.is_symlink():
        _remove(old)
    else:
        os.replace(old, path)
