"""Errors a user can fix, and how the stage scripts report them.

:class:`InputError` marks bad input: a file (annotations, proposal list,
result file, checkpoint, frame folder), a flag, or a dataset preset.  Its
message names the file and line, the video or the flag, and says what to do.
:class:`SetupError` marks a machine that lacks what a setting needs (OpenCV's
contrib modules, a CUDA GPU, network access).  Every stage script runs its
``main`` through :func:`run_main`, which prints these as one line::

    gen_proposal_list.py: error: annotations/MoveDown_test.txt:1: expected '<video> <t_start> <t_end>', ...

and exits with status 2, as argparse does for a bad flag.  Any other exception
is a bug and keeps its traceback.  ``SSN_TRACEBACK=1`` in the environment shows
the traceback of the errors above too.

Both subclass ``ValueError`` (and :class:`SetupError` also ``RuntimeError``),
so code that caught those before still does.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

EXIT_INPUT_ERROR = 2


class InputError(ValueError):
    """Bad input the user can fix; the message names the file, line, video or flag and what to do."""


class SetupError(InputError, RuntimeError):
    """The machine lacks what a requested setting needs; the message says what to install or pass."""


def one_line(error: BaseException) -> str:
    """The message of ``error`` as the user should see it: an error re-raised from a DataLoader worker carries
    the worker's whole traceback in its message, of which only the last line (the original message) is kept;
    other messages are kept as they are."""
    text = str(error)
    if "Original Traceback" in text:
        last = text.strip().splitlines()[-1]
        return last.split(": ", 1)[1] if ": " in last else last
    return text


def run_main(main: Callable[[argparse.Namespace], int | None], parser: argparse.ArgumentParser,
             argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and return ``main(args)``'s exit status (an int; 0 when
    it returns anything else, e.g. the metrics some stages return to their callers).

    :class:`InputError` (and so :class:`SetupError`) and ``FileNotFoundError`` become one line on stderr,
    ``PROG: error: MESSAGE``, and status 2; with ``SSN_TRACEBACK=1`` they propagate instead.
    """
    args = parser.parse_args(argv)
    try:
        status = main(args)
    except (InputError, FileNotFoundError) as e:
        if os.environ.get("SSN_TRACEBACK", "") not in ("", "0"):
            raise
        sys.stderr.write(f"{parser.prog}: error: {one_line(e)}\n")
        return EXIT_INPUT_ERROR
    return status if isinstance(status, int) else 0


def _int_at_least(text: str, low: int, note: str = "") -> int:
    """``int(text)`` if it is >= ``low``; otherwise argparse's one-line usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer >= {low}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{value}: expected an integer >= {low}{note}")
    return value


def positive_int(text: str) -> int:
    """argparse ``type`` for counts and intervals that must be >= 1 (``--frame_interval``, ``--chunk``, ...)."""
    return _int_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    """argparse ``type`` for worker counts where 0 means "in the main process" (``-j`` of the data loaders)."""
    return _int_at_least(text, 0, " (0: no worker processes)")


def positive_float(text: str) -> float:
    """argparse ``type`` for a finite number > 0 (``--time_step``, ...)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number > 0") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{value}: expected a finite number > 0")
    return value
