"""Reading text safely, and atomic file output.

Every text or JSON input goes through :func:`read_text` / :func:`read_json`: UTF-8 with or without a
byte-order mark (a BOM must not become part of the first video id), and one-line errors naming the file
for undecodable bytes, invalid JSON, a key given twice in one object (which one wins differs between
parsers, so neither does) and NaN/Infinity (not JSON; Python writes them, other tools reject them).

Every stage writes its outputs through these helpers so that a stage killed
half-way never leaves a truncated file behind: data goes to a temporary file
in the destination folder and is renamed over the final name only when
complete (``os.replace`` is atomic on POSIX within one file system).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from ops.errors import InputError


def read_text(path: str | os.PathLike, error: type[InputError] = InputError) -> str:
    """The text of ``path`` as UTF-8, a leading byte-order mark dropped.

    Raises ``error`` (an :class:`InputError`) naming the file for bytes that are not UTF-8 (with their
    offset: a Latin-1 export, or a binary file given by mistake) and for a folder; ``FileNotFoundError``
    for a missing file (callers that allow one catch it).
    """
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except IsADirectoryError:
        raise error(f"{path}: is a folder, expected a file") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text (byte {e.start}: {e.object[e.start:e.start + 1]!r}); save it as "
                    "UTF-8 (e.g. iconv -f latin1 -t utf-8), or check that this is the right file") from None


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


def parse_number(text: str, integer: bool = False) -> float | int:
    """A finite number written plainly in a text file: ``12``, ``-3.5``, ``1e-3``.

    ``float()`` also takes ``1_0`` (10), ``nan``, ``inf`` and surrounding spaces, which in a data file are
    mistakes; they raise ValueError here, as does a value that overflows to infinity (``1e999``).
    """
    text = str(text)
    if not (_INTEGER if integer else _NUMBER).fullmatch(text):
        raise ValueError(f"not a plain {'integer' if integer else 'number'}: {text!r}")
    value = int(text) if integer else float(text)
    if not integer and not np.isfinite(value):
        raise ValueError(f"number out of range: {text!r}")
    return value


def json_number(value) -> float:
    """A finite JSON number (not ``true``/``false``, which Python counts as 1/0; not a string); ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _key_lines(text: str, key: str) -> str:
    """The lines where ``"key":`` occurs, for naming both places of a duplicate."""
    pattern = re.compile(re.escape(json.dumps(key)) + r"\s*:")
    lines = [str(text.count("\n", 0, m.start()) + 1) for m in pattern.finditer(text)]
    return f" (lines {', '.join(lines)})" if len(lines) > 1 else ""


def read_json(path: str | os.PathLike, error: type[InputError] = InputError):
    """Parse the JSON file ``path`` (through :func:`read_text`).

    Raises ``error`` naming the file and line for invalid JSON, a key repeated within one object (both lines
    named) and ``NaN`` / ``Infinity``.
    """
    text = read_text(path, error)

    def pairs(items):
        out = {}
        for k, v in items:
            if k in out:
                raise error(f"{path}: key {k!r} appears twice in one object{_key_lines(text, k)}; keep one")
            out[k] = v
        return out

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise error(f"{path}:{e.lineno}: invalid JSON ({e.msg}, column {e.colno})") from None
    except ValueError as e:
        if isinstance(e, InputError):
            raise
        raise error(f"{path}: {e}; write a number or null") from None


# File systems limit a file name to 255 bytes; the stages derive names from a video id that add up to 19 bytes
# (".ID.json.XXXXXXXX.tmp" of an atomic write), so ids keep a margin
MAX_ID_BYTES = 255 - 32


def id_too_long(video_id: str) -> str | None:
    """None, or a one-line reason why ``video_id`` cannot name the files derived from it."""
    size = len(video_id.encode("utf-8"))
    if size <= MAX_ID_BYTES:
        return None
    return (f"video id {video_id[:40]}... is {size} bytes long; the files made from it would pass the file "
            f"systems' 255-byte name limit: rename the video to at most {MAX_ID_BYTES} bytes")


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
    """Write ``obj`` as JSON to ``path`` atomically; NaN or infinity anywhere is a ValueError (not JSON:
    :func:`read_json` and most other tools reject it), raised before anything is written."""
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False, allow_nan=False) + "\n")


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
