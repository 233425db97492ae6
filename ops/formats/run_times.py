"""Wall times of pipeline steps, as the numbered scripts record them.

Grammar (UTF-8 text, one step per line; ``#`` starts a comment line)::

    KEY <TAB> SECONDS

``KEY`` names a step without whitespace (e.g. ``ssn_train_RGB``, ``bmn_test``); ``SECONDS`` is a
non-negative decimal.  A key may appear several times (a re-run appends): the last line wins.
The writer is ``timed`` in ``scripts/common.sh`` (a shell function appending one line per step);
:func:`append_run_time` writes the same line from Python.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from ops.errors import InputError


def read_run_times(path: str | os.PathLike) -> dict[str, float]:
    """``{key: seconds}`` of the file, the last line of a key winning; bad lines refused with file:line."""
    out: dict[str, float] = {}
    text = Path(path).read_text(encoding="utf-8-sig")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t")
        try:
            if len(parts) != 2 or not parts[0] or any(c.isspace() for c in parts[0]):
                raise ValueError
            seconds = float(parts[1])
            if not (math.isfinite(seconds) and seconds >= 0):
                raise ValueError
        except ValueError:
            raise InputError(f"{path}:{n}: expected 'KEY<TAB>SECONDS' (seconds >= 0), got {line!r}") from None
        out[parts[0]] = seconds
    return out


def append_run_time(path: str | os.PathLike, key: str, seconds: float) -> None:
    """Append one ``KEY<TAB>SECONDS`` line (a single small write: a killed step leaves no partial line)."""
    if not key or any(c.isspace() for c in key) or not (math.isfinite(seconds) and seconds >= 0):
        raise InputError(f"run time needs a key without whitespace and seconds >= 0, got {key!r}, {seconds!r}")
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{key}\t{seconds:.1f}\n")
