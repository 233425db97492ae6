"""Folded-head scoring equals the training-time forward; border cases; the result file feeds evaluation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ops.models import build_model
from ops.results import read_results
from ops.ssn import stage_layout
from ops.ssn_inference import folded_weights, score_proposals, segment_spans
from tests.conftest import run_script

BACKBONE = {"arch": "tiny", "modality": "RGB", "new_length": 1, "pretrained": None, "bn_mode": "full",
            "dropout": 0.0}


def make_model(num_segments, stpp, k=3):
    torch.manual_seed(0)
    model = build_model({"type": "ssn", "backbone": BACKBONE, "num_classes": k, "num_segments": num_segments,
                         "stpp": stpp, "dropout": 0.5})
    for fc in (model.activity_fc, model.completeness_fc, model.regressor_fc):   # visible, non-trivial heads
        torch.nn.init.normal_(fc.weight, std=0.5)
        torch.nn.init.normal_(fc.bias, std=0.5)
    return model.eval()


def folded(model, feats, bounds, count, interval=1):
    w, b, _ = folded_weights(model)
    return score_proposals(feats, np.asarray(bounds, float), count, interval, w, b, model.stpp.matrix,
                           model.stpp.parts, model.num_segments)


def training_forward(model, frames, bounds, count):
    """The model's own forward on one frame per segment (segments of exactly one frame here)."""
    outs = []
    for start, end in bounds:
        spans, scales = segment_spans(np.array([[start, end]], float), count, model.num_segments)
        pos = np.clip(np.floor(spans[0, :, 0]).astype(int), 0, count - 1)
        act, comp, reg = model(frames[pos], torch.tensor(scales[:1], dtype=torch.float32))
        outs.append(torch.cat([act, comp, reg.flatten(1)], 1))
    return torch.cat(outs)


@pytest.mark.parametrize("stpp", [[1, 1, 1], [1, [1, 2], 1], [[1, 2], [1, 2, 5], [1, 2]]])
def test_folded_heads_equal_training_forward(stpp):
    # 10-frame proposals with 5/10/5 segments: every segment holds exactly one frame
    model = make_model((5, 10, 5), stpp)
    frames = torch.randn(60, 3, 32, 32)
    bounds = [[10, 20], [30, 40], [0, 10], [50, 60]]     # inside, inside, at the start, at the end
    with torch.no_grad():
        feats = model.base(frames)
        got = folded(model, feats, bounds, 60)
        want = training_forward(model, frames, bounds, 60)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_segment_means_with_frame_interval():
    """With several frames per segment the score is the forward on per-segment mean features."""
    model = make_model((2, 5, 2), [1, [1, 2], 1])
    feats = torch.randn(50, 128)
    bounds = np.array([[12.0, 72.0], [0.0, 30.0], [90.0, 99.0], [40.0, 41.0]])  # frames; interval 2
    got = folded(model, feats, bounds, 100, interval=2)
    spans, scales = segment_spans(bounds, 100, (2, 5, 2))
    seg = torch.zeros(len(bounds), 9, 128)
    for i in range(len(bounds)):
        for s in range(9):
            a, b = spans[i, s]
            idx = [t for t in range(50) if a <= 2 * t < b] or [min(int((a + b) / 2 / 2), 49)]
            seg[i, s] = feats[idx].mean(0)
    act, comp, reg = model.heads(seg, torch.tensor(scales, dtype=torch.float32))
    torch.testing.assert_close(got, torch.cat([act, comp, reg.flatten(1)], 1), atol=1e-5, rtol=1e-5)


def test_vectorised_spans_match_stage_layout():
    bounds = np.array([[4.0, 24.0], [40, 60], [80, 100], [5, 5]])
    spans, scales = segment_spans(bounds, 100, (2, 5, 2))
    for i, (s, e) in enumerate(bounds):
        stages, sc = stage_layout(s, e, 100)
        np.testing.assert_allclose(scales[i], sc)
        np.testing.assert_allclose([spans[i, 0, 0], spans[i, 1, 1]], stages[0])
        np.testing.assert_allclose([spans[i, 7, 0], spans[i, 8, 1]], stages[2])


def test_no_proposals_and_one_frame_proposal():
    model = make_model((2, 5, 2), [1, 1, 1])
    feats = torch.randn(10, 128)
    assert folded(model, feats, np.zeros((0, 2)), 10).shape == (0, 4 + 3 + 6)
    out = folded(model, feats, [[3, 4]], 10)
    assert torch.isfinite(out).all()


def test_ssn_test_script_result_feeds_evaluation(tiny_dataset, tiny_frames, tmp_path):
    lists = {}
    for subset in ("validation", "test"):
        lists[subset] = tmp_path / f"{subset}.txt"
        run_script("gen_sliding_window_proposals.py", "synthetic", subset, lists[subset], "--annotations",
                   tiny_dataset / "annotations", "--frame_path", tiny_frames)
    run_script("ssn_train.py", "synthetic", "RGB", "--train_list", lists["validation"], "--output",
               tmp_path / "ssn", "--arch", "tiny", "--epochs", 1, "-b", 2, "-j", 0)
    out = tmp_path / "rgb.pkl"
    run_script("ssn_test.py", "synthetic", "RGB", lists["test"], tmp_path / "ssn" / "checkpoint_last.pth", out,
               "--frame_interval", 3, "-j", 0)
    results = read_results(out)
    assert len(results) == 4 and not (tmp_path / "rgb.pkl.parts").exists()
    r = next(iter(results.values()))
    assert r.act_scores.shape[1] == 6 and r.comp_scores.shape[1] == 5 and r.reg_scores.shape[1:] == (5, 2)
    assert r.rel_props.min() >= 0 and r.rel_props.max() <= 1
    res = run_script("eval_detection_results.py", "synthetic", out, "--annotations", tiny_dataset / "annotations")
    assert "mAP" in res.stdout
    # resume: a part file left by a killed run is reused, not recomputed
    parts = tmp_path / "again.pkl.parts"
    parts.mkdir()
    key = next(iter(results))
    from ops.results import save_video_result
    fake = type(r)(r.rel_props, r.act_scores + 100, r.comp_scores, r.reg_scores)
    save_video_result(parts / f"{key.split('/')[-1]}.npz", fake)
    run_script("ssn_test.py", "synthetic", "RGB", lists["test"], tmp_path / "ssn" / "checkpoint_last.pth",
               tmp_path / "again.pkl", "--frame_interval", 3, "-j", 0)
    again = read_results(tmp_path / "again.pkl")
    np.testing.assert_allclose(again[key].act_scores, r.act_scores + 100)
    other = [k for k in results if k != key][0]
    np.testing.assert_allclose(again[other].act_scores, results[other].act_scores, atol=1e-6)
