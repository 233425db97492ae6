"""Benchmark helpers: the step clock (which steps are timed), the table of demo runs (mean and spread)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

from bench_common import StepClock


def test_step_clock_times_the_steps_after_warmup():
    clock = StepClock()
    seen = list(clock(range(5)))
    assert seen == [0, 1, 2, 3, 4] and len(clock.stamps) == 6   # start + the end of each step
    clock.stamps = [0.0, 1.0, 3.0, 6.0, 10.0, 15.0]              # steps of 1, 2, 3, 4, 5 s
    assert clock.seconds(2) == (3, 12.0)                         # steps 3..5 only
    assert clock.seconds(4) == (1, 5.0)
    with pytest.raises(ValueError, match="only 5 steps ran"):
        clock.seconds(5)


def _fake_work(folder, map_05: float, average: float):
    folder.mkdir()
    metrics = {"iou_thresholds": [0.1, 0.5, 0.7], "mAP": [0.9, map_05, 0.1], "average_mAP": average}
    (folder / "eval_Flow.json").write_text(json.dumps({"settings": {}, "metrics": metrics}))


def test_runs_table_mean_and_sample_spread(tmp_path):
    _fake_work(tmp_path / "a", 0.6, 0.5)
    _fake_work(tmp_path / "b", 0.8, 0.5)
    res = subprocess.run([sys.executable, str(REPO / "bench" / "demo_runs_table.py"), str(tmp_path / "a"),
                          str(tmp_path / "b"), "--streams", "Flow", "--no_proposals", "--summary"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line.split()[1:] for line in res.stdout.splitlines()[1:]}
    assert rows["a"] == ["60.00", "50.00"] and rows["b"] == ["80.00", "50.00"]
    assert rows["mean"] == ["70.00", "50.00"] and rows["std"] == ["14.14", "0.00"]   # sqrt(2 x 10^2 / 1)


def test_runs_table_names_a_folder_stage_8_did_not_finish(tmp_path):
    _fake_work(tmp_path / "a", 0.6, 0.5)
    res = subprocess.run([sys.executable, str(REPO / "bench" / "demo_runs_table.py"), str(tmp_path / "a"),
                          "--streams", "Flow", "RGB", "--no_proposals"], capture_output=True, text=True)
    assert res.returncode != 0 and "eval_RGB.json does not exist" in res.stderr and "Traceback" not in res.stderr
