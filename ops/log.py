"""Logging set-up shared by all stage scripts."""
from __future__ import annotations

import logging
import os

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: int = 0, log_file: str | os.PathLike | None = None) -> None:
    """Configure the root logger: INFO by default, DEBUG with ``verbose > 0``.

    Under torchrun only rank 0 logs below WARNING (``RANK`` from the
    environment); ``verbose=-1`` asks for WARNING anywhere.  Calling it again
    replaces the handlers it added before and leaves other handlers (e.g.
    pytest's) alone.
    """
    if int(os.environ.get("RANK", "0")) != 0:
        verbose = -1
    level = logging.DEBUG if verbose > 0 else logging.INFO if verbose == 0 else logging.WARNING
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_ops_handler", False)]:
        root.removeHandler(h)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file))
    for h in handlers:
        h._ops_handler = True
        h.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
        root.addHandler(h)
    root.setLevel(level)


class _PlainLines:
    """A file for tqdm that turns its carriage-return redraws into whole lines on stderr."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress(iterable=None, *, desc: str | None = None, unit: str = "it", total: int | None = None,
             disable: bool = False, leave: bool = True, stream=None, plain_interval: float = 30.0):
    """A tqdm progress bar on a terminal; a few plain lines in a log file.

    When ``stream`` (default stderr) is not a terminal, a bar appears only once it has run
    ``plain_interval`` seconds (a short loop prints nothing; its stage logs its own summary), and its
    redraws come at most every ``plain_interval`` seconds, each as one line (``desc: 40%|...| 8/20 [00:31<00:47]``), so
    ``./run_demo.sh > demo.log 2>&1`` reads like the README instead of holding hundreds of kilobytes
    of carriage-return redraws.  Bars belong to the main process: pass ``disable=not is_main``.
    """
    import sys

    from tqdm import tqdm

    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", lambda: False)()
    if isatty:
        return tqdm(iterable, desc=desc, unit=unit, total=total, disable=disable, leave=leave, file=stream,
                    dynamic_ncols=True)
    return tqdm(iterable, desc=desc, unit=unit, total=total, disable=disable, leave=leave,
                file=_PlainLines(stream), delay=plain_interval, mininterval=plain_interval, maxinterval=plain_interval * 4, ncols=80,
                ascii=True)
