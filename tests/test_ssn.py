"""SSN: stage layout, STPP pooling, losses (hand-computed), training on the tiny dataset, resume."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ops.models.builder import build_model
from ops.models.ssn import (BG, FG, INCOMPLETE, STPP, apply_regression, completeness_loss, pooling_matrix,
                            regression_loss, ssn_losses, stage_layout, targets_for_regression)
from ops.train.engine import load_checkpoint
from tests.conftest import run_script


def test_stage_layout_inside_and_at_borders():
    spans, scales = stage_layout(40, 60, 100)
    assert spans == [(30, 40), (40, 60), (60, 70)] and scales == (1.0, 1.0)
    spans, scales = stage_layout(4, 24, 100)          # starting stage would begin at -6: 4 of 10 frames inside
    assert spans[0] == (0, 4) and scales == pytest.approx((0.4, 1.0))
    spans, scales = stage_layout(80, 100, 100)        # proposal touching the end: no ending stage
    assert spans[2] == (100, 100) and scales == (1.0, 0.0)


def test_pooling_matrix_pyramid():
    m, parts = pooling_matrix((2, 5, 2), [1, [1, 2], 1])
    assert parts == [1, 3, 1] and m.shape == (5, 9)
    np.testing.assert_allclose(m[0], [0.5, 0.5, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(m[1], [0, 0, 0.2, 0.2, 0.2, 0.2, 0.2, 0, 0])
    np.testing.assert_allclose(m[2], [0, 0, 0.5, 0.5, 0, 0, 0, 0, 0])          # segments 0-1 of the course
    np.testing.assert_allclose(m[3], [0, 0, 0, 0, 1 / 3, 1 / 3, 1 / 3, 0, 0])  # segments 2-4
    with pytest.raises(ValueError):
        pooling_matrix((2, 5, 2), [3, 1, 1])


def test_stpp_hand_computed():
    feats = torch.arange(9, dtype=torch.float32).reshape(1, 9, 1).repeat(1, 1, 2)   # segment i has value i
    feats[0, :, 1] *= 10
    act, comp = STPP((2, 5, 2), [1, 1, 1])(feats, torch.tensor([[0.5, 1.0]]))
    # starting mean(0, 1) = 0.5 scaled by 0.5; course mean(2..6) = 4; ending mean(7, 8) = 7.5
    np.testing.assert_allclose(act, [[4, 40]])
    np.testing.assert_allclose(comp, [[0.25, 2.5, 4, 40, 7.5, 75]])


def test_completeness_loss_with_ohem():
    comp = torch.tensor([[0.2, -1.0], [0.5, 0.0], [-0.5, 0.0], [0.9, 0.0], [0.0, 0.3], [0.0, -2.0]])
    labels = torch.tensor([1, 1, 1, 1, 2, 2])
    kinds = torch.tensor([FG, INCOMPLETE, INCOMPLETE, INCOMPLETE, FG, INCOMPLETE])
    groups = torch.tensor([0, 0, 0, 0, 1, 1])
    # positives: 1 - 0.2 = 0.8 and 1 - 0.3 = 0.7; video 0 incomplete losses 1.5, 0.5, 1.9: keep int(3 x 0.5) = 1
    # -> 1.9; video 1: one incomplete, int(1 x 0.5) = 0 but at least one is kept: its loss 1 + (-2) -> 0.
    loss = completeness_loss(comp, labels, kinds, groups, ohem_ratio=0.5)
    assert float(loss) == pytest.approx((0.8 + 0.7 + 1.9 + 0.0) / 4)
    # ratio 0: no incomplete sample counts
    loss = completeness_loss(comp, labels, kinds, groups, ohem_ratio=0.0)
    assert float(loss) == pytest.approx((0.8 + 0.7) / 2)
    # ratio 1: every incomplete sample counts; the last one (1 + (-2) < 0) is clamped to 0
    loss = completeness_loss(comp, labels, kinds, groups, ohem_ratio=1.0)
    assert float(loss) == pytest.approx((0.8 + 0.7 + 1.5 + 0.5 + 1.9 + 0.0) / 6)


def test_ohem_keeps_one_incomplete_sample_when_the_ratio_rounds_to_none():
    """The default ratio 0.17 suits 6 incomplete samples per video; with 5, int(5 x 0.17) = 0 would leave the
    completeness classifier without negatives."""
    labels = torch.ones(6, dtype=torch.long)
    kinds = torch.tensor([FG] + [INCOMPLETE] * 5)
    comp = torch.tensor([[1.0], [0.0], [0.5], [-0.5], [0.2], [0.1]])     # incomplete losses 1, 1.5, 0.5, 1.2, 1.1
    loss = completeness_loss(comp, labels, kinds, torch.zeros(6, dtype=torch.long), ohem_ratio=0.17)
    assert float(loss) == pytest.approx((0.0 + 1.5) / 2)                 # the positive (loss 0) and the hardest


def test_background_completeness_negatives_of_the_top_activity_class():
    """--bg_completeness: a background sample is a completeness negative of the class its activity output ranks
    first, mined per video in a pool of its own; off, background samples leave the completeness loss alone."""
    kinds = torch.tensor([FG, INCOMPLETE, BG, BG, BG])
    labels = torch.tensor([1, 1, 0, 0, 0])
    groups = torch.zeros(5, dtype=torch.long)
    comp = torch.tensor([[0.5, 0.0], [-0.5, 0.0], [0.0, 0.8], [0.3, -0.4], [-2.0, 2.0]])
    # activity ranks class 2 first for bg sample 3 and 5 (background column 0 ignored), class 1 for sample 4
    activity = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [9.0, 0.0, 1.0], [0.0, 2.0, 1.0], [0.0, 0.0, 3.0]])
    reg, targets = torch.zeros(5, 2, 2), torch.zeros(5, 2)
    off = ssn_losses((activity, comp, reg), labels, kinds, groups, targets, ohem_ratio=0.5)
    # fg: 1 - 0.5; incomplete: 1 + (-0.5)
    assert float(off["completeness"]) == pytest.approx((0.5 + 0.5) / 2)
    on = ssn_losses((activity, comp, reg), labels, kinds, groups, targets, ohem_ratio=0.5, bg_completeness=True)
    # bg losses: 1 + 0.8 (class 2), 1 + 0.3 (class 1), 1 + 2 (class 2): int(3 x 0.5) = 1 kept -> 3.0
    assert float(on["completeness"]) == pytest.approx((0.5 + 0.5 + 3.0) / 3)
    assert float(on["activity"]) == pytest.approx(float(off["activity"]))
    # every background sample counts at ratio 1
    everything = completeness_loss(comp, torch.tensor([1, 1, 2, 1, 2]), kinds, groups, 1.0, background=True)
    assert float(everything) == pytest.approx((0.5 + 0.5 + 1.8 + 1.3 + 3.0) / 5)


def test_regression_and_activity_losses():
    reg = torch.zeros(3, 2, 2)
    reg[0, 1] = torch.tensor([1.0, 0.0])
    targets = torch.tensor([[0.0, 3.0], [5.0, 5.0], [0.0, 0.0]])
    kinds = torch.tensor([FG, INCOMPLETE, BG])
    labels = torch.tensor([2, 1, 1])
    # only the foreground sample, class 2: smooth-L1(1 - 0) + smooth-L1(0 - 3) = 0.5 + 2.5
    assert float(regression_loss(reg, labels, kinds, targets)) == pytest.approx(3.0)
    activity = torch.tensor([[0.0, 0.0, 2.0], [9.0, 9.0, 9.0], [1.0, 0.0, 0.0]])
    losses = ssn_losses((activity, torch.zeros(3, 2), reg), labels, kinds, torch.zeros(3, dtype=torch.long),
                        targets)
    # activity: fg target 2, bg target 0 (its label 1 is ignored); the incomplete sample is left out
    expect = (-torch.log_softmax(activity[0], 0)[2] - torch.log_softmax(activity[2], 0)[0]) / 2
    assert float(losses["activity"]) == pytest.approx(float(expect))


def test_regression_round_trip():
    bounds = np.array([[10.0, 30.0], [0.0, 5.0]])
    gt = np.array([[12.0, 40.0], [1.0, 3.0]])
    np.testing.assert_allclose(apply_regression(bounds, targets_for_regression(bounds, gt)), gt)


def test_model_shapes_and_config_rebuild():
    backbone = {"arch": "tiny", "modality": "Flow", "new_length": 2, "pretrained": None, "bn_mode": "full",
                "dropout": 0.0}
    model = build_model({"type": "ssn", "backbone": backbone, "num_classes": 4, "num_segments": [2, 5, 2],
                         "stpp": [1, [1, 2], 1], "dropout": 0.0})
    x = torch.randn(2 * 9, 4, 40, 40)
    act, comp, reg = model(x, torch.ones(2, 2))
    assert act.shape == (2, 5) and comp.shape == (2, 4) and reg.shape == (2, 4, 2)
    again = build_model(model.config())
    again.load_state_dict(model.state_dict())


@pytest.fixture(scope="module")
def ssn_lists(tiny_dataset, tiny_frames, tmp_path_factory):
    out = tmp_path_factory.mktemp("ssn_lists")
    for subset in ("validation", "test"):
        run_script("gen_sliding_window_proposals.py", "synthetic", subset, out / f"{subset}.txt",
                   "--annotations", tiny_dataset / "annotations", "--frame_path", tiny_frames)
    return out


def train(lists, out, epochs, *extra):
    return run_script("ssn_train.py", "synthetic", "RGB", "--train_list", lists / "validation.txt",
                      "--output", out, "--arch", "tiny", "--epochs", epochs, "-b", 2, "-j", 0, "--lr", 0.01,
                      "--epoch_multiplier", 2, "--dropout", 0.5, *extra)


def test_ssn_training_loss_falls_and_resume_is_exact(ssn_lists, tmp_path):
    train(ssn_lists, tmp_path / "straight", 4)
    straight = load_checkpoint(tmp_path / "straight" / "checkpoint_last.pth")
    losses = [h["train_activity"] for h in straight["history"]]
    assert losses[-1] < losses[0]
    assert straight["model_config"]["type"] == "ssn" and len(straight["extra"]["reg_stats"]) == 2
    train(ssn_lists, tmp_path / "split", 2)
    train(ssn_lists, tmp_path / "split", 4, "--resume", tmp_path / "split" / "checkpoint_last.pth")
    split = load_checkpoint(tmp_path / "split" / "checkpoint_last.pth")
    for k, v in straight["state_dict"].items():
        assert torch.equal(v, split["state_dict"][k]), k


def test_ssn_train_refuses_a_label_beyond_the_model_in_one_line(ssn_lists, tmp_path):
    text = (ssn_lists / "validation.txt").read_text().splitlines()
    # the ground-truth block: "# index", path, frames, fps, count, then "label start end" lines
    gt_line = 5
    assert int(text[4]) > 0, "the first video of the tiny set has ground truth"
    parts = text[gt_line].split()
    text[gt_line] = " ".join(["9"] + parts[1:])
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(text) + "\n")
    res = run_script("ssn_train.py", "synthetic", "RGB", "--train_list", bad, "--output", tmp_path / "out",
                     "--arch", "tiny", "--epochs", "1", "-j", "0", check=False)
    assert res.returncode == 2
    assert "label 9 is outside the model's classes 1..5" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out" / "checkpoint_last.pth").exists()


def test_ssn_holdout_validates_by_detection_map_and_stops_with_patience(ssn_lists, tmp_path):
    """Issue 21: --holdout holds out videos by the hash of their ids (the same every run, wherever the frames
    are); each epoch logs their detection mAP, which chooses checkpoint_best.pth and stops --patience.  The
    last epoch's figures are those of ssn_test.py and the evaluation run on the held-out videos."""
    from ops.evaluation.detection_eval import evaluate_detections, ground_truth_from_proposal_list
    from ops.evaluation.postprocess import results_to_detections
    from ops.evaluation.validation import postprocess_config
    from ops.formats.presets import load_preset
    from ops.formats.proposal_list import ProposalList, read_frame_based_list, write_proposal_list
    from ops.formats.results import read_results
    from ops.train.engine import held_out, trailing_means

    blocks = read_frame_based_list(ssn_lists / "validation.txt").videos
    ids = [b.video_id for b in blocks]
    held = held_out(ids, 0.5)
    assert held == held_out(list(reversed(ids)), 0.5) and len(held) == 2
    train(ssn_lists, tmp_path / "h", 6, "--holdout", 0.5, "--patience", 1)
    ckpt = load_checkpoint(tmp_path / "h" / "checkpoint_last.pth")
    maps = [h["val_mAP"] for h in ckpt["history"]]
    assert all(0 <= m <= 1 for m in maps) and max(maps) > 0
    assert all(h["val_loss"] is not None for h in ckpt["history"])
    assert ckpt["extra"]["holdout"] == 0.5 and ckpt["extra"]["validation"]["frame_interval"] == 6
    scores = trailing_means(maps, 5)                       # --best_window 5, ssn_train's default
    best = scores.index(max(scores))
    assert len(maps) == 6 or len(maps) == best + 2        # stopped one epoch after the best mean
    assert load_checkpoint(tmp_path / "h" / "checkpoint_best.pth")["epoch"] == best + 1

    held_list = ProposalList([b for b in blocks if b.video_id in held], normalized=False)
    write_proposal_list(tmp_path / "held.txt", held_list)
    run_script("ssn_test.py", "synthetic", "RGB", tmp_path / "held.txt", tmp_path / "h" / "checkpoint_last.pth",
               tmp_path / "held.pkl", "--frame_interval", 6, "-j", 0)
    preset = load_preset("synthetic")
    dets = results_to_detections(read_results(tmp_path / "held.pkl"), postprocess_config(preset))
    ious = preset["evaluation"]["iou_thresholds"]
    want = evaluate_detections(dets, ground_truth_from_proposal_list(held_list, 5), "thumos14", ious).mean_ap
    assert maps[-1] == pytest.approx(want.mean(), abs=1e-9)
    assert ckpt["history"][-1]["val_mAP@0.5"] == pytest.approx(want[ious.index(0.5)], abs=1e-9)
    for flags, message in ((["--holdout", 0.5, "--val_list", ssn_lists / "validation.txt"], "give one of them"),
                           (["--holdout", 0.01], "--holdout 0.01 of 4 videos holds out none"),
                           (["--holdout", "most"], "expected 'auto' or a fraction such as 0.2, got 'most'")):
        res = run_script("ssn_train.py", "synthetic", "RGB", "--train_list", ssn_lists / "validation.txt",
                         "--output", tmp_path / "x", "--arch", "tiny", "--epochs", 1, "-j", 0, *flags, check=False)
        assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_holdout_auto_holds_out_a_fifth_of_a_small_list_only():
    """Issue 21: ``--holdout auto`` is 0.2 from 10 to 99 training videos without --val_list, else 0 (4
    videos: one held-out video would choose by noise).  The default is 0 (docs/training.md says why)."""
    from ssn_train import get_args_parser, resolve_holdout

    defaults = get_args_parser().parse_args(["synthetic", "RGB", "--train_list", "l", "--output", "o"])
    assert defaults.holdout == 0 and defaults.best_window == 5
    assert get_args_parser().parse_args(["synthetic", "RGB", "--train_list", "l", "--output", "o", "--holdout",
                                         "auto"]).holdout == "auto"
    assert [resolve_holdout("auto", n, None) for n in (4, 9, 10, 40, 99, 100, 200)] == [0, 0, 0.2, 0.2, 0.2, 0, 0]
    assert resolve_holdout("auto", 40, "val.txt") == 0
    assert resolve_holdout(0.0, 40, None) == 0 and resolve_holdout(0.5, 4, None) == 0.5
