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
