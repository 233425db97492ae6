"""Snippet-feature files (ops/formats/features.py): records, time of rows, streams, rescaling, published layouts."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ops.errors import InputError
from ops.formats import features as ff


def _record(video="vid", stream="RGB", num_rows=5, dim=3, **kw) -> ff.FeatureRecord:
    base = dict(fps=30.0, num_frames=80, first_frame=0.0, stride=16.0, snippet_frames=16, centre=8.0)
    return ff.FeatureRecord(video=video, stream=stream, num_rows=num_rows, dim=dim, **{**base, **kw})


def _array(rows=5, dim=3, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)


# --------------------------------------------------------------------------- our layout


def test_record_round_trip(tmp_path):
    rec = _record(backbone="tiny", checkpoint="ab12", input_size=112, crops=2, extra={"note": [1, 2]})
    x = _array()
    ff.write_features(tmp_path, x, rec)
    assert ff.feature_path(tmp_path, "RGB", "vid") == tmp_path / "RGB" / "vid.npy"
    y, back = ff.read_features(tmp_path, "RGB", "vid")
    assert back == rec and y.dtype == np.float32
    np.testing.assert_array_equal(y, x)
    assert ff.read_record(tmp_path, "RGB", "vid") == rec
    assert sorted(p.name for p in (tmp_path / "RGB").iterdir()) == ["vid.json", "vid.npy"]  # no temp files


def test_write_refuses_shape_not_matching_record(tmp_path):
    with pytest.raises(InputError, match="does not match its record"):
        ff.write_features(tmp_path, _array(rows=4), _record())
    assert not (tmp_path / "RGB" / "vid.json").exists()


def _write_raw(tmp_path, array, record: dict):
    (tmp_path / "RGB").mkdir(exist_ok=True)
    np.save(tmp_path / "RGB" / "vid.npy", array)
    (tmp_path / "RGB" / "vid.json").write_text(json.dumps(record))


@pytest.mark.parametrize("array, change, match", [
    (np.zeros((5, 3), np.int64), {}, "must be a float array"),
    (np.zeros((5, 3, 1), np.float32), {}, "must be 2-D"),
    (np.zeros((4, 3), np.float32), {}, "does not match its record"),
    (np.full((5, 3), np.nan, np.float32), {}, "non-finite value .* row 0"),
    (np.zeros((5, 3), np.float32), {"stride": "16"}, "'stride' must be a finite number > 0"),
    (np.zeros((5, 3), np.float32), {"num_rows": 5.0}, "'num_rows' must be an integer"),
    (np.zeros((5, 3), np.float32), {"stream": "rgb"}, "'stream' must be one of"),
    (np.zeros((5, 3), np.float32), {"fps": None}, "'fps' must be"),
    (np.zeros((5, 3), np.float32), {"bogus": 1}, "unknown feature record field"),
    (np.zeros((5, 3), np.float32), {"video": "other"}, "record is for other"),
])
def test_read_refuses_bad_files(tmp_path, array, change, match):
    _write_raw(tmp_path, array, {**_record().to_dict(), **change})
    with pytest.raises(InputError, match=match) as err:
        ff.read_features(tmp_path, "RGB", "vid")
    assert str(tmp_path / "RGB" / "vid.") in str(err.value)


def test_read_refuses_missing_fields_and_files(tmp_path):
    rec = _record().to_dict()
    del rec["centre"]
    _write_raw(tmp_path, np.zeros((5, 3), np.float32), rec)
    with pytest.raises(InputError, match="vid.json: feature record lacks centre"):
        ff.read_record(tmp_path, "RGB", "vid")
    with pytest.raises(InputError, match="Flow/vid.json: no feature record"):
        ff.read_features(tmp_path, "Flow", "vid")
    (tmp_path / "RGB" / "vid.json").write_text(json.dumps(_record().to_dict()))
    (tmp_path / "RGB" / "vid.npy").unlink()   # a record without its array
    with pytest.raises(InputError, match="vid.npy: feature file missing"):
        ff.read_features(tmp_path, "RGB", "vid")
    (tmp_path / "RGB" / "vid.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="must be a JSON object"):
        ff.read_record(tmp_path, "RGB", "vid")


# --------------------------------------------------------------------------- rows <-> seconds


def test_rows_to_seconds_activitynet_tsn():
    # BSN: fps = duration_frame / duration_second, snippet k at st/2 + k st with st = 16 / fps
    rec = _record(fps=25.0)
    np.testing.assert_allclose(ff.rows_to_seconds(rec, [0, 1, 4]), [8 / 25, 24 / 25, 72 / 25])
    np.testing.assert_allclose(ff.seconds_to_rows(rec, [8 / 25, 24 / 25, 1.0]), [0, 1, (25 - 8) / 16])


def test_rows_to_seconds_decouple_ssad():
    # Row i of a window starting at frame 0 reads img_{4i+2} (1-based) = 0-based frame 4i+1, which covers
    # [4i+1, 4i+2) / fps: its middle is (4i + 1.5) / fps
    rec = _record(fps=30.0, first_frame=1.0, stride=4.0, snippet_frames=1, centre=0.5)
    np.testing.assert_allclose(ff.rows_to_seconds(rec, [0, 1, 127]), [1.5 / 30, 5.5 / 30, 509.5 / 30])
    rows = np.array([0.0, 2.5, 127.0])
    np.testing.assert_allclose(ff.seconds_to_rows(rec, ff.rows_to_seconds(rec, rows)), rows)


# --------------------------------------------------------------------------- geometry and streams


def test_geometry_of_and_check_geometry():
    rec = _record(backbone="tiny")
    geo = ff.geometry_of(rec)
    assert not set(ff.PER_VIDEO_FIELDS) & set(geo) and geo["stride"] == 16.0 and geo["backbone"] == "tiny"
    ff.check_geometry(geo, _record(video="other", num_rows=9, fps=25.0, num_frames=150, backbone="tiny"), "x")
    with pytest.raises(InputError, match="ckpt.pt: features of vid \\(RGB\\) have stride = 4.0, .* 16.0"):
        ff.check_geometry(geo, _record(stride=4.0, backbone="tiny"), "ckpt.pt")
    with pytest.raises(InputError, match="backbone = 'other'"):
        ff.check_geometry(geo, _record(backbone="other"), "ckpt.pt")


def test_concat_streams_rgb_first_and_refuses_other_geometry(tmp_path):
    rgb, flow = _array(dim=2), _array(dim=3, seed=1)
    ff.write_features(tmp_path, rgb, _record(dim=2, backbone="tsn"))
    ff.write_features(tmp_path, flow, _record(stream="Flow", snippet_frames=5, backbone="tsn"))
    x, rec = ff.read_two_stream(tmp_path, "vid")
    np.testing.assert_array_equal(x, np.concatenate([rgb, flow], axis=1))
    assert (rec.stream, rec.dim, rec.backbone) == ("RGB+Flow", 5, "tsn")
    assert rec.extra["streams"]["Flow"]["snippet_frames"] == 5
    np.testing.assert_allclose(ff.rows_to_seconds(rec, [1]), [24 / 30])
    x1, rec1 = ff.read_two_stream(tmp_path, "vid", streams=("Flow",))
    np.testing.assert_array_equal(x1, flow)
    with pytest.raises(InputError, match="differ in stride"):
        ff.concat_streams((rgb, _record(dim=2)), (flow, _record(stream="Flow", stride=8.0)))
    with pytest.raises(InputError, match="differ in first_frame \\+ centre"):
        ff.concat_streams((rgb, _record(dim=2)), (flow, _record(stream="Flow", centre=2.5)))
    with pytest.raises(InputError, match="differ in num_rows"):
        ff.concat_streams((rgb, _record(dim=2)), (flow[:4], _record(stream="Flow", num_rows=4)))


# --------------------------------------------------------------------------- rescaling (hand-computed)


def test_rescale_bsn_hand_computed():
    # fps 16 -> st = 1 s, centres 0.5, 1.5, 2.5, 3.5; corrected_second = 16 * 4 / 160 * 10 = 4 s
    x = np.array([[0.0], [10.0], [20.0], [30.0]])
    out = ff.rescale_features(x, 2, "bsn", duration_frame=160, duration_second=10.0)
    # row 0: [0.5001, 2.0] -> 0.001, 7.5005, 15; row 1: [2.0, 3.4999] -> 15, 22.4995, 29.999
    np.testing.assert_allclose(out[:, 0], [7.5005, 22.4995], atol=1e-5)
    assert out.dtype == np.float32 and out.shape == (2, 1)


def test_rescale_bsn_rows_outside_snippet_centres_are_zero():
    # centres 0.5, 1.5; rows of 0.4 s: row 0 ends before 0.5, row 4 starts after 1.5
    x = np.array([[0.0, 1.0], [10.0, 1.0]])
    out = ff.rescale_features(x, 5, "bsn", duration_frame=32, duration_second=2.0)
    np.testing.assert_allclose(out[:, 0], [0, 1.5005, 5, 8.4995, 0], atol=1e-5)
    np.testing.assert_allclose(out[:, 1], [0, 1, 1, 1, 0], atol=1e-6)


def test_rescale_mmaction_hand_computed_and_differs_from_bsn():
    x = np.array([[0.0], [10.0], [20.0], [30.0]])
    out = ff.rescale_features(x, 2, "mmaction")
    # size = (3 - 2e-4) / 2 = 1.4999; row 0 samples 1e-4 + {0, 1/3, 2/3} * 1.4999
    size = 1.4999
    want = [10 * (1e-4 + size * (j + 1 / 3)) for j in range(2)]
    np.testing.assert_allclose(out[:, 0], want, atol=1e-5)
    np.testing.assert_allclose(out[:, 0], [5.00067, 19.99967], atol=1e-4)
    bsn = ff.rescale_features(x, 2, "bsn", duration_frame=160, duration_second=10.0)
    assert np.abs(out - bsn).max() > 1


def test_rescale_single_snippet_repeats_and_bad_arguments():
    x = np.array([[1.0, 2.0]])
    for recipe in ff.RECIPES:
        out = ff.rescale_features(x, 3, recipe, duration_frame=16, duration_second=1.0)
        np.testing.assert_array_equal(out, [[1, 2]] * 3)
    with pytest.raises(ValueError, match="needs duration_frame"):
        ff.rescale_features(np.zeros((3, 1)), 2, "bsn")
    with pytest.raises(ValueError, match="unknown rescale recipe"):
        ff.rescale_features(np.zeros((3, 1)), 2, "nearest")


def test_rescale_is_per_channel():
    # RGB and Flow pooled apart then concatenated = pooled together (MMAction2 pools them apart)
    x = _array(rows=7, dim=4).astype(np.float64)
    whole = ff.rescale_features(x, 5, "mmaction")
    parts = np.concatenate([ff.rescale_features(x[:, :2], 5, "mmaction"),
                            ff.rescale_features(x[:, 2:], 5, "mmaction")], axis=1)
    np.testing.assert_array_equal(whole, parts)


def test_rescaled_record_gives_row_centres():
    rec = _record(num_rows=4, fps=16.0, num_frames=160)
    bsn = ff.rescaled_record(rec, 2, "bsn")
    # rows split [0, 64] frames = [0, 4] s: centres 1 s and 3 s
    np.testing.assert_allclose(ff.rows_to_seconds(bsn, [0, 1]), [1.0, 3.0])
    assert bsn.num_rows == 2 and bsn.extra["rescale"]["recipe"] == "bsn"
    mm = ff.rescaled_record(rec, 2, "mmaction")
    # rows split source rows [1e-4, 3 - 1e-4] evenly; source row r is at (16 r + 8) / 16 s
    size = (3 - 2e-4) / 2
    want = [(16 * (1e-4 + (j + 0.5) * size) + 8) / 16 for j in range(2)]
    np.testing.assert_allclose(ff.rows_to_seconds(mm, [0, 1]), want)
    # two videos of different lengths rescaled alike have the same geometry
    other = ff.rescaled_record(_record(num_rows=9, num_frames=150), 2, "bsn")
    ff.check_geometry(ff.geometry_of(bsn), other, "ckpt")
