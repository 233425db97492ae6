"""The snippet-feature dataset: windows, repeated tail rows, streams, window fractions, rescaling, checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ops.errors import InputError
from ops.formats.features import FeatureRecord, feature_path, write_features
from ops.train.feature_dataset import (FeatureDataset, FeatureItem, require_features, streams_of, take_rows,
                                       window_fractions, window_seconds, window_starts)


def record(video, stream, rows, dim, fps=10.0, stride=4.0, first_frame=0.0, centre=2.0):
    return FeatureRecord(video=video, stream=stream, num_rows=rows, dim=dim, fps=fps,
                         num_frames=int(first_frame + rows * stride), first_frame=first_frame, stride=stride,
                         snippet_frames=int(stride), centre=centre, backbone="tiny")


def write(root, video, rows, rgb_dim=2, flow_dim=3, streams=("RGB", "Flow"), **geometry):
    """RGB row r = [r, r + 0.5, ...] (value = row + channel/2); Flow row r = -(r + channel / 2)."""
    for stream, dim, sign in (("RGB", rgb_dim, 1), ("Flow", flow_dim, -1)):
        if stream in streams:
            x = sign * (np.arange(rows)[:, None] + np.arange(dim)[None, :] / 2).astype(np.float32)
            write_features(root, x, record(video, stream, rows, dim, **geometry))


def test_window_past_the_end_repeats_the_last_row(tmp_path):
    write(tmp_path, "v", 5)
    ds = FeatureDataset(tmp_path, ("RGB",), [("v", 3, 4)])
    x, index = ds[0]
    assert index == 0 and x.dtype == torch.float32 and x.shape == (2, 4)      # [C, T]
    assert x[0].tolist() == [3, 4, 4, 4] and x[1].tolist() == [3.5, 4.5, 4.5, 4.5]
    assert take_rows(np.arange(3)[:, None], 0, 2).ravel().tolist() == [0, 1]


def test_two_streams_are_concatenated_rgb_first(tmp_path):
    write(tmp_path, "v", 4)
    x, _ = FeatureDataset(tmp_path, streams_of("RGB+Flow"), [FeatureItem("v")])[0]
    assert x.shape == (5, 4)
    assert x[:, 1].tolist() == [1, 1.5, -1, -1.5, -2]
    assert FeatureDataset(tmp_path, ("Flow",), [FeatureItem("v")])[0][0].shape == (3, 4)
    with pytest.raises(InputError, match="streams 'both'"):
        streams_of("both")


def test_ground_truth_in_window_fractions_and_seconds(tmp_path):
    # fps 10, stride 4, centre 2: row r at (4 r + 2) / 10 s; window rows [2, 7) spans rows 1.5 .. 6.5 = 0.8 .. 2.8 s
    write(tmp_path, "v", 10)
    seen = []

    def target_fn(truth):
        seen.append(truth)
        return torch.tensor(truth.fractions, dtype=torch.float32), len(truth.labels)

    gt = {"v": (np.array([[1.3, 2.3], [0.0, 0.8]]), np.array([3, 1]))}
    ds = FeatureDataset(tmp_path, ("RGB",), [("v", 2, 5)], target_fn, ground_truth=gt)
    x, fractions, count, index = ds[0]
    assert count == 2 and index == 0 and x.shape == (2, 5)
    assert np.allclose(fractions, [[0.25, 0.75], [-0.4, 0.0]])
    truth = seen[0]
    assert truth.window_seconds.tolist() == pytest.approx([0.8, 2.8]) and truth.labels.tolist() == [3, 1]
    assert truth.seconds.tolist() == [[1.3, 2.3], [0.0, 0.8]] and truth.record.num_rows == 10
    # row i's instant sits at (i + 0.5) / T of its window
    rec = truth.record
    assert window_fractions(rec, 2, 5, (4 * np.arange(2, 7) + 2) / 10).tolist() == pytest.approx(
        (np.arange(5) + 0.5) / 5)
    assert window_seconds(rec, 0, 10).tolist() == pytest.approx([0.0, 4.0])


def test_video_without_ground_truth_and_batches(tmp_path):
    write(tmp_path, "a", 6)
    write(tmp_path, "b", 3)
    ds = FeatureDataset(tmp_path, ("RGB", "Flow"), [("a", 0, 4), ("b", 0, 4)],
                        lambda t: torch.tensor(len(t.labels)), ground_truth={"a": ([[0.1, 0.5]], [2])})
    x, counts, index = next(iter(DataLoader(ds, batch_size=2)))
    assert x.shape == (2, 5, 4) and counts.tolist() == [1, 0] and index.tolist() == [0, 1]
    assert x[1, 0].tolist() == [0, 1, 2, 2]


def test_rescaled_whole_video_uses_bsn_corrected_seconds(tmp_path):
    # 10 snippets of 16 frames at 25 fps: corrected_second = 160 / 25 = 6.4 s; ground truth t / 6.4
    write(tmp_path, "v", 10, fps=25.0, stride=16.0, centre=8.0)
    ds = FeatureDataset(tmp_path, ("RGB", "Flow"), [("v", 0, 100)], lambda t: t.fractions,
                        ground_truth={"v": ([[1.6, 3.2]], [1])}, rescale=(100, "bsn"))
    x, fractions, _ = ds[0]
    assert x.shape == (5, 100) and np.allclose(fractions, [[0.25, 0.5]])
    # a ramp stays a ramp: row i averages the snippet positions over its span (clamped to the centres)
    assert x[0, 50].item() == pytest.approx((50.5 / 100 * 6.4 - 0.32) / 0.64, abs=1e-4)
    assert x[2, 50].item() == pytest.approx(-x[0, 50].item())


def test_mmaction_rescale_hand_worked(tmp_path):
    # L = 5 rows valued 0..4 to 2 rows: points 1e-4 + size (j + k/3), size = (4 - 2e-4) / 2
    write(tmp_path, "v", 5, streams=("RGB",))
    x, _ = FeatureDataset(tmp_path, ("RGB",), [("v", 0, None)], rescale=(2, "mmaction"))[0]
    size = (4 - 2e-4) / 2
    assert x[0].tolist() == pytest.approx([1e-4 + size / 3, 1e-4 + size * 4 / 3], abs=1e-6)


def test_features_are_read_once(tmp_path, monkeypatch):
    import ops.train.feature_dataset as fd

    write(tmp_path, "v", 5)
    ds = FeatureDataset(tmp_path, ("RGB",), [("v", 0, 2), ("v", 2, 2)]).preload()
    monkeypatch.setattr(fd, "read_two_stream", lambda *a, **k: pytest.fail("read again"))
    assert ds[1][0][0].tolist() == [2, 3] and ds[0][0][0].tolist() == [0, 1]


def test_missing_features_are_named_in_one_error(tmp_path):
    write(tmp_path, "ok", 4)
    write(tmp_path, "no_flow", 4, streams=("RGB",))
    write(tmp_path, "partial", 4)
    feature_path(tmp_path, "RGB", "partial").with_suffix(".json").unlink()    # a kill left only the .npy
    with pytest.raises(InputError, match=r"4 video/stream pair\(s\): no_flow \(Flow\), partial \(RGB\), "
                                         r"absent \(RGB\)") as e:
        require_features(tmp_path, ["ok", "no_flow", "partial", "absent"], ("RGB", "Flow"))
    assert "absent (Flow)" in str(e.value)
    require_features(tmp_path, ["ok", "no_flow"], ("RGB",))
    with pytest.raises(InputError, match="no_flow"):
        FeatureDataset(tmp_path, ("RGB", "Flow"), [("ok", 0, 2), ("no_flow", 0, 2)])


def test_mixed_geometry_and_bad_windows_are_refused(tmp_path):
    write(tmp_path, "a", 6)
    write(tmp_path, "b", 6, stride=8.0, centre=4.0)
    with pytest.raises(InputError, match="features of b .* have stride = 8.0, the checkpoint was trained on 4.0"):
        FeatureDataset(tmp_path, ("RGB",), [("a", 0, 2), ("b", 0, 2)])
    ds = FeatureDataset(tmp_path, ("RGB",), [("b", 0, 2)])
    assert ds.geometry["stride"] == 8.0 and "video" not in ds.geometry
    with pytest.raises(InputError, match="stride"):
        FeatureDataset(tmp_path, ("RGB",), [("b", 0, 2)], geometry=FeatureDataset(tmp_path, ("RGB",), [("a",)]).geometry)
    with pytest.raises(InputError, match="a: window start row 6 is outside its 6 feature rows"):
        FeatureDataset(tmp_path, ("RGB",), [("a", 6, 2)])


def test_window_starts():
    assert window_starts(10, 4, 3).tolist() == [0, 3, 6]
    assert window_starts(11, 4, 3).tolist() == [0, 3, 6, 7]      # one more window ends at the last row
    assert window_starts(3, 4, 2).tolist() == [0]
    assert window_starts(4, 4, 2).tolist() == [0]
    with pytest.raises(ValueError):
        window_starts(4, 0, 2)
