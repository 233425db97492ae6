"""bench/snippet_probe.py: row phases worked by hand, and the probe end to end on hand-made features (issue 21)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ops.formats.features import FeatureRecord, write_features
from tests.conftest import load_bench


@pytest.fixture(scope="module")
def probe():
    return load_bench("snippet_probe")


def test_row_phases_by_hand(probe):
    """An action at 1-3 s (path 0..1) and a 'start' distractor at 5-5.8 s showing the path's first 40 %.
    Fade 0.15.  Action: u = (t - 1) / 2; distractor: u = 0.4 (t - 5) / 0.8 = (t - 5) / 2."""
    t = np.array([0.5, 1.1, 1.29, 1.31, 2.0, 2.69, 2.71, 2.99, 3.0, 5.1, 5.29, 5.31, 5.79, 6.0])
    # u:          -     .05  .145  .155  .5    .845  .855  .995  out   .05   .145  .155  .395  out
    phases = probe.row_phases(t, np.array([1.0, 5.0]), np.array([3.0, 5.8]), np.array(["action", "start"]),
                              np.array([0.0, 0.0]), np.array([1.0, 0.4]), fade=0.15)
    P = probe
    assert phases.tolist() == [P.BACKGROUND, P.FADE_IN, P.FADE_IN, P.MIDDLE, P.MIDDLE, P.MIDDLE, P.FADE_OUT,
                               P.FADE_OUT, P.BACKGROUND, P.DISTRACTOR_FADE, P.DISTRACTOR_FADE, P.CUT, P.CUT,
                               P.BACKGROUND]
    # an 'end' distractor (path 0.6..1 over 0-2 s): u = 0.6 + 0.2 t; fades from u 0.85, i.e. t >= 1.25
    end = probe.row_phases(np.array([0.5, 1.2, 1.3]), np.array([0.0]), np.array([2.0]), np.array(["end"]),
                           np.array([0.6]), np.array([1.0]), fade=0.15)
    assert end.tolist() == [P.CUT, P.CUT, P.DISTRACTOR_FADE]
    assert probe.row_phases(np.array([1.0]), *(np.zeros(0),) * 2, np.array([], dtype=object),
                            *(np.zeros(0),) * 2).tolist() == [P.BACKGROUND]


def test_balanced_accuracy_averages_recalls(probe):
    # class 0: 3 of 4 right; class 1: 1 of 1; class 2 absent from the targets
    assert probe.balanced_accuracy(np.array([0, 0, 0, 1, 1]), np.array([0, 0, 0, 0, 1]), 3) == pytest.approx(0.875)


def _write_generation(root):
    """Two videos per subset, 10 fps, 100 frames; an action at 1-5 s and an 'end' distractor at 6-8 s (path
    0.6..1)."""
    videos = {}
    for subset in ("validation", "test"):
        for i in range(2):
            name = f"video_{subset}_{i}"
            videos[name] = {"subset": subset, "num_frames": 100, "fps": 10, "events": [
                {"start_frame": 10, "end_frame": 50, "label": 1, "kind": "action", "u0": 0.0, "u1": 1.0},
                {"start_frame": 60, "end_frame": 80, "label": 2, "kind": "end", "u0": 0.6, "u1": 1.0}]}
    gen = root / "generation.json"
    gen.write_text(json.dumps({"seed": 0, "preset": "tiny", "family": "motion", "classes": ["A", "B"],
                               "config": {}, "videos": videos}))
    return gen


def _write_features(root, probe, gen, informative):
    """A row every frame (row r stands for t = (r + 0.5) / 10): two noise columns, then the row's phase one-hot
    (times 5) when ``informative``, else six more noise columns."""
    rng = np.random.default_rng(0)
    record = probe.read_generation_events(gen)
    ev = record["events"]
    for video in record["videos"]:
        t = (np.arange(100) + 0.5) / 10
        mine = ev["video"] == video
        code = probe.row_phases(t, ev["t_start"][mine], ev["t_end"][mine], ev["kind"][mine], ev["u0"][mine],
                                ev["u1"][mine])
        x = rng.normal(size=(100, 2)).astype(np.float32)
        if informative:    # a linear probe separates any pair of phases
            x = np.concatenate([x, np.eye(6, dtype=np.float32)[code] * 5], axis=1)
        else:
            x = np.concatenate([x, rng.normal(size=(100, 6)).astype(np.float32)], axis=1)
        write_features(root, x, FeatureRecord(video=video, stream="Flow", num_rows=100, dim=x.shape[1], fps=10.0,
                                              num_frames=100, first_frame=0.0, stride=1.0, snippet_frames=1,
                                              centre=0.5))


@pytest.mark.parametrize("informative", [True, False])
def test_probe_finds_phases_only_in_features_that_hold_them(probe, tmp_path, capsys, informative):
    gen = _write_generation(tmp_path)
    _write_features(tmp_path / "features", probe, gen, informative)
    assert probe.main(probe.get_args_parser().parse_args([str(tmp_path / "features"), "Flow", "--generation",
                                                          str(gen)])) == 0
    out = capsys.readouterr().out
    # rows per phase: action 1-5 s = 40 rows: fade-in u < .15 -> 6, fade-out u >= .85 -> 6, middle 28;
    # distractor 6-8 s, rows 60-79: u = 0.6 + 0.02 (row - 59.5), at least .85 from row 72 -> cut 12, its fade 8
    assert "fade-in 12/12, middle 56/56, fade-out 12/12, cut 24/24, distractor fade 16/16" in out
    rows = {line[:30].strip(): [float(v) for v in line[30:].split()] for line in out.splitlines()[2:]}
    assert set(rows) == {"fade-in / middle / fade-out", "middle / cut", "fade-out / cut"}
    for task, (chance, train, test) in rows.items():
        if informative:
            assert train == test == 1.0, task
        else:    # noise: no better than chance plus a margin on the held-out videos
            assert test < chance + 0.25, task
