"""The benchmarks' step clock: which steps are timed."""
from __future__ import annotations

import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
from bench_common import StepClock  # noqa: E402


def test_step_clock_times_the_steps_after_warmup():
    clock = StepClock()
    seen = list(clock(range(5)))
    assert seen == [0, 1, 2, 3, 4] and len(clock.stamps) == 6   # start + the end of each step
    clock.stamps = [0.0, 1.0, 3.0, 6.0, 10.0, 15.0]              # steps of 1, 2, 3, 4, 5 s
    assert clock.seconds(2) == (3, 12.0)                         # steps 3..5 only
    assert clock.seconds(4) == (1, 5.0)
    with pytest.raises(ValueError, match="only 5 steps ran"):
        clock.seconds(5)
