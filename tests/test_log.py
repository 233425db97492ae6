"""ops.log.progress: plain lines when the output is not a terminal."""
from __future__ import annotations

import io
import time

from ops.log import progress


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_log_file_gets_a_few_whole_lines_without_carriage_returns():
    out = io.StringIO()
    for _ in progress(range(40), desc="videos", unit="video", stream=out, plain_interval=0.05):
        time.sleep(0.01)
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    # 0.4 s at one line per 0.05 s at most, and the final one
    assert 2 <= len(lines) <= 10, lines
    assert lines[-1].startswith("videos: 100%") and "40/40" in lines[-1]


def test_a_short_loop_prints_nothing_in_a_log_file():
    out = io.StringIO()
    for _ in progress(range(5000), desc="videos", stream=out):
        pass
    assert out.getvalue() == ""


def test_terminal_keeps_the_redrawn_bar():
    out = _Tty()
    for _ in progress(range(3), desc="x", stream=out):
        pass
    assert "\r" in out.getvalue()


def test_disabled_writes_nothing():
    out = io.StringIO()
    for _ in progress(range(3), desc="x", stream=out, disable=True):
        pass
    assert out.getvalue() == ""
