"""extract_features.py and the snippet geometry: hand-worked rows, the record's times, resume, shards, failures."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from conftest import REPO, run_script
from ops.device import take_shard
from ops.formats.features import FeatureRecord, read_features, rows_to_seconds
from ops.video.snippets import GEOMETRIES, SnippetGeometry, geometry_from


def test_ssad_geometry_by_hand():
    """Decouple-SSAD: row i reads img_{4i+2} (1-based) = frame 4i + 1, and flow_{4i+1..4i+5} (1-based) = 4i..4i+4."""
    g = GEOMETRIES["ssad"]
    assert g.num_rows(10) == 2 and g.num_rows(3) == 1
    np.testing.assert_array_equal(g.frames(3, "RGB", 1)[:, 0], [1, 5, 9])
    np.testing.assert_array_equal(g.frames(2, "Flow", 5), [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8]])
    rec = FeatureRecord(video="v", stream="RGB", num_rows=3, dim=1, fps=30.0, num_frames=12, **g.record_fields("RGB", 1))
    assert (rec.first_frame, rec.stride, rec.snippet_frames, rec.centre) == (1.0, 4.0, 1, 0.5)
    np.testing.assert_allclose(rows_to_seconds(rec, [0, 2]), [1.5 / 30, 9.5 / 30])   # the middle of frames 1 and 9


def test_tsn_anet_geometry_by_hand():
    """ActivityNet "cuhk": 37 whole snippets of 16 frames in 600; RGB the centre frame 16t + 8, Flow 5 pairs
    16t + 6 .. 16t + 10; row t at (16 t + 8) / fps in both streams."""
    g = GEOMETRIES["tsn_anet"]
    assert g.num_rows(600) == 37
    np.testing.assert_array_equal(g.frames(2, "RGB", 1)[:, 0], [8, 24])
    np.testing.assert_array_equal(g.frames(1, "Flow", 5)[0], [6, 7, 8, 9, 10])
    for stream, length in (("RGB", 1), ("Flow", 5)):
        rec = FeatureRecord(video="v", stream=stream, num_rows=37, dim=1, fps=30.0, num_frames=600,
                            **g.record_fields(stream, length))
        np.testing.assert_allclose(rows_to_seconds(rec, [0, 36]), [8 / 30, (16 * 36 + 8) / 30])


def test_geometry_from_preset_flags_and_errors():
    assert geometry_from({"stride": 2}) == SnippetGeometry(2, 1.0, 0)
    assert geometry_from({"stride": 2}, stride=8, offset=None) == SnippetGeometry(8, 4.0, 0)
    assert geometry_from(None, "ssad") == GEOMETRIES["ssad"]
    from ops.errors import InputError
    with pytest.raises(InputError, match="no snippet stride"):
        geometry_from({})
    with pytest.raises(InputError, match="stride must be an integer >= 1"):
        SnippetGeometry(0, 1.0)


def test_shards_split_the_videos_disjointly():
    items = list(range(11))
    parts = [take_shard(items, (k, 3), r, 2) for k in (1, 2, 3) for r in (0, 1)]
    assert sorted(sum(parts, [])) == items and sum(len(p) for p in parts) == 11


def extract(frames, out, *flags, check=True):
    return run_script("extract_features.py", "synthetic", frames, out, "--arch", "tiny", "-j", 0, *flags, check=check)


@pytest.fixture(scope="module")
def one_run(tiny_frames, tmp_path_factory):
    out = tmp_path_factory.mktemp("features")
    torch.manual_seed(0)
    weights = out / "tiny_rgb.pth"
    from ops.models.backbones import BackboneConfig, build_backbone
    base, _ = build_backbone(BackboneConfig(arch="tiny", modality="RGB"))
    torch.save(base.state_dict(), weights)
    extract(tiny_frames, out / "all", "--modality", "RGB", "--pretrained", weights)
    return out, weights


def test_features_equal_the_backbone_on_the_same_frames(one_run, tiny_frames):
    """Row 3 of a video is frame floor(1 + 2 x 3) = 7 (0-based: img_00008.jpg), centre-cropped and normalised."""
    from ops.models.backbones import BackboneConfig, build_backbone, input_spec, load_pretrained
    from ops.train.dataset import FrameLoader
    from ops.train.transforms import eval_crops, normalize
    out, weights = one_run
    video = sorted(p.name for p in tiny_frames.iterdir() if p.is_dir())[0]
    x, rec = read_features(out / "all", "RGB", video)
    cfg = BackboneConfig(arch="tiny", modality="RGB", pretrained=None)
    base, _ = build_backbone(cfg)
    load_pretrained(base, str(weights), modality="RGB")
    base.eval()
    spec = input_spec(cfg)
    frames = FrameLoader("RGB", 1).read(tiny_frames / video, [7], 10 ** 6)
    with torch.no_grad():
        y = base(normalize(eval_crops(frames, spec["input_size"], spec["scale_size"], 1, "RGB")[:, 0].float(),
                           spec["mean"], spec["std"], spec.get("pixel_range", 255.0)))
    np.testing.assert_allclose(x[3], y[0].numpy(), atol=1e-5)
    assert rec.num_rows == rec.num_frames // 2 and rec.backbone == "tiny" and len(rec.checkpoint) > 0
    assert rec.first_frame == 0.5 and rec.stride == 2.0 and rec.centre == 0.5


def test_shards_together_equal_one_run_and_rerun_skips(one_run, tiny_frames):
    out, weights = one_run
    for k in (1, 2):
        extract(tiny_frames, out / "sharded", "--modality", "RGB", "--pretrained", weights, "--shard", f"{k}/2")
    names = sorted(p.name for p in (out / "all" / "RGB").iterdir())
    assert names == sorted(p.name for p in (out / "sharded" / "RGB").iterdir())
    for name in names:
        assert (out / "all" / "RGB" / name).read_bytes() == (out / "sharded" / "RGB" / name).read_bytes()
    res = extract(tiny_frames, out / "all", "--modality", "RGB", "--pretrained", weights)
    assert "already extracted" in res.stderr and " 0 to extract" in res.stderr


KILLER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    sys.path.insert(0, {root!r})
    import extract_features
    from ops.formats.features import feature_path
    real, calls = extract_features.write_features, [0]
    def write_then_die(root, features, record):
        calls[0] += 1
        if calls[0] == 3:   # the third video: its .npy written, its record not (a kill inside write_features)
            path = feature_path(root, record.stream, record.video)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, features)
            os.kill(os.getpid(), signal.SIGKILL)
        real(root, features, record)
    extract_features.write_features = write_then_die
    extract_features.main(extract_features.get_args_parser().parse_args({argv!r}))
""")


def test_killed_half_way_resumes_to_the_same_files(one_run, tiny_frames, tmp_path):
    """Killed (SIGKILL, no cleanup) while writing the third video: the re-run keeps the two finished videos,
    redoes the half-written one and the rest, and its files equal an uninterrupted run's byte for byte."""
    out, weights = one_run
    argv = ["synthetic", str(tiny_frames), str(tmp_path / "out"), "--arch", "tiny", "-j", "0", "--modality", "RGB",
            "--pretrained", str(weights)]
    proc = subprocess.run([sys.executable, "-c", KILLER.format(root=str(REPO), argv=argv)], capture_output=True,
                          text=True)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert len(list((tmp_path / "out" / "RGB").glob("*.json"))) == 2
    assert len(list((tmp_path / "out" / "RGB").glob("*.npy"))) == 3
    res = extract(tiny_frames, tmp_path / "out", "--modality", "RGB", "--pretrained", weights)
    assert "2 already extracted" in res.stderr
    names = sorted(p.name for p in (out / "all" / "RGB").iterdir())
    assert sorted(p.name for p in (tmp_path / "out" / "RGB").iterdir()) == names
    for name in names:
        assert (tmp_path / "out" / "RGB" / name).read_bytes() == (out / "all" / "RGB" / name).read_bytes(), name


def test_other_settings_are_refused_without_overwrite(one_run, tiny_frames):
    out, weights = one_run
    res = extract(tiny_frames, out / "all", "--modality", "RGB", "--pretrained", weights, "--stride", 4, check=False)
    assert res.returncode == 2 and "other settings" in res.stderr and "--overwrite" in res.stderr


def test_a_missing_folder_is_reported_and_the_rest_extracted(tiny_frames, tmp_path):
    frames = tmp_path / "frames"
    shutil.copytree(tiny_frames, frames)
    broken = sorted(p for p in frames.iterdir() if p.is_dir())[0]
    for f in broken.iterdir():
        f.unlink()
    res = extract(frames, tmp_path / "out", "--modality", "Flow", check=False)
    assert res.returncode == 1 and f"skipped {broken.name}" in res.stderr
    done = sorted(p.stem for p in (tmp_path / "out" / "Flow").glob("*.npy"))
    assert broken.name not in done and len(done) == len([p for p in frames.iterdir() if p.is_dir()]) - 1
    rec = json.loads((tmp_path / "out" / "Flow" / f"{done[0]}.json").read_text())
    assert rec["snippet_frames"] == 5 and rec["first_frame"] + rec["centre"] == 1.0


def test_benchmark_dry_run(tiny_frames):
    import subprocess
    import sys

    from conftest import REPO
    res = subprocess.run([sys.executable, str(REPO / "bench" / "bench_extract_features.py"), tiny_frames,
                          "--dry_run"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "snippets/s" in res.stdout
