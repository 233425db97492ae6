"""Folded-head scoring equals the training-time forward; border cases; raw outputs; the result file feeds evaluation;
ssn_test.py resumes a killed run only from parts of the same settings."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ops.errors import InputError
from ops.formats.proposal_list import read_proposal_list, write_proposal_list
from ops.formats.results import (ResultFileError, load_raw_outputs, load_video_result, read_results, save_raw_outputs,
                                 save_video_result)
from ops.models.backbones import BackboneConfig
from ops.models.builder import build_model
from ops.models.ssn import stage_layout
from ops.models.ssn_inference import (fold_heads, frame_ranges, part_layout, part_spans, pool_proposals, prefix_sums,
                                      project_frames, raw_outputs, score_proposals, score_raw)
from ops.train.dataset import data_spec, segment_positions
from ops.train.engine import TrainConfig, save_checkpoint
from tests.conftest import load_bench, run_script

BACKBONE = {"arch": "tiny", "modality": "RGB", "new_length": 1, "pretrained": None, "bn_mode": "full",
            "dropout": 0.0}


def make_model(num_segments, stpp, k=3, seed=0):
    torch.manual_seed(seed)
    model = build_model({"type": "ssn", "backbone": BACKBONE, "num_classes": k, "num_segments": num_segments,
                         "stpp": stpp, "dropout": 0.5})
    for fc in (model.activity_fc, model.completeness_fc, model.regressor_fc):   # visible, non-trivial heads
        torch.nn.init.normal_(fc.weight, std=0.5)
        torch.nn.init.normal_(fc.bias, std=0.5)
    return model.eval()


def folded(model, feats, bounds, count, interval=1):
    return torch.from_numpy(score_proposals(feats, np.asarray(bounds, float), count, interval, fold_heads(model)))


def layout(model):
    return part_layout(model.stpp.matrix.numpy(), model.stpp.parts, model.num_segments)


def training_forward(model, frames, bounds, count):
    """The model's own forward on the snippets training's sampling picks at test time (segment centres)."""
    outs = []
    for start, end in bounds:
        spans, scales = stage_layout(start, end, count)
        pos = np.concatenate([segment_positions(a, b, n, count, 1, train=False)
                              for (a, b), n in zip(spans, model.num_segments)])
        act, comp, reg = model(frames[pos], torch.tensor([scales], dtype=torch.float32))
        outs.append(torch.cat([act, comp, reg.flatten(1)], 1))
    return torch.cat(outs).double()


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


def unfolded_reference(model, feats, bounds, count, interval):
    """Heads on per-part mean features, one proposal and part at a time (no folding, no prefix sums)."""
    stage, cells = layout(model)
    spans, scales = part_spans(np.asarray(bounds, float), count, stage, cells)
    n_parts, d, course = len(stage), feats.shape[1], stage == 1
    out = []
    for i in range(len(bounds)):
        pooled = torch.zeros(n_parts, d)
        for p in range(n_parts):
            a, b = spans[i, p]
            idx = [t for t in range(len(feats)) if a <= t * interval < b] \
                or [min(int(np.floor((a + b) / 2 / interval)), len(feats) - 1)]
            pooled[p] = feats[idx].mean(0) * scales[i, p]
        act = model.activity_fc(pooled[course].flatten())
        comp, reg = model.completeness_fc(pooled.flatten()), model.regressor_fc(pooled.flatten())
        out.append(torch.cat([act, comp, reg]))
    return torch.stack(out).double()


@pytest.mark.parametrize("stpp", [[1, 1, 1], [1, [1, 2], 1]])
def test_part_means_with_frame_interval(stpp):
    """With several frames per part, a part's feature is the mean of the sampled frames inside its span."""
    model = make_model((2, 5, 2), stpp)
    feats = torch.randn(50, 128)
    bounds = np.array([[12.0, 72.0], [0.0, 30.0], [90.0, 99.0], [40.0, 41.0], [3.5, 17.25]])   # interval 2
    with torch.no_grad():
        got = folded(model, feats, bounds, 100, interval=2)
        want = unfolded_reference(model, feats, bounds, 100, 2)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_part_spans_match_stage_layout():
    model = make_model((2, 5, 2), [1, [1, 2], 1])
    stage, cells = layout(model)
    assert stage.tolist() == [0, 1, 1, 1, 2]
    assert cells.tolist() == [[0, 2, 2], [0, 5, 5], [0, 2, 5], [2, 5, 5], [0, 2, 2]]
    bounds = np.array([[4.0, 24.0], [40, 60], [80, 100], [5, 5]])
    spans, scales = part_spans(bounds, 100, stage, cells)
    for i, (s, e) in enumerate(bounds):
        stages, sc = stage_layout(s, e, 100)
        np.testing.assert_allclose(spans[i, [0, 1, 4]], stages)
        np.testing.assert_allclose(spans[i, 2:4], [[s, s + (e - s) * 2 / 5], [s + (e - s) * 2 / 5, e]])
        np.testing.assert_allclose(scales[i], [sc[0], 1, 1, 1, sc[1]])
    # a stage's end is kept exactly (33.68544501752552 + (156 - 33.68544501752552) misses 156 by an ulp)
    spans, _ = part_spans(np.array([[33.68544501752552, 156.0]]), 1000, stage, cells)
    assert spans[0, 1, 1] == spans[0, 3, 1] == 156.0 and spans[0, 4, 0] == 156.0
    assert frame_ranges(spans, 1, 1000)[1][0, 1] == 156


@pytest.mark.parametrize("t", [1, 2, 3, 8, 15, 16, 17, 99, 100, 101, 1667])
def test_prefix_sums_equal_cumsum(t):
    y = np.random.default_rng(t).normal(3.0, 1.0, (t, 7)).astype(np.float32)
    table, bl, nb = prefix_sums(y)
    pos = np.arange(t + 1)
    want = np.concatenate([np.zeros((1, 7)), np.cumsum(y, 0, dtype=np.float64)])
    np.testing.assert_allclose(table[(pos % bl) * nb + pos // bl], want, rtol=0, atol=1e-9)


def test_frame_ranges_are_never_empty():
    spans = np.array([[[0.0, 0.0], [4.5, 5.0], [9.0, 30.0], [-3.0, -1.0]]])
    i0, i1 = frame_ranges(spans, 2, 10)
    assert i0.tolist() == [[0, 2, 5, 0]] and i1.tolist() == [[1, 3, 10, 1]]


@pytest.mark.parametrize("interval", [1, 3])
def test_bench_reference_loops_agree_with_the_vectorised_pooling(interval):
    """The per-proposal loops bench/bench_ssn_pooling.py times its ratios against compute the same scores
    (else its ratios would compare different work): edges, one-frame proposals, both STPP settings."""
    bench = load_bench("bench_ssn_pooling")
    bounds = np.array([[0.0, 12.0], [88.0, 100.0], [40.0, 41.0], [3.5, 17.25], [50.0, 50.5], [0.0, 100.0]])
    for stpp in ([1, 1, 1], [1, [1, 2], 1]):
        torch.manual_seed(0)
        heads = bench.heads_for(stpp, 16, 3)
        y = project_frames(torch.randn(-(-100 // interval), 16), heads.weights)
        stage, cells = part_layout(heads.stpp_matrix, heads.stpp_parts, heads.num_segments)
        want = pool_proposals(y, bounds, 100, interval, heads.bias, stage, cells)
        spans, scales = part_spans(bounds, 100, stage, cells)
        i0, i1 = frame_ranges(spans, interval, len(y))
        numpy_loop = bench.loop_pool(y, i0.tolist(), i1.tolist(), scales.tolist(), heads.bias)
        original = bench.original_loop(torch.from_numpy(y), bounds.tolist(), 100, interval, heads.bias,
                                       stage.tolist(), cells.tolist(), heads.sizes).numpy()
        np.testing.assert_allclose(numpy_loop, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(original, want, rtol=1e-5, atol=1e-5)
        assert np.abs(want - heads.bias).max() > 0.1                  # pooled something, not just the bias


def test_no_proposals_and_one_frame_proposal():
    model = make_model((2, 5, 2), [1, 1, 1])
    feats = torch.randn(10, 128)
    assert folded(model, feats, np.zeros((0, 2)), 10).shape == (0, 4 + 3 + 6)
    out = folded(model, feats, [[3, 4]], 10)
    assert torch.isfinite(out).all()


def test_raw_outputs_round_trip_and_repool(tmp_path):
    model = make_model((2, 5, 2), [1, [1, 2], 1])
    heads = fold_heads(model)
    feats, bounds, reg_stats = torch.randn(34, 128), np.array([[0.0, 30.0], [12, 99], [50, 51]]), [[1, 2], [3, 4]]
    y = project_frames(feats, heads.weights)
    raw = raw_outputs(y, heads, "/frames/v1", 100, 3, reg_stats)
    save_raw_outputs(tmp_path / "v1.npz", raw)
    back = load_raw_outputs(tmp_path / "v1.npz")
    assert back.video == "/frames/v1" and back.num_frames == 100 and back.frame_interval == 3
    assert back.frame_index.tolist() == list(range(0, 100, 3)) and back.regression.shape == (34, 5, 3, 2)
    act, comp, reg = score_raw(back, bounds)
    out = folded(model, feats, bounds, 100, interval=3).numpy()
    np.testing.assert_array_equal(act, out[:, :4])
    np.testing.assert_array_equal(comp, out[:, 4:7])
    np.testing.assert_array_equal(reg, out[:, 7:].reshape(-1, 3, 2) * [3, 4] + [1, 2])
    np.savez(tmp_path / "bad.npz", video="x")
    with pytest.raises(ResultFileError, match="bad.npz: not a raw-outputs file"):
        load_raw_outputs(tmp_path / "bad.npz")


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
               "--frame_interval", 3, "-j", 0, "--save_raw", tmp_path / "raw")
    results = read_results(out)
    assert len(results) == 4 and not (tmp_path / "rgb.pkl.parts").exists()
    r = next(iter(results.values()))
    assert r.act_scores.shape[1] == 6 and r.comp_scores.shape[1] == 5 and r.reg_scores.shape[1:] == (5, 2)
    assert r.rel_props.min() >= 0 and r.rel_props.max() <= 1
    # the raw per-frame outputs, re-pooled, give exactly the result file's scores
    for block in read_proposal_list(lists["test"]).videos:
        raw = load_raw_outputs(tmp_path / "raw" / f"{block.video_id}.npz")
        assert raw.video == block.video and raw.frame_interval == 3 and raw.frame_index[1] == 3
        act, comp, reg = score_raw(raw, block.bounds)
        np.testing.assert_array_equal(act, results[block.video].act_scores)
        np.testing.assert_array_equal(comp, results[block.video].comp_scores)
        np.testing.assert_array_equal(reg, results[block.video].reg_scores)
    res = run_script("eval_detection_results.py", "synthetic", out, "--annotations", tiny_dataset / "annotations")
    assert "mAP" in res.stdout
    # --annotations was given: the warning names the missing Ambiguous file instead of asking for the flag
    assert "Ambiguous_test.txt" in res.stderr and "give --annotations" not in res.stderr
    # a part without a manifest (left by an older ssn_test.py, settings unknown) is not trusted: scored again
    parts = tmp_path / "again.pkl.parts"
    parts.mkdir()
    key = next(iter(results))
    fake = type(r)(results[key].rel_props, results[key].act_scores + 100, results[key].comp_scores,
                   results[key].reg_scores)
    save_video_result(parts / f"{key.split('/')[-1]}.npz", fake)
    res = run_script("ssn_test.py", "synthetic", "RGB", lists["test"], tmp_path / "ssn" / "checkpoint_last.pth",
                     tmp_path / "again.pkl", "--frame_interval", 3, "-j", 0, "--save_raw", tmp_path / "raw")
    assert "discarding 1 scored video(s), scoring them again: no manifest.json" in res.stderr
    again = read_results(tmp_path / "again.pkl")
    for k in results:
        np.testing.assert_allclose(again[k].act_scores, results[k].act_scores, atol=1e-6)


# --------------------------------------------------------------------------- ssn_test.py's per-video resume


class Killed(Exception):
    """Stands for a kill of ssn_test.py between two videos."""


def run_ssn_test(monkeypatch, plist, ckpt, out, *flags, kill_after=None) -> list[str]:
    """ssn_test.main in this process (CPU, no workers); returns the ids of the videos it scored.  With
    ``kill_after`` the run is killed once that many videos are saved."""
    import ssn_test

    real_save = getattr(ssn_test.Outputs.save, "real", ssn_test.Outputs.save)   # not an earlier call's wrapper
    scored = []

    def save(self, block, *outputs):
        if len(scored) == kill_after:
            raise Killed
        real_save(self, block, *outputs)
        scored.append(block.video_id)

    save.real = real_save
    monkeypatch.setattr(ssn_test.Outputs, "save", save)
    args = ssn_test.get_args_parser().parse_args(
        [str(a) for a in ("synthetic", "RGB", plist, ckpt, out, "--frame_interval", 3, *flags, "-j", 0,
                          "--device", "cpu")])
    if kill_after is None:
        assert ssn_test.main(args) == 0
    else:
        with pytest.raises(Killed):
            ssn_test.main(args)
    return scored


def save_ssn_checkpoint(path, seed):
    """An untrained tiny SSN checkpoint (scoring needs no training); ``seed`` draws its weights."""
    model = make_model((2, 5, 2), [1, [1, 2], 1], k=5, seed=seed)
    extra = {"reg_stats": [[0.1, -0.2], [0.5, 0.7]], "input_spec": data_spec(BackboneConfig.from_dict(BACKBONE),
                                                                              flip=False)}
    save_checkpoint(path, model, None, 1, model.config(), TrainConfig(), [], extra)
    return path


@pytest.fixture(scope="module")
def scoring(tiny_dataset, tiny_frames, tmp_path_factory):
    """The tiny test videos' sliding windows, the same list with other bounds for the first video, two
    checkpoints of different weights, and the result of a fresh (never killed) run per setting."""
    import gen_sliding_window_proposals

    out = tmp_path_factory.mktemp("ssn_test_resume")
    plist = out / "test.txt"
    assert gen_sliding_window_proposals.main(gen_sliding_window_proposals.get_args_parser().parse_args(
        [str(a) for a in ("synthetic", "test", plist, "--annotations", tiny_dataset / "annotations",
                          "--frame_path", tiny_frames)])) == 0
    blocks = read_proposal_list(plist)
    first = blocks.videos[0]
    first.bounds = first.bounds.copy()
    first.bounds[:, 1] = np.minimum(first.bounds[:, 1] + 3, first.num_frames)     # same count, other ends
    write_proposal_list(out / "moved.txt", blocks)
    setup = {"list": plist, "moved": out / "moved.txt", "a": save_ssn_checkpoint(out / "a.pth", 0),
             "b": save_ssn_checkpoint(out / "b.pth", 1), "ids": [b.video_id for b in blocks.videos]}
    fresh = {}
    with pytest.MonkeyPatch.context() as mp:
        for name, (lst, ckpt, flags) in {"a": ("list", "a", []), "b": ("list", "b", []),
                                         "interval": ("list", "a", ["--frame_interval", 2]),
                                         "moved": ("moved", "a", [])}.items():
            run_ssn_test(mp, setup[lst], setup[ckpt], out / f"{name}.pkl", *flags)
            fresh[name] = read_results(out / f"{name}.pkl")
    return {**setup, "fresh": fresh}


def assert_same_results(got, want):
    assert list(got) == list(want)
    for key in want:
        for x, y in zip(got[key].as_tuple(), want[key].as_tuple()):
            np.testing.assert_array_equal(x, y)


def test_ssn_test_resumes_from_the_parts_of_a_killed_run(scoring, monkeypatch, tmp_path):
    out, parts = tmp_path / "r.pkl", tmp_path / "r.pkl.parts"
    assert run_ssn_test(monkeypatch, scoring["list"], scoring["a"], out, kill_after=2) == scoring["ids"][:2]
    kept = {p.name: p.stat().st_mtime_ns for p in parts.glob("*.npz")}
    assert sorted(kept) == [f"{v}.npz" for v in scoring["ids"][:2]] and (parts / "manifest.json").is_file()
    # 10 mirrored crops are refused for this no-flip model before any part is judged stale
    with pytest.raises(InputError, match="a.pth was trained without flips.*--num_crops 1 or 5"):
        run_ssn_test(monkeypatch, scoring["list"], scoring["a"], out, "--num_crops", 10)
    assert run_ssn_test(monkeypatch, scoring["list"], scoring["a"], out, kill_after=1) == scoring["ids"][2:3]
    assert {p.name: p.stat().st_mtime_ns for p in parts.glob("*.npz") if p.name in kept} == kept   # untouched
    assert run_ssn_test(monkeypatch, scoring["list"], scoring["a"], out) == scoring["ids"][3:]
    assert_same_results(read_results(out), scoring["fresh"]["a"])
    assert not parts.exists()


@pytest.mark.parametrize("change", ["checkpoint", "frame_interval", "list"])
def test_ssn_test_rescores_parts_of_other_settings(scoring, monkeypatch, tmp_path, caplog, change):
    """A killed run re-run with another checkpoint, frame interval or list gives the fresh run's result."""
    out, ids = tmp_path / "r.pkl", scoring["ids"]
    assert run_ssn_test(monkeypatch, scoring["list"], scoring["a"], out, kill_after=2) == ids[:2]
    plist, ckpt, flags, fresh, want_scored, message = {
        "checkpoint": (scoring["list"], scoring["b"], [], "b", ids,
                       f"checkpoint {scoring['a']} -> {scoring['b']} (weights, config or statistics)"),
        "frame_interval": (scoring["list"], scoring["a"], ["--frame_interval", 2], "interval", ids,
                           "frame_interval 3 -> 2"),
        "list": (scoring["moved"], scoring["a"], [], "moved", [ids[0], *ids[2:]],
                 f"{ids[0]}: scoring again: its proposals or frame folder changed")}[change]
    assert run_ssn_test(monkeypatch, plist, ckpt, out, *flags) == want_scored
    assert message in caplog.text
    got, before = read_results(out), scoring["fresh"]["a"]
    assert_same_results(got, scoring["fresh"][fresh])
    key = next(iter(got))                             # the stale part held other scores: the test can fail
    assert np.abs(got[key].act_scores - before[key].act_scores).max() > 1e-3


def test_ssn_test_rescores_a_part_with_other_proposals(scoring, monkeypatch, tmp_path, caplog):
    out, ids = tmp_path / "r.pkl", scoring["ids"]
    assert run_ssn_test(monkeypatch, scoring["list"], scoring["a"], out, kill_after=2) == ids[:2]
    part = tmp_path / "r.pkl.parts" / f"{ids[0]}.npz"
    r = load_video_result(part)
    n = len(r.rel_props)
    save_video_result(part, type(r)(r.rel_props[1:], r.act_scores[1:] + 100, r.comp_scores[1:], r.reg_scores[1:]))
    assert run_ssn_test(monkeypatch, scoring["list"], scoring["a"], out) == [ids[0], *ids[2:]]
    assert f"{ids[0]}: scoring again: its part holds {n - 1} proposals, the list {n}" in caplog.text
    assert_same_results(read_results(out), scoring["fresh"]["a"])
