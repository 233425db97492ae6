"""Snippet-feature files (ops/formats/features.py): records, time of rows, streams, rescaling, published layouts."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ops.errors import InputError, run_main
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


def test_extraction_settings_of_a_stored_geometry_hand_worked():
    """What detect.py passes to extract_features.py to remake a checkpoint's features: the offset is
    first_frame + centre of each stream (Decouple-SSAD: RGB 1 + 0.5, Flow -1 + 2.5, both 1.5)."""
    rgb = _record(first_frame=1.0, stride=4.0, snippet_frames=1, centre=0.5, backbone="tiny", checkpoint="abc",
                  extra={"resize": "full", "flow_shift": 1})
    flow = _record(stream="Flow", first_frame=-1.0, stride=4.0, snippet_frames=5, centre=2.5, backbone="tiny",
                   checkpoint="def", crops=10, extra={"resize": "full", "flow_shift": 1})
    assert ff.feature_extraction_settings(ff.geometry_of(rgb)) == {
        "stride": 4.0, "offset": 1.5, "flow_shift": 1, "resize": "full", "num_crops": 1, "output_kind": "pool",
        "checkpoint": "abc"}
    assert ff.feature_extraction_settings(ff.geometry_of(flow))["offset"] == 1.5
    # two streams read together, rescaled to 4 rows: each stream's own source geometry
    _, both = ff.concat_streams((_array(rows=5, dim=2), rgb.replace(dim=2)), (_array(rows=5), flow))
    stored = ff.geometry_of(ff.rescaled_record(both, 4))
    per_stream = ff.stream_geometries(stored)
    assert sorted(per_stream) == ["Flow", "RGB"]
    assert ff.feature_extraction_settings(per_stream["RGB"])["checkpoint"] == "abc"
    assert ff.feature_extraction_settings(per_stream["Flow"])["num_crops"] == 10
    assert ff.stream_geometries(ff.geometry_of(rgb)) == {"RGB": ff.geometry_of(rgb)}
    with pytest.raises(InputError, match="'csv_mean_100' features, which extract_features.py does not make"):
        ff.feature_extraction_settings(ff.geometry_of(rgb.replace(source="csv_mean_100")))


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


def _bsn_loop(x, num_rows, duration_frame, duration_second, snippet_frames=16):
    """BSN's recipe written as the spec reads, one row at a time (reference for the vectorised one)."""
    length = len(x)
    st = snippet_frames / (duration_frame / duration_second)
    centres = [st / 2 + k * st for k in range(length)]
    corrected = snippet_frames * length / duration_frame * duration_second
    out = []
    for i in range(num_rows):
        lo = max(centres[0] + 1e-4, i / num_rows * corrected)
        hi = min(centres[-1] - 1e-4, (i + 1) / num_rows * corrected)
        if hi < centres[0] or lo > centres[-1]:
            out.append(np.zeros(x.shape[1]))
            continue
        pts = [lo + (hi - lo) / 2 * k for k in range(3)]
        out.append(np.mean([[np.interp(p, centres, x[:, c]) for c in range(x.shape[1])] for p in pts], axis=0))
    return np.array(out)


def _mmaction_loop(x, num_rows):
    start, end = 1e-4, len(x) - 1 - 1e-4
    size = (end - start) / num_rows
    idx = np.arange(len(x))
    return np.array([np.mean([[np.interp(start + j * size + k * size / 3, idx, x[:, c]) for c in range(x.shape[1])]
                              for k in range(3)], axis=0) for j in range(num_rows)])


@pytest.mark.parametrize("length, num_rows", [(2, 7), (5, 100), (37, 100), (130, 100), (400, 100)])
def test_rescale_matches_reference_loops(length, num_rows):
    x = _array(rows=length, dim=3, seed=length).astype(np.float64)
    frames, seconds = 16 * length + 5, (16 * length + 5) / 29.97
    np.testing.assert_allclose(ff.rescale_features(x, num_rows, "bsn", frames, seconds),
                               _bsn_loop(x, num_rows, frames, seconds), atol=1e-5)
    np.testing.assert_allclose(ff.rescale_features(x, num_rows, "mmaction"), _mmaction_loop(x, num_rows), atol=1e-5)


# --------------------------------------------------------------------------- published layouts

ANET_JSON = {"v_abc": {"duration_second": 10.0, "duration_frame": 300, "feature_frame": 288,
                       "annotations": [{"segment": [1.0, 2.0], "label": "Ballet"}]},
             "v_def": {"duration_second": 5.0, "duration_frame": 150, "annotations": []}}
VIDEO_INFO_CSV = ("video,numFrame,seconds,fps,rfps,subset,featureFrame\n"
                  "v_abc,300,10.0,30.0,29.97,training,288\n"
                  "v_def,150,5.0,30.0,29.97,validation,144\n")
CSV_MEAN_100 = "f0,f1,f2,f3\n0.1000,0.2000,-0.3000,0.4000\n1.0000,2.0000,3.0000,4.5000\n"


def test_read_video_info_layouts(tmp_path):
    (tmp_path / "anno.json").write_text(json.dumps(ANET_JSON))
    (tmp_path / "video_info.csv").write_text(VIDEO_INFO_CSV)
    (tmp_path / "af.json").write_text(json.dumps({"database": {"video_test_1": {
        "subset": "test", "duration": 12.5, "fps": 25.0, "annotations": []}}}))
    a = ff.read_video_info(tmp_path / "anno.json")
    assert a["v_abc"] == ff.VideoInfo(duration_frame=300, duration_second=10.0, feature_frame=288)
    assert a["v_def"].feature_frame is None
    c = ff.read_video_info(tmp_path / "video_info.csv")
    assert c["v_def"] == ff.VideoInfo(duration_frame=150, duration_second=5.0, feature_frame=144)
    assert ff.read_video_info(tmp_path / "af.json")["video_test_1"] == ff.VideoInfo(duration_second=12.5, fps=25.0)
    assert ff.lookup_video(a, "abc", "x") is a["v_abc"]
    with pytest.raises(InputError, match="anno: video zzz is not in the annotation file"):
        ff.lookup_video(a, "zzz", "anno")
    (tmp_path / "bad.csv").write_text(VIDEO_INFO_CSV.replace("v_def,150", "v_def,-3"))
    with pytest.raises(InputError, match="bad.csv:3: duration_frame must be a number > 0"):
        ff.read_video_info(tmp_path / "bad.csv")


def test_read_video_info_real_files(shared_data):
    anet = shared_data / "activitynet1.3"
    csv_info = ff.read_video_info(anet / "video_info_new.csv")
    assert csv_info["v_---9CpRcKoU"] == ff.VideoInfo(duration_frame=418, duration_second=14.07, feature_frame=400)
    json_info = ff.read_video_info(anet / "anet_anno_action.json")
    assert json_info["v_QOlSCBRmfWY"] == ff.VideoInfo(duration_frame=2067, duration_second=82.73, feature_frame=2064)


def test_csv_mean_100_read_in_published_layout(tmp_path):
    path = tmp_path / "v_abc.csv"
    path.write_text(CSV_MEAN_100)
    info = ff.VideoInfo(duration_frame=300, duration_second=10.0, feature_frame=288)
    x, rec = ff.read_csv_mean_100(path, info)
    np.testing.assert_allclose(x, [[0.1, 0.2, -0.3, 0.4], [1, 2, 3, 4.5]], atol=1e-7)
    assert (rec.video, rec.stream, rec.num_rows, rec.dim, rec.source) == ("v_abc", "RGB+Flow", 2, 4, "csv_mean_100")
    assert (rec.fps, rec.num_frames, rec.backbone, rec.output) == (30.0, 300, "cuhk_tsn", "scores")
    # BSN: 2 rows split [0, feature_frame = 288] frames -> centres at frames 72 and 216
    np.testing.assert_allclose(ff.rows_to_seconds(rec, [0, 1]), [72 / 30, 216 / 30])
    # no feature_frame: BMN's duration_frame // 16 * 16 = 288 as well
    _, rec2 = ff.read_csv_mean_100(path, ff.VideoInfo(duration_frame=300, duration_second=10.0))
    assert rec2 == rec
    # MMAction2-made files: rows split source snippets [1e-4, L - 1 - 1e-4], L = 18, snippet r at 16 r + 8
    _, mm = ff.read_csv_mean_100(path, info, recipe="mmaction")
    size = (17 - 2e-4) / 2
    np.testing.assert_allclose(ff.rows_to_seconds(mm, [0, 1]),
                               [(8 + 16 * (1e-4 + (j + 0.5) * size)) / 30 for j in range(2)])


@pytest.mark.parametrize("text, match", [
    ("", "empty file"),
    ("a,b\n1,2\n", ":1: header must be f0,f1"),
    ("f0,f1\n", "no feature rows"),
    ("f0,f1\n1,2\n1,x\n", "line 3: 'x' is not a number"),
    ("f0,f1\n1,2\n1,2,3\n", "line 3: 3 values, expected 2"),
    ("f0,f1\n1,2\n1,nan\n", "v_abc.csv:3: non-finite value"),
])
def test_csv_mean_100_refuses_bad_files(tmp_path, text, match):
    (tmp_path / "v_abc.csv").write_text(text)
    with pytest.raises(InputError, match=match):
        ff.read_csv_mean_100(tmp_path / "v_abc.csv", ff.VideoInfo(duration_frame=300, duration_second=10.0))
    with pytest.raises(InputError, match="no duration_frame"):
        ff.read_csv_mean_100(tmp_path / "v_abc.csv", ff.VideoInfo(duration_second=10.0))


def test_csv_mean_100_writer_layout(tmp_path):
    path = ff.write_csv_mean_100(tmp_path, "abc", np.array([[0.1, 0.2, -0.3, 0.4], [1, 2, 3, 4.5]]))
    assert path == tmp_path / "v_abc.csv"
    assert path.read_text() == CSV_MEAN_100


def test_actionformer_read_and_write(tmp_path):
    x = _array(rows=6, dim=4).astype(np.float64)       # published files are not always float32
    np.save(tmp_path / "video_test_1.npy", x)
    y, rec = ff.read_actionformer(tmp_path / "video_test_1.npy", "RGB+Flow", fps=30.0, stride=4, snippet_frames=16)
    np.testing.assert_allclose(y, x, rtol=1e-6)
    assert y.dtype == np.float32 and (rec.num_rows, rec.dim, rec.source) == (6, 4, "actionformer")
    # ActionFormer: row t at (t * feat_stride + num_frames / 2) / fps
    np.testing.assert_allclose(ff.rows_to_seconds(rec, [0, 5]), [8 / 30, 28 / 30])
    assert rec.num_frames == 36 and rec.extra == {"num_frames_estimated": True}
    _, rec2 = ff.read_actionformer(tmp_path / "video_test_1.npy", "RGB", fps=25.0, stride=4, snippet_frames=16,
                                   centre=0.0, num_frames=40)
    assert (rec2.centre, rec2.num_frames, rec2.extra) == (0.0, 40, {})
    out = ff.write_actionformer(tmp_path / "out", "video_test_1", y)
    np.testing.assert_array_equal(np.load(out), y)
    np.save(tmp_path / "ints.npy", np.zeros((3, 2), np.int32))
    with pytest.raises(InputError, match="ints.npy: features must be a float array"):
        ff.read_actionformer(tmp_path / "ints.npy", "RGB", fps=30.0, stride=4, snippet_frames=16)


# --------------------------------------------------------------------------- convert_features.py


def _convert(*argv) -> int:
    import convert_features

    return run_main(convert_features.main, convert_features.get_args_parser(), [str(a) for a in argv])


def _ours_two_streams(root, video="v_abc", rows=6):
    rgb, flow = _array(rows=rows, dim=2, seed=1), _array(rows=rows, dim=3, seed=2)
    geo = dict(num_rows=rows, fps=30.0, num_frames=300)
    ff.write_features(root, rgb, _record(video=video, dim=2, **geo))
    ff.write_features(root, flow, _record(video=video, stream="Flow", dim=3, **geo))
    return np.concatenate([rgb, flow], axis=1)


def test_convert_ours_to_csv_mean_100_and_back(tmp_path):
    x = _ours_two_streams(tmp_path / "ours")
    anno = tmp_path / "anno.json"
    anno.write_text(json.dumps({"v_abc": {"duration_second": 10.0, "duration_frame": 300, "feature_frame": 96}}))
    assert _convert(tmp_path / "ours", tmp_path / "csv", "--to", "csv_mean_100", "--num_rows", 4,
                    "--annotations", anno) == 0
    assert (tmp_path / "csv" / "v_abc.csv").read_text().startswith("f0,f1,f2,f3,f4\n")
    assert _convert(tmp_path / "csv", tmp_path / "back", "--from", "csv_mean_100", "--annotations", anno) == 0
    y, rec = ff.read_features(tmp_path / "back", "RGB+Flow", "v_abc")
    np.testing.assert_allclose(y, ff.rescale_features(x, 4, "bsn", 300, 10.0), atol=5e-5)   # 4 decimals
    # the record read back says what the rescaled one says: rows split [0, 16 * 6 = 96] frames
    want = ff.rescaled_record(ff.concat_streams(*(ff.read_features(tmp_path / "ours", s, "v_abc")
                                                  for s in ("RGB", "Flow")))[1], 4, "bsn")
    for key in ("num_rows", "dim", "fps", "num_frames", "first_frame", "stride", "centre", "snippet_frames"):
        assert getattr(rec, key) == pytest.approx(getattr(want, key)), key
    np.testing.assert_allclose(ff.rows_to_seconds(rec, np.arange(4)), (12 + 24 * np.arange(4)) / 30)


def test_convert_actionformer_two_streams_to_ours(tmp_path):
    for stream, seed in (("rgb", 1), ("flow", 2)):
        (tmp_path / stream).mkdir()
        np.save(tmp_path / stream / "video_test_1.npy", _array(rows=5, dim=2, seed=seed))
    anno = tmp_path / "af.json"
    anno.write_text(json.dumps({"database": {"video_test_1": {"duration": 2.0, "fps": 25.0}}}))
    assert _convert(tmp_path / "rgb", tmp_path / "ours", "--from", "actionformer", "--flow_src", tmp_path / "flow",
                    "--stride", 4, "--snippet_frames", 16, "--annotations", anno) == 0
    y, rec = ff.read_features(tmp_path / "ours", "RGB+Flow", "video_test_1")
    np.testing.assert_array_equal(y[:, 2:], _array(rows=5, dim=2, seed=2))
    assert (rec.fps, rec.num_frames, rec.stride, rec.centre) == (25.0, 50, 4.0, 8.0)


def test_convert_resumes_refuses_other_settings_and_reports_failures(tmp_path, capsys):
    src = tmp_path / "af"
    src.mkdir()
    for v in ("a", "b", "c"):
        np.save(src / f"{v}.npy", _array(rows=4, dim=2))
    np.save(src / "b.npy", np.zeros((4, 2), np.int64))            # a broken file: reported, the others done
    args = [src, tmp_path / "out", "--from", "actionformer", "--stream", "RGB", "--stride", 16,
            "--snippet_frames", 16, "--fps", 30]
    assert _convert(*args) == 1
    assert "1 of 3 video(s) failed" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out" / "RGB").iterdir()) == ["a.json", "a.npy", "c.json", "c.npy"]
    np.save(src / "b.npy", _array(rows=4, dim=2))
    mtime = (tmp_path / "out" / "RGB" / "a.npy").stat().st_mtime_ns
    assert _convert(*args) == 0                                   # resumes: b only
    assert (tmp_path / "out" / "RGB" / "a.npy").stat().st_mtime_ns == mtime
    assert ff.read_record(tmp_path / "out", "RGB", "b").num_rows == 4
    assert _convert(*args[:-1], 25) == 2                          # other settings refused
    assert "converted with other settings (fps); choose another output folder" in capsys.readouterr().err
    assert _convert(*args[:-1], 25, "--overwrite") == 0
    assert ff.read_record(tmp_path / "out", "RGB", "a").fps == 25.0


@pytest.mark.parametrize("extra, match", [
    (["--from", "actionformer", "--stream", "RGB"], "needs --stride and --snippet_frames"),
    (["--from", "csv_mean_100"], "needs --annotations"),
    (["--streams", "RGB", "RGB"], "--streams must be one of"),
    (["--to", "csv_mean_100"], "never rescaled; csv_mean_100 needs --num_rows"),
])
def test_convert_refuses_bad_flags(tmp_path, capsys, extra, match):
    _ours_two_streams(tmp_path / "ours")
    status = _convert(tmp_path / "ours", tmp_path / "out", *extra)
    assert status in (1, 2) and match in capsys.readouterr().err


def test_convert_refuses_outputs_it_did_not_make_and_rescaling_twice(tmp_path, capsys):
    x = _ours_two_streams(tmp_path / "ours")
    ff.write_features(tmp_path / "out", x, _record(video="v_abc", stream="RGB+Flow", num_rows=6, dim=5))
    assert _convert(tmp_path / "ours", tmp_path / "out") == 2
    assert "1 output(s) not made by convert_features.py (e.g. v_abc)" in capsys.readouterr().err
    assert _convert(tmp_path / "ours", tmp_path / "r1", "--num_rows", 3) == 0
    assert _convert(tmp_path / "r1", tmp_path / "r2", "--streams", "RGB+Flow", "--num_rows", 2) == 1
    assert "v_abc: already rescaled (bsn)" in capsys.readouterr().err
