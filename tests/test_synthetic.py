"""The synthetic benchmark: determinism, ground truth equals what is drawn, resume."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ops.errors import run_main
from ops.formats.annotations import load_annotations
from ops.video import synthetic
from tests.conftest import REPO


def decode(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def test_ground_truth_matches_what_is_drawn(tiny_dataset):
    record = json.loads((tiny_dataset / "generation.json").read_text())
    db = load_annotations(tiny_dataset / "annotations.json")
    gt = db.ground_truth()
    for video, info in record["videos"].items():
        frames = decode(tiny_dataset / "videos" / f"{video}.mp4")
        assert len(frames) == info["num_frames"]
        # >= 20 px: the actor covers >= 55 px when drawn; mp4 ghosts after an event stay below 5 px
        visible = np.array([synthetic.actor_mask(f).sum() >= 20 for f in frames])
        drawn = np.zeros(len(frames), bool)
        for ev in info["events"]:
            drawn[ev["start_frame"]:ev["end_frame"]] = True
        assert np.array_equal(visible, drawn), video          # actor pixels exactly on event frames
        actions = [e for e in info["events"] if e["kind"] == "action"]
        bounds, labels = gt[video]
        expected = sorted((e["start_frame"] / info["fps"], e["end_frame"] / info["fps"], e["label"]) for e in actions)
        got = sorted(zip(bounds[:, 0], bounds[:, 1], labels))
        np.testing.assert_allclose(np.array(got, float).reshape(-1, 3), np.array(expected, float).reshape(-1, 3))


def test_actor_follows_its_class_path(tiny_dataset):
    """The drawn disk moves the way its class says (screen motion minus the camera's)."""
    spec = synthetic.dataset_specs(synthetic.SIZE_PRESETS["tiny"], 0)[0]
    cfg = synthetic.SIZE_PRESETS["tiny"]
    centre, radius = synthetic.actor_track(spec, cfg.width, cfg.height)
    for ev in spec.events:
        path = centre[ev.start_frame:ev.end_frame]
        move = path[-1] - path[0]
        name = synthetic.CLASSES[ev.label - 1]
        expect = {"MoveRight": (1, 0), "MoveLeft": (-1, 0), "MoveDown": (0, 1), "MoveUp": (0, -1)}.get(name)
        if expect is not None:
            assert np.sign(move[np.argmax(np.abs(expect))]) == np.sign(sum(expect))
        scale = radius[ev.start_frame:ev.end_frame]
        if ev.kind == "action":     # fades in and out: smallest at both ends
            assert scale[0] < scale.max() and scale[-1] < scale.max()


@pytest.fixture(scope="module")
def tiny_wave(tmp_path_factory):
    out = tmp_path_factory.mktemp("wave")
    assert generate(out, "--preset", "tiny_wave", "-j", "2") == 0
    return out


def test_wave_family_ground_truth_classes_and_actor(tiny_wave):
    """The second family: its own classes in every annotation file, the green actor exactly on event frames."""
    from ops.formats.presets import load_preset
    record = json.loads((tiny_wave / "generation.json").read_text())
    assert record["family"] == "wave" and record["config"]["fps"] == 20
    db = load_annotations(tiny_wave / "annotations", "test", classes=load_preset("synthetic_wave")["classes"])
    assert db.classes == ["Bounce", "Diagonal", "Shake", "Spiral", "Zigzag"]
    assert load_annotations(tiny_wave / "annotations.json").classes == db.classes
    for video, info in list(record["videos"].items())[:3]:
        frames = decode(tiny_wave / "videos" / f"{video}.mp4")
        visible = np.array([synthetic.actor_mask(f, "wave").sum() >= 20 for f in frames])
        drawn = np.zeros(len(frames), bool)
        for ev in info["events"]:
            drawn[ev["start_frame"]:ev["end_frame"]] = True
        assert np.array_equal(visible, drawn), video
        assert not any(synthetic.actor_mask(f).any() for f in frames), video     # no orange anywhere


def test_wave_paths_by_hand():
    """Offsets from the origin (x right, y down) of a 100 x 80 frame at progress 0, 1/4, 1/2 and 1."""
    u = np.array([0.0, 0.25, 0.5, 1.0])
    at = {name: synthetic._path_position(name, u, np.zeros(2), 100, 80) for name in synthetic.WAVE_PATHS}
    np.testing.assert_allclose(at["Diagonal"], [[-25, -20], [-12.5, -10], [0, 0], [25, 20]])
    np.testing.assert_allclose(at["Bounce"], [[0, 8], [0, -16], [0, 8], [0, 8]], atol=1e-9)      # top at 1/4
    np.testing.assert_allclose(at["Shake"], [[0, 0], [0, 0], [0, 0], [0, 0]], atol=1e-9)          # back each 1/4
    np.testing.assert_allclose(at["Shake"][:, 0], 12 * np.sin(8 * np.pi * u), atol=1e-9)
    np.testing.assert_allclose(at["Spiral"], [[19.2, 0], [-15.6, 0], [12, 0], [4.8, 0]], atol=1e-9)   # 2 turns
    np.testing.assert_allclose(at["Zigzag"], [[25, 9.6], [12.5, 0], [0, -9.6], [-25, 9.6]], atol=1e-9)   # 3 zigzags
    families = synthetic.FAMILIES.values()
    assert set(synthetic.WAVE_PATHS) == set(synthetic.FAMILIES["wave"].classes)
    assert all(list(f.classes) == sorted(f.classes) for f in families)     # THUMOS and JSON orders agree


def test_dataset_properties():
    for name, cfg in synthetic.SIZE_PRESETS.items():
        assert cfg.instance_seconds[1] / cfg.instance_seconds[0] >= 10, name
        assert 100 % cfg.fps == 0
    specs = synthetic.dataset_specs(synthetic.SIZE_PRESETS["demo"], seed=3)
    lengths = np.array([e.end_frame - e.start_frame for s in specs for e in s.actions]) / 10
    assert lengths.max() / lengths.min() >= 5
    assert {e.label for s in specs for e in s.actions} == set(range(1, len(synthetic.CLASSES) + 1))
    kinds = {e.kind for s in specs for e in s.events}
    assert kinds == {"action", "start", "end"}
    for s in specs:                                             # events never overlap
        ev = sorted(s.events, key=lambda e: e.start_frame)
        assert all(a.end_frame <= b.start_frame for a, b in zip(ev, ev[1:]))
        assert ev[-1].end_frame <= s.num_frames


def run_generator(out, *extra):
    return subprocess.run([sys.executable, str(REPO / "gen_synthetic_dataset.py"), str(out), "--preset", "tiny",
                           *extra], capture_output=True, text=True, check=True)


def test_generator_is_deterministic_and_resumes(tmp_path, tiny_dataset):
    out = tmp_path / "again"
    run_generator(out, "--seed", "0", "-j", "2")
    for rel in ["annotations.json", "generation.json", "annotations/detclasslist.txt",
                "annotations/test_durations.txt", "annotations/temporal_annotations_test/Orbit_test.txt"]:
        assert (out / rel).read_bytes() == (tiny_dataset / rel).read_bytes(), rel
    a = decode(out / "videos" / "video_test_0000002.mp4")
    b = decode(tiny_dataset / "videos" / "video_test_0000002.mp4")
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and len(a) == len(b)
    # resume: a killed run leaves a partial file; existing videos are kept untouched
    keep = out / "videos" / "video_test_0000001.mp4"
    stamp = keep.stat().st_mtime_ns
    (out / "videos" / "video_test_0000003.mp4").unlink()
    (out / "videos" / ".video_test_0000003.partial.mp4").write_bytes(b"junk")
    result = run_generator(out, "--seed", "0")
    assert "(1 to write)" in result.stderr
    assert keep.stat().st_mtime_ns == stamp
    assert len(decode(out / "videos" / "video_test_0000003.mp4")) > 0
    other = tmp_path / "seed1"
    run_generator(other, "--seed", "1")
    assert (other / "annotations.json").read_bytes() != (tiny_dataset / "annotations.json").read_bytes()


def generate(out, *argv):
    import gen_synthetic_dataset as gen
    return run_main(gen.main, gen.get_args_parser(), [str(out), *map(str, argv)])


def test_rerun_with_another_seed_or_preset_is_refused(tmp_path, tiny_dataset, capfd):
    """Video names do not depend on the seed: resuming with another one would pair old videos with new
    ground truth (video_validation_0000001 has 118 frames under seed 0, 128 under seed 1)."""
    out = tmp_path / "synth"
    shutil.copytree(tiny_dataset, out)  # a finished seed-0 dataset, as an older version left it (no marker)
    record = out / "generation.json"
    assert json.loads(record.read_text())["videos"]["video_validation_0000001"]["num_frames"] == 118
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "videos").iterdir()}
    capfd.readouterr()
    assert generate(out, "--seed", 1) == 2
    err = capfd.readouterr().err
    assert f"{record} records seed 0, preset tiny; this run asks for seed 1, preset tiny" in err
    assert "use another output folder, or pass --overwrite" in err
    assert generate(out, "--preset", "demo") == 2
    assert f"{record} records seed 0, preset tiny; this run asks for seed 0, preset demo" in capfd.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in (out / "videos").iterdir()} == stamps
    assert record.read_bytes() == (tiny_dataset / "generation.json").read_bytes()

    assert generate(out, "--seed", 0) == 0  # same seed: resumes, nothing to write
    assert "(0 to write)" in capfd.readouterr().err
    marker = out / "videos" / ".seed.json"
    assert json.loads(marker.read_text()) == {"seed": 0, "preset": "tiny"}
    # Killed before the annotations: the marker, written before the first video, still tells the seed.
    record.unlink()
    assert generate(out, "--seed", 1) == 2
    assert f"{marker} records seed 0, preset tiny; this run asks for seed 1" in capfd.readouterr().err
    assert generate(out, "--seed", 0) == 0
    assert record.read_bytes() == (tiny_dataset / "generation.json").read_bytes()
    # Neither record: the videos may be of any seed, even the requested one.
    record.unlink()
    marker.unlink()
    assert generate(out, "--seed", 0) == 2
    assert f"{out / 'videos'} holds 8 video(s) but neither generation.json nor" in capfd.readouterr().err

    assert generate(out, "--seed", 1, "--overwrite", "-j", 2) == 0
    assert json.loads(record.read_text())["seed"] == 1 and json.loads(marker.read_text())["seed"] == 1
    assert json.loads(record.read_text())["videos"]["video_validation_0000001"]["num_frames"] == 128
    assert len(decode(out / "videos" / "video_validation_0000001.mp4")) == 128
    assert all(p.stat().st_mtime_ns != stamps[p.name] for p in (out / "videos").glob("*.mp4"))


def test_read_generation_events_refuses_other_json(tmp_path):
    path = tmp_path / "generation.json"
    path.write_text('{"seed": 0, "preset": "tiny"}')
    with pytest.raises(ValueError, match="not a generation record"):
        synthetic.read_generation_events(path)


def test_recorded_origin_reads_only_a_record(tmp_path):
    path = tmp_path / "generation.json"
    assert synthetic.recorded_origin(path) is None                      # no file: nothing recorded
    path.write_text('{"seed": 3, "preset": "tiny", "videos": {}}')
    assert synthetic.recorded_origin(path) == (3, "tiny")
    path.write_text("[1]")                                              # used to be an AttributeError
    with pytest.raises(ValueError, match="holds a JSON list, not an object"):
        synthetic.recorded_origin(path)
    path.write_text("{oops")
    with pytest.raises(ValueError):
        synthetic.recorded_origin(path)


def test_thumos_and_json_agree(tiny_dataset):
    for subset in ("validation", "test"):
        a = load_annotations(tiny_dataset / "annotations", subset)
        b = load_annotations(tiny_dataset / "annotations.json", subset)
        assert a.classes == b.classes == list(synthetic.CLASSES)
        key = ["video", "t_start"]
        assert a.instances.sort_values(key).reset_index(drop=True).equals(b.instances.sort_values(key).reset_index(drop=True))
        np.testing.assert_allclose(a.videos.sort_values("video")["duration"], b.videos.sort_values("video")["duration"])


# ---------------------------------------------------------------- annotation files through ops.formats.annotations' writers


def test_annotation_files_of_a_hand_made_timeline(tmp_path):
    """The generator's THUMOS14 files and JSON (written by ops.formats.annotations) hold exactly the drawn actions."""
    val = synthetic.VideoSpec("video_validation_0000001", "validation", 50, 10, (), (0, 0, 1))
    events = (synthetic.Event(3, 17, 2, "action", 0.0, 1.0),         # MoveLeft, frames [3, 17) at 20 fps
              synthetic.Event(20, 25, 1, "start", 0.0, 0.3),         # a distractor: not ground truth
              synthetic.Event(40, 57, 5, "action", 0.0, 1.0))        # Orbit
    test = synthetic.VideoSpec("video_test_0000001", "test", 125, 20, events, (0, 1, 1))
    synthetic.write_annotations(tmp_path, [val, test], synthetic.SIZE_PRESETS["tiny"], seed=0, preset="tiny")
    ann = tmp_path / "annotations"
    folder = ann / "temporal_annotations_test"
    assert (folder / "MoveLeft_test.txt").read_text() == "video_test_0000001  0.15 0.85\n"
    assert (folder / "Orbit_test.txt").read_text() == "video_test_0000001  2.00 2.85\n"
    assert (folder / "MoveDown_test.txt").read_text() == (folder / "Ambiguous_test.txt").read_text() == ""
    assert (ann / "temporal_annotations_validation" / "Orbit_val.txt").read_text() == ""
    assert (ann / "test_durations.txt").read_text() == "video_test_0000001.mp4\n6.250000\n"
    assert (ann / "validation_durations.txt").read_text() == "video_validation_0000001.mp4\n5.000000\n"
    assert (ann / "detclasslist.txt").read_text() == "1 MoveDown\n2 MoveLeft\n3 MoveRight\n4 MoveUp\n5 Orbit\n"
    data = json.loads((tmp_path / "annotations.json").read_text())
    assert data["version"] == "synthetic"
    assert data["database"] == {
        "video_validation_0000001": {"subset": "validation", "duration": 5.0, "fps": 10, "annotations": []},
        "video_test_0000001": {"subset": "test", "duration": 6.25, "fps": 20, "annotations": [
            {"segment": [0.15, 0.85], "label": "MoveLeft"}, {"segment": [2.0, 2.85], "label": "Orbit"}]}}
    assert list(data["database"]["video_test_0000001"]) == ["subset", "duration", "fps", "annotations"]
    record = synthetic.read_generation_events(tmp_path / "generation.json")
    assert record["classes"] == ["MoveDown", "MoveLeft", "MoveRight", "MoveUp", "Orbit"]
    assert record["videos"] == {"video_validation_0000001": "validation", "video_test_0000001": "test"}
    assert record["fps"] == {"video_validation_0000001": 10, "video_test_0000001": 20}
    assert record["num_frames"] == {"video_validation_0000001": 50, "video_test_0000001": 125}
    ev = record["events"]                        # seconds = frame / fps: 3/20, 17/20; 20/20, 25/20; 40/20, 57/20
    assert ev["video"].tolist() == ["video_test_0000001"] * 3 and ev["subset"].tolist() == ["test"] * 3
    assert ev["kind"].tolist() == ["action", "start", "action"] and ev["label"].tolist() == [2, 1, 5]
    np.testing.assert_allclose(ev["t_start"], [0.15, 1.0, 2.0])
    np.testing.assert_allclose(ev["t_end"], [0.85, 1.25, 2.85])
    np.testing.assert_allclose(ev["u0"], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(ev["u1"], [1.0, 0.3, 1.0])
    db = synthetic.annotation_db([val, test])
    assert db.class_ids == [1, 2, 3, 4, 5]
    assert db.instances.values.tolist() == [["video_test_0000001", 0.15, 0.85, 2, "test"],
                                            ["video_test_0000001", 2.0, 2.85, 5, "test"]]
