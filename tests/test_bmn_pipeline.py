"""BMN end to end on the tiny dataset's oracle features: train (held-out validation) -> score -> evaluate."""
from __future__ import annotations

import json

import pytest

from conftest import run_script
from ops.formats.detections import read_activitynet_json


@pytest.fixture(scope="module")
def bmn_run(tiny_dataset, tiny_features, tmp_path_factory):
    out = tmp_path_factory.mktemp("bmn")
    ann = tiny_dataset / "annotations"
    run_script("bmn_train.py", "synthetic", "--features", tiny_features, "--annotations", ann, "--output",
               out / "model", "--temporal_dim", 32, "--epochs", 30, "-b", 2, "--lr", 0.003, "-j", 0,
               "--holdout", 0.25)
    best = out / "model" / "checkpoint_best.pth"
    run_script("bmn_test.py", "synthetic", "--features", tiny_features, "--annotations", ann, "--checkpoint", best,
               "--output", out / "proposals_test.json")
    run_script("eval_proposals.py", out / "proposals_test.json", "--annotations", ann, "--dataset", "synthetic",
               "--json_out", out / "eval.json")
    return out


def test_training_validates_by_auc_and_keeps_the_best(bmn_run):
    log = json.loads((bmn_run / "model" / "log.json").read_text())
    assert len(log) == 30 and all("auc" in row and "ar100" in row for row in log)
    assert all(row["train_loss"] == row["train_loss"] for row in log)           # finite
    assert log[-1]["train_loss"] < log[0]["train_loss"]


def test_proposals_are_seconds_inside_each_video_and_beat_chance(bmn_run, tiny_dataset):
    props = read_activitynet_json(bmn_run / "proposals_test.json")
    assert len(props) > 0 and (props.t_start >= 0).all() and (props.t_start <= props.t_end).all()
    from ops.formats.annotations import load_annotations
    db = load_annotations(tiny_dataset / "annotations", "test")
    for v in set(props.video):
        assert props.t_end[props.video == v].max() <= db.duration(v) + 1e-6
    # against 100 random proposals per video (uniform bounds, random scores): about 31 % AUC here
    import numpy as np

    from ops.evaluation.detection_eval import ground_truth_from_db
    from ops.evaluation.proposal_eval import ar_an
    from ops.formats.detections import Detections
    rng = np.random.default_rng(0)
    rows = [(v, *np.sort(rng.random(2) * db.duration(v)), rng.random()) for v in db.video_ids for _ in range(100)]
    video, s, e, score = zip(*rows)
    chance = ar_an(Detections(video, s, e, np.zeros(len(rows), np.int64), score), ground_truth_from_db(db)).auc
    ours = json.loads((bmn_run / "eval.json").read_text())
    assert ours["ar_an"]["AUC"] > chance + 10, (ours["ar_an"]["AUC"], chance)


def test_scoring_refuses_features_made_another_way(bmn_run, tiny_dataset, tmp_path):
    from conftest import write_oracle_features
    other = write_oracle_features(tiny_dataset / "annotations", tmp_path / "feats", subsets=("test",), stride=3)
    res = run_script("bmn_test.py", "synthetic", "--features", other, "--annotations", tiny_dataset / "annotations",
                     "--checkpoint", bmn_run / "model" / "checkpoint_best.pth", "--output", tmp_path / "p.json",
                     check=False)
    assert res.returncode == 2 and "stride" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "p.json").exists()
