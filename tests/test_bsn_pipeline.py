"""BSN end to end on the tiny dataset's oracle features: TEM -> PGM -> PEM -> proposals -> evaluation."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_script
from ops.formats.bsn_outputs import read_pgm, read_tem
from ops.formats.detections import read_activitynet_json


@pytest.fixture(scope="module")
def bsn_run(tiny_dataset, tiny_features, tmp_path_factory):
    out = tmp_path_factory.mktemp("bsn")
    ann = tiny_dataset / "annotations"
    common = ["--features", tiny_features, "--annotations", ann]
    run_script("bsn_tem_train.py", "synthetic", *common, "--output", out / "tem", "--temporal_dim", 32,
               "--epochs", 30, "-b", 2, "--lr", 0.003, "-j", 0)
    run_script("bsn_tem_test.py", "synthetic", *common, "--checkpoint", out / "tem" / "checkpoint_last.pth",
               "--output", out / "tem_results", "--csv", out / "tem_csv")
    run_script("bsn_pgm.py", "synthetic", "--tem", out / "tem_results", "--annotations", ann, "--output",
               out / "pgm", "--csv", out / "pgm_csv")
    run_script("bsn_pem_train.py", "synthetic", "--pgm", out / "pgm", "--annotations", ann, "--output", out / "pem",
               "--epochs", 10, "-b", 2, "-j", 0)
    run_script("bsn_pem_test.py", "synthetic", "--pgm", out / "pgm", "--annotations", ann, "--checkpoint",
               out / "pem" / "checkpoint_last.pth", "--output", out / "proposals_test.json")
    run_script("eval_proposals.py", out / "proposals_test.json", "--annotations", ann, "--dataset", "synthetic",
               "--json_out", out / "eval.json")
    return out


def test_tem_and_pgm_files(bsn_run, tiny_dataset):
    from ops.formats.annotations import load_annotations
    videos = load_annotations(tiny_dataset / "annotations", "test").video_ids
    curves, spans = read_tem(bsn_run / "tem_results", videos[0], 32)
    assert curves.shape == (1, 32, 3) and spans[0, 0] == 0.0
    header = (bsn_run / "tem_csv" / f"{videos[0]}.csv").read_text().splitlines()
    assert header[0] == "action,start,end,tmin,tmax" and len(header) == 33
    d = read_pgm(bsn_run / "pgm", videos[0])
    assert d["features"].shape == (len(d["proposals"]), 32)
    assert (np.diff(d["proposals"][:, 4]) <= 0).all()                      # sorted by score
    assert (d["proposals"][:, 0] < d["proposals"][:, 1]).all()
    with pytest.raises(Exception, match="TEM curves of 32 rows, but this run uses 64"):
        read_tem(bsn_run / "tem_results", videos[0], 64)


def test_proposals_beat_chance(bsn_run, tiny_dataset):
    props = read_activitynet_json(bsn_run / "proposals_test.json")
    assert len(props) > 0 and (props.t_start >= 0).all() and (props.t_start <= props.t_end).all()
    log = json.loads((bsn_run / "tem" / "log.json").read_text())
    assert log[-1]["train_loss"] < log[0]["train_loss"]
    auc = json.loads((bsn_run / "eval.json").read_text())["ar_an"]["AUC"]
    assert auc > 40, auc                                # 100 random proposals a video: about 31 (test_bmn_pipeline)


def test_pgm_refuses_missing_tem(bsn_run, tiny_dataset, tmp_path):
    res = run_script("bsn_pgm.py", "synthetic", "--tem", tmp_path / "none", "--annotations",
                     tiny_dataset / "annotations", "--output", tmp_path / "pgm", check=False)
    assert res.returncode == 2 and "no TEM curves for 8 video(s)" in res.stderr and "bsn_tem_test.py" in res.stderr
