"""ops.log.progress: plain lines when the output is not a terminal."""
from __future__ import annotations

import io

from ops.log import progress


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_log_file_gets_a_few_whole_lines_without_carriage_returns():
    out = io.StringIO()
    for _ in progress(range(5000), desc="videos", unit="video", stream=out):
        pass
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    # the opening line and the final one; nothing in between within 30 s
    assert 1 <= len(lines) <= 3, lines
    assert lines[-1].startswith("videos: 100%") and "5000/5000" in lines[-1]


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
