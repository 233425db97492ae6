"""plot_training.py: the engine's log.json read back, columns split into losses and metrics, PNG written."""
from __future__ import annotations

import json

import cv2
import pytest

import plot_training
from ops.errors import InputError
from ops.train.engine import _write_logs, read_training_log


def test_curves_from_the_engines_log(tmp_path):
    run = tmp_path / "ssn_Flow"
    run.mkdir()
    history = [{"epoch": 1, "lr": 0.1, "seconds": 2.0, "train_loss": 2.0, "train_activity": 1.5, "val_AUC": 40.0},
               {"epoch": 2, "lr": 0.1, "seconds": 2.0, "train_loss": 1.0, "train_activity": 0.8, "val_AUC": None},
               {"epoch": 3, "lr": 0.01, "seconds": 2.0, "train_loss": 0.5, "train_activity": 0.4, "val_AUC": 55.0}]
    _write_logs(run, history)
    rows = read_training_log(run / "log.json")
    assert rows == history
    losses, metrics = plot_training.curves({"ssn_Flow": rows})
    assert sorted(losses) == ["ssn_Flow:train_activity", "ssn_Flow:train_loss"]
    ep, val = metrics["ssn_Flow:val_AUC"]
    assert ep.tolist() == [1.0, 3.0] and val.tolist() == [40.0, 55.0]      # the missing epoch skipped
    out = tmp_path / "curves.png"
    assert plot_training.main(plot_training.get_args_parser().parse_args([str(out), str(run / "log.json")])) == 0
    assert cv2.imread(str(out)).shape[1] == 1100


def test_not_a_log_is_refused(tmp_path):
    (tmp_path / "log.json").write_text(json.dumps({"epoch": 1}))
    with pytest.raises(InputError, match="not a training log"):
        read_training_log(tmp_path / "log.json")
    (tmp_path / "log.json").write_text(json.dumps([{"epoch": 1, "lr": 0.1}]))
    with pytest.raises(InputError, match="no numeric column"):
        plot_training.draw({"x": read_training_log(tmp_path / "log.json")})
