"""End-to-end tests of extract_frames.py on small generated videos."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

import extract_frames
from ops.errors import run_main
from ops.formats.frames import (META_NAME, FrameCounts, check_frame_folder, count_frames, expected_counts, flow_names,
                                preflight, read_meta, rgb_name, write_meta)
from ops.io import MAX_ID_BYTES, settle_replaced_dir
from ops.video.flow import dequantise_flow
from ops.video.video import iter_frames, keep_frame, num_kept_frames, probe_video, read_jpeg, target_size

W, H, FPS = 160, 120, 25
SHIFT = 2  # content moves this many pixels to the right per frame


def write_video(path: Path, num_frames: int, fourcc: str = "mp4v", seed: int = 0) -> Path:
    """A video of a smooth texture translating SHIFT px/frame to the right."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 256, (H + 20, W + SHIFT * num_frames + 20, 3), dtype=np.uint8),
                            (0, 0), 2.5)
    base = cv2.normalize(base, None, 0, 255, cv2.NORM_MINMAX)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (W, H))
    x0 = SHIFT * num_frames
    for t in range(num_frames):  # the crop window moves left, so the content moves right
        writer.write(np.ascontiguousarray(base[10:10 + H, x0 - SHIFT * t:x0 - SHIFT * t + W]))
    writer.release()
    return path


def run(*argv) -> int:
    """extract_frames.py's exit status for ``argv``; input errors go to stderr as the script reports them."""
    return run_main(extract_frames.main, extract_frames.get_args_parser(), [str(a) for a in argv])


@pytest.fixture
def videos(tmp_path):
    d = tmp_path / "videos"
    d.mkdir()
    write_video(d / "walk.mp4", 24)
    write_video(d / "jump.mp4", 13, seed=1)
    return d


SMALL = ("--new_width", 80, "--new_height", 64)


def files(d: Path, prefix: str) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith(prefix))


def test_counts_naming_and_meta(videos, tmp_path):
    out = tmp_path / "frames"
    assert run(videos, out, *SMALL) == 0
    d = out / "walk"
    assert files(d, "img_") == [rgb_name(i) for i in range(1, 25)]
    assert files(d, "flow_x_") == [flow_names(i)[0] for i in range(1, 24)]
    assert files(d, "flow_y_") == [flow_names(i)[1] for i in range(1, 24)]
    assert read_jpeg(d / "img_00001.jpg").shape == (64, 80, 3)
    assert read_jpeg(d / "flow_x_00023.jpg", gray=True).shape == (64, 80)
    meta = read_meta(d)
    assert meta["num_frames"] == 24 and meta["num_flow"] == 23 and meta["num_kept"] == 24
    assert meta["fps"] == FPS and meta["size"] == [80, 64]
    assert meta["flow_algorithm"] == "dis_medium" and meta["flow_bound"] == 20.0
    assert meta["frame_step"] == 1 and meta["jpeg_quality"] == 95 and meta["modalities"] == ["RGB", "Flow"]
    assert meta["video"] == str((videos / "walk.mp4").resolve())
    listed = count_frames(d, trust_meta=False)
    assert (listed.num_frames, listed.num_flow) == (24, 23)
    assert listed == FrameCounts(24, 23)  # a listed folder knows nothing of num_kept or frame_step
    assert count_frames(d) == FrameCounts(24, 23, FPS, num_kept=24, frame_step=1, modalities=("RGB", "Flow"))
    assert count_frames(out / "jump").num_frames == 13
    assert sorted(p.name for p in out.iterdir()) == ["jump", "walk"]  # no temp folders left


def test_flow_values_match_known_motion(videos, tmp_path):
    """Content moves SHIFT px right per frame at 160 px wide; at 80 px wide that is SHIFT / 2."""
    out = tmp_path / "frames"
    assert run(videos / "walk.mp4", out, *SMALL) == 0
    fx = np.stack([read_jpeg(out / "walk" / flow_names(i)[0], gray=True) for i in (5, 12, 20)])
    fy = np.stack([read_jpeg(out / "walk" / flow_names(i)[1], gray=True) for i in (5, 12, 20)])
    u = dequantise_flow(fx, 20)[:, 8:-8, 8:-8]
    v = dequantise_flow(fy, 20)[:, 8:-8, 8:-8]
    assert abs(np.median(u) - SHIFT / 2) < 0.2
    assert abs(np.median(v)) < 0.2


def test_frame_step_fps_and_size_options(videos, tmp_path):
    out = tmp_path / "step"
    assert run(videos / "walk.mp4", out, *SMALL, "--frame_step", 2) == 0
    counts = count_frames(out / "walk")
    assert (counts.num_frames, counts.num_flow) == (24, 22)  # flow k pairs frames k and k + 2
    out = tmp_path / "fps"
    assert run(videos / "walk.mp4", out, "--fps", 12.5, "--short_side", 60) == 0
    meta = read_meta(out / "walk")
    assert (meta["num_frames"], meta["num_flow"], meta["fps"]) == (12, 11, 12.5)
    assert meta["size"] == [80, 60]
    # Every other source frame is kept: output frame k is source frame 2k - 1, byte for byte.
    full = tmp_path / "full"
    assert run(videos / "walk.mp4", full, "--short_side", 60, "--modality", "RGB") == 0
    for k in (1, 2, 12):
        assert (out / "walk" / rgb_name(k)).read_bytes() == (full / "walk" / rgb_name(2 * k - 1)).read_bytes()
    assert (out / "walk" / rgb_name(2)).read_bytes() != (full / "walk" / rgb_name(2)).read_bytes()


# (extra flags, frames kept N, frame_step k, modalities): num_frames = N, num_flow = N - k (ops/formats/frames.py).
COUNT_CASES = {
    "step2": ((), 50, 2, ("RGB", "Flow")),
    "fps10": (("--fps", 10), 20, 1, ("RGB", "Flow")),          # 25 -> 10 fps keeps source frames 0, 3, 5, 8, 10, ...
    "fps10_step3": (("--fps", 10), 20, 3, ("RGB", "Flow")),
    "rgb_only_step2": (("--modality", "RGB"), 50, 2, ("RGB",)),
    "flow_only_step2": (("--modality", "Flow"), 50, 2, ("Flow",)),
}


@pytest.mark.parametrize("case", sorted(COUNT_CASES))
def test_frame_count_contract_passes_preflight(case, tmp_path):
    """Every option combination writes the documented counts, which the pre-flight check accepts."""
    flags, n_kept, step, modalities = COUNT_CASES[case]
    video = write_video(tmp_path / "long.mp4", 50)  # 2 s at 25 fps
    out = tmp_path / "frames"
    assert run(video, out, *SMALL, *flags, "--frame_step", step, "--flow", "dis_ultrafast") == 0
    want = expected_counts(n_kept, step, modalities)
    assert want == ((n_kept if "RGB" in modalities else 0), (n_kept - step if "Flow" in modalities else 0))
    meta = read_meta(out / "long")
    assert (meta["num_frames"], meta["num_flow"], meta["num_kept"], meta["frame_step"]) == (*want, n_kept, step)
    listed = count_frames(out / "long", trust_meta=False)
    assert (listed.num_frames, listed.num_flow) == want  # the files, not only the metadata
    for modality in modalities:
        counts, problems = preflight(["long"], out, modality, durations={"long": 50 / FPS})
        assert problems == [] and counts == {"long": want[modality == "Flow"]}
    if modalities == ("RGB",):
        n, problem = check_frame_folder("long", out / "long", "Flow")
        assert n is None and "has zero Flow frames (extracted with modalities ['RGB'])" in problem.reason


def test_preflight_catches_count_mismatch(tmp_path):
    """Counts that break the contract are reported with the folder's path, with or without meta.json."""
    video = write_video(tmp_path / "long.mp4", 50)
    out = tmp_path / "frames"
    assert run(video, out, *SMALL, "--frame_step", 2, "--flow", "dis_ultrafast") == 0
    d = out / "long"
    meta = read_meta(d)
    write_meta(d, {**meta, "num_flow": 49})  # what a frame_step 1 folder would hold
    n, problem = check_frame_folder("long", d, "RGB")
    assert n is None and problem.reason.startswith(f"{d}: 50 RGB frames but 49 flow frames")
    assert "frame_step 2" in problem.reason and "implies 50 and 48" in problem.reason
    write_meta(d, meta)
    (d / flow_names(48)[1]).unlink()  # a file deleted after extraction
    n, problem = check_frame_folder("long", d, "Flow")
    assert n is None and f"{d}: " in problem.reason and "flow_y_00048.jpg is missing" in problem.reason
    (d / META_NAME).unlink()  # without metadata frame_step 1 is assumed: 50 RGB vs 47 flow is a mismatch
    n, problem = check_frame_folder("long", d, "RGB")
    assert n is None and problem.reason.startswith(f"{d}: 50 RGB frames but 47 flow frames (no meta.json")


def test_rgb_only_and_flow_only(videos, tmp_path):
    assert run(videos / "jump.mp4", tmp_path / "rgb", *SMALL, "--modality", "RGB") == 0
    d = tmp_path / "rgb" / "jump"
    assert len(files(d, "img_")) == 13 and files(d, "flow_") == []
    meta = read_meta(d)
    assert meta["num_flow"] == 0 and meta["flow_algorithm"] is None and meta["modalities"] == ["RGB"]
    assert run(videos / "jump.mp4", tmp_path / "flow", *SMALL, "--modality", "Flow", "--flow", "dis_fast") == 0
    d = tmp_path / "flow" / "jump"
    assert files(d, "img_") == [] and len(files(d, "flow_x_")) == 12
    assert read_meta(d)["flow_algorithm"] == "dis_fast"


def test_rerun_with_same_settings_resumes(videos, tmp_path, capfd):
    out = tmp_path / "frames"
    assert run(videos, out, *SMALL) == 0
    stamps = {p: p.stat().st_mtime_ns for p in (out / "walk").iterdir()}
    shutil.rmtree(out / "jump")  # "jump" not extracted yet, as after a killed run
    capfd.readouterr()
    assert run(videos, out, *SMALL) == 0
    assert "1 to extract, 1 already complete" in capfd.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in (out / "walk").iterdir()} == stamps  # not rewritten
    assert read_meta(out / "jump")["num_frames"] == 13 and (out / "jump" / "img_00013.jpg").exists()
    # Fewer modalities than stored, --fps at or above the source rate, another device, --overwrite:
    # the same frames, so nothing to redo.
    assert run(videos, out, *SMALL, "--modality", "RGB", "--fps", 30, "--device", "cpu", "--overwrite") == 0
    assert "0 to extract, 2 already complete" in capfd.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in (out / "walk").iterdir()} == stamps


def test_rerun_with_other_settings_is_refused_then_overwritten(videos, tmp_path, capfd):
    out = tmp_path / "frames"
    assert run(videos, out, *SMALL) == 0
    old = {p.name: p.read_bytes() for p in (out / "walk").iterdir()}
    capfd.readouterr()
    assert run(videos, out, *SMALL, "--flow", "dis_ultrafast", "--jpeg_quality", 80) == 2
    err = capfd.readouterr().err
    assert "2 folder(s) were extracted with other settings" in err
    for vid in ("walk", "jump"):
        assert (f"{out / vid}: jpeg_quality stored 95, requested 80; "
                "flow_algorithm stored dis_medium, requested dis_ultrafast") in err
    assert "--overwrite" in err and "another output folder" in err
    assert {p.name: p.read_bytes() for p in (out / "walk").iterdir()} == old  # refused: nothing touched
    assert run(videos / "walk.mp4", out, "--new_width", 0, "--new_height", 64) == 2
    assert f"{out / 'walk'}: size stored [80, 64], requested [160, 64]" in capfd.readouterr().err

    assert run(videos / "walk.mp4", out, *SMALL, "--flow", "dis_ultrafast", "--jpeg_quality", 80,
               "--overwrite") == 0
    meta = read_meta(out / "walk")
    assert (meta["flow_algorithm"], meta["jpeg_quality"], meta["num_frames"], meta["num_flow"]) == \
        ("dis_ultrafast", 80, 24, 23)
    assert meta["requested"] == {"new_width": 80, "new_height": 64, "short_side": 0, "fps": None}
    new = {p.name: p.read_bytes() for p in (out / "walk").iterdir()}
    assert new.keys() == old.keys() and new["img_00001.jpg"] != old["img_00001.jpg"]  # re-encoded at q80
    assert sorted(p.name for p in out.iterdir()) == ["jump", "walk"]  # no .walk.old or .walk.partial left
    assert read_meta(out / "jump")["flow_algorithm"] == "dis_medium"  # not in this run's list: kept


def test_folder_not_made_by_us_is_never_deleted(videos, tmp_path, capfd):
    """A DenseFlow-style folder (no meta.json) is refused, not deleted; --overwrite replaces it."""
    out = tmp_path / "frames"
    dense = out / "walk"
    dense.mkdir(parents=True)
    names = ["flow_x_00001.jpg", "flow_y_00001.jpg", "img_00001.jpg"]  # sorted
    for name in names:
        (dense / name).write_bytes(b"denseflow " + name.encode())
    capfd.readouterr()
    assert run(videos, out, *SMALL, "--modality", "RGB") == 2
    err = capfd.readouterr().err
    assert ("1 folder(s) not made by extract_frames.py (no meta.json): move them away or pass --overwrite "
            f"to replace them:\n  {dense}\n") in err
    assert sorted(p.name for p in dense.iterdir()) == names
    assert (dense / names[0]).read_bytes() == b"denseflow flow_x_00001.jpg"
    assert not (out / "jump").exists()  # refused before anything is extracted
    assert run(videos, out, *SMALL, "--modality", "RGB", "--overwrite") == 0
    assert read_meta(dense)["num_frames"] == 24 and files(dense, "flow_") == []
    assert sorted(p.name for p in out.iterdir()) == ["jump", "walk"]


def test_old_meta_without_new_fields_counts_as_complete(videos, tmp_path, capfd):
    out = tmp_path / "frames"
    assert run(videos / "walk.mp4", out, *SMALL, "--modality", "RGB") == 0
    meta = read_meta(out / "walk")
    del meta["requested"]  # as written before the field existed
    write_meta(out / "walk", meta)
    stamp = (out / "walk" / META_NAME).stat().st_mtime_ns
    capfd.readouterr()
    assert run(videos / "walk.mp4", out, *SMALL, "--modality", "RGB") == 0
    assert "0 to extract, 1 already complete" in capfd.readouterr().err
    assert (out / "walk" / META_NAME).stat().st_mtime_ns == stamp


def test_settings_diff_compares_what_changes_the_frames():
    cfg = extract_frames.ExtractConfig(new_width=80, new_height=64, flow="dis_medium", device="cpu")
    meta = {"modalities": ["RGB", "Flow"], "jpeg_quality": 95, "size": [80, 64], "source_size": [160, 120],
            "fps": 25.0, "source_fps": 25.0, "flow_algorithm": "dis_medium", "flow_bound": 20.0, "frame_step": 1,
            "device": "cuda", "seconds": 9.5, "video": "/elsewhere/walk.mp4"}
    diff = extract_frames.settings_diff
    assert diff(meta, cfg) == {}  # device, timing and source path do not count
    assert diff(meta, replace(cfg, new_width=0, new_height=0)) == {"size": ([80, 64], [160, 120])}
    assert diff(meta, replace(cfg, short_side=64)) == {"size": ([80, 64], [86, 64])}  # 160 * 64 / 120 -> 86
    assert diff(meta, replace(cfg, fps=10)) == {"fps": (25.0, 10.0)}
    assert diff(meta, replace(cfg, fps=30)) == {}  # never above the source rate: the same frames
    assert diff(meta, replace(cfg, bound=15.0, frame_step=2)) == {"flow_bound": (20.0, 15.0), "frame_step": (1, 2)}
    assert diff(meta, replace(cfg, modalities=("RGB",), flow=None, frame_step=3)) == {}  # RGB only: flow ignored
    rgb_only = {**meta, "modalities": ["RGB"], "flow_algorithm": None, "flow_bound": None}
    assert diff(rgb_only, cfg) == {"modalities": (["RGB"], ["RGB", "Flow"])}  # flow fields not listed too
    # Only the fields present are compared: an old meta.json without them passes on them.
    assert diff({"size": [80, 64], "jpeg_quality": 95}, replace(cfg, new_width=0, flow="farneback")) == {}


def test_conflict_message_lists_a_few_then_counts(tmp_path):
    mismatched = [(tmp_path / f"v{i}", {"jpeg_quality": (95, 80)}) for i in range(7)]
    msg = extract_frames._conflict_message(mismatched, [str(tmp_path / "dense")], shown=5)
    lines = msg.splitlines()
    assert lines[0] == "7 folder(s) were extracted with other settings:"
    assert lines[1:6] == [f"  {tmp_path / f'v{i}'}: jpeg_quality stored 95, requested 80" for i in range(5)]
    assert lines[6] == "  ... and 2 more"
    assert lines[-1] == f"  {tmp_path / 'dense'}"


def test_failed_overwrite_keeps_the_old_folder(videos, tmp_path, monkeypatch):
    out = tmp_path / "frames"
    assert run(videos / "jump.mp4", out, *SMALL, "--modality", "RGB") == 0
    old = {p.name: p.read_bytes() for p in (out / "jump").iterdir()}
    calls = [0]

    def fail_on_fifth(*a, **k):
        calls[0] += 1
        if calls[0] == 5:
            raise OSError("disk full")

    monkeypatch.setattr(extract_frames, "write_jpeg", fail_on_fifth)
    cfg = extract_frames.ExtractConfig(modalities=("RGB",), new_width=80, new_height=64, jpeg_quality=50)
    result = extract_frames.extract_video(videos / "jump.mp4", out / "jump", cfg, replace_existing=True)
    assert not result["ok"] and "disk full" in result["error"]
    assert {p.name: p.read_bytes() for p in (out / "jump").iterdir()} == old
    assert sorted(p.name for p in out.iterdir()) == ["jump"]  # no .jump.partial or .jump.old left


def test_swap_killed_between_renames_is_settled(tmp_path):
    """A replacement killed after moving the old folder aside: the old one comes back (nothing lost);
    killed after the new one is in place: the old one is dropped."""
    root = tmp_path / "frames"
    (root / ".walk.old").mkdir(parents=True)
    (root / ".walk.old" / "img_00001.jpg").write_bytes(b"old")
    settle_replaced_dir(root / "walk")
    assert sorted(p.name for p in root.iterdir()) == ["walk"]
    assert (root / "walk" / "img_00001.jpg").read_bytes() == b"old"
    (root / ".walk.old").mkdir()
    (root / ".walk.old" / "img_00001.jpg").write_bytes(b"replaced")
    settle_replaced_dir(root / "walk")
    assert sorted(p.name for p in root.iterdir()) == ["walk"]
    assert (root / "walk" / "img_00001.jpg").read_bytes() == b"old"


KILLER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    import extract_frames
    real, calls = extract_frames.write_jpeg, [0]
    def write_then_die(*a, **k):
        real(*a, **k)
        calls[0] += 1
        if calls[0] == {after}:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup runs: a real crash
    extract_frames.write_jpeg = write_then_die
    extract_frames.main(extract_frames.get_args_parser().parse_args({argv!r}))
""")


def snapshot(root: Path) -> dict[str, bytes | dict]:
    """Every file under ``root`` by relative path; meta.json without its timing/path-free keys."""
    snap = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            if p.name == META_NAME:
                meta = json.loads(p.read_text())
                meta.pop("seconds")
                snap[str(p.relative_to(root))] = meta
            else:
                snap[str(p.relative_to(root))] = p.read_bytes()
    return snap


def test_killed_run_resumes_to_identical_result(videos, tmp_path):
    ref = tmp_path / "ref"
    assert run(videos, ref, *SMALL) == 0
    out = tmp_path / "killed"
    # "jump" (13 frames: 13 RGB + 2 x 12 flow = 37 JPEGs) is first; die during "walk".
    argv = [str(videos), str(out), *map(str, SMALL)]
    proc = subprocess.run([sys.executable, "-c", KILLER.format(root=str(ROOT), after=37 + 20, argv=argv)],
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert (out / "jump" / META_NAME).exists()
    assert not (out / "walk").exists() and (out / ".walk.partial").is_dir()
    assert run(videos, out, *SMALL) == 0
    assert not (out / ".walk.partial").exists()
    assert snapshot(out) == snapshot(ref)


def _children(pid: int) -> set[int]:
    """Pids of the processes whose parent is ``pid`` (from /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_killing_only_the_parent_of_two_workers(tmp_path):
    """#19 item 1: `kill -9` of the main process of `-j 2` (the OOM killer's choice) must not leave its workers
    writing; the re-run then gives what an uninterrupted run gives, and never calls a short folder complete."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for k in range(2):
        write_video(videos / f"long{k}.mp4", 300, seed=k)
    ref = tmp_path / "ref"
    assert run(videos, ref, *SMALL, "-j", 2) == 0
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(ROOT / "extract_frames.py"), str(videos), str(out), *map(str, SMALL),
                             "-j", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and sum(1 for _ in out.glob(".long*.partial/img_*")) < 40:
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert workers, "no worker processes found"
    proc.kill()                                  # the parent only, not its process group
    proc.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    assert not any(_alive(p) for p in workers), "workers outlived their parent"
    before = {p: p.stat().st_size for p in out.rglob("*") if p.is_file()}
    time.sleep(0.5)
    assert {p: p.stat().st_size for p in out.rglob("*") if p.is_file()} == before     # nobody writes any more
    assert run(videos, out, *SMALL, "-j", 2) == 0
    assert snapshot(out) == snapshot(ref)


def test_a_folder_missing_recorded_files_is_never_complete(videos, tmp_path, capfd):
    out = tmp_path / "frames"
    assert run(videos, out, *SMALL) == 0
    ref = snapshot(out)
    (out / "walk" / rgb_name(3)).unlink()
    (out / "jump" / flow_names(12)[1]).unlink()
    capfd.readouterr()
    assert run(videos, out, *SMALL) == 0          # redone without --overwrite: both folders are ours
    err = capfd.readouterr().err
    assert "1 of the files meta.json records are missing (first img_00003.jpg); extracting it again" in err
    assert "(first flow_y_00012.jpg)" in err
    assert snapshot(out) == ref


def test_bad_videos_are_reported_and_skipped(videos, tmp_path, capfd):
    (videos / "garbage.mp4").write_bytes(b"not a video" * 50)
    cv2.VideoWriter(str(videos / "empty.avi"), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H)).release()
    trunc = write_video(videos / "cut.avi", 60, fourcc="MJPG")
    data = trunc.read_bytes()
    trunc.write_bytes(data[:len(data) // 2])
    out = tmp_path / "frames"
    capfd.readouterr()
    assert run(videos, out, *SMALL) == 1
    err = capfd.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["jump", "walk"]  # good ones done, no leftovers
    assert "3 video(s) failed" in err
    assert f"{videos / 'garbage.mp4'}: cannot open video" in err
    assert f"{videos / 'empty.avi'}: no frame could be decoded" in err
    assert f"{videos / 'cut.avi'}: truncated, decoded" in err
    # The truncated file is kept on request, with the frames that decode.
    assert run(videos / "cut.avi", out, *SMALL, "--allow_truncated") == 0
    assert 0 < read_meta(out / "cut")["num_frames"] < 60


def test_a_name_too_long_for_the_file_system_fails_alone(videos, tmp_path, capfd):
    """#19 item 10: a 240-byte video name cannot carry '.NAME.partial' (255-byte limit); it fails with one line
    and the other videos are extracted."""
    long_name = "v" * 240
    shutil.copy(videos / "jump.mp4", videos / f"{long_name}.mp4")
    out = tmp_path / "frames"
    capfd.readouterr()
    assert run(videos, out, *SMALL) == 1
    err = capfd.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["jump", "walk"]
    assert "1 video(s) failed" in err and "is 240 bytes long" in err and f"at most {MAX_ID_BYTES} bytes" in err
    assert "Traceback" not in err
    shutil.copy(videos / "jump.mp4", videos / f"{'v' * MAX_ID_BYTES}.mp4")   # the longest accepted id works
    assert run(videos / f"{'v' * MAX_ID_BYTES}.mp4", out, *SMALL) == 0


def test_list_file_and_argument_errors(videos, tmp_path):
    lst = tmp_path / "list.txt"
    lst.write_text("# videos\nvideos/walk.mp4\n\n")
    assert run(lst, tmp_path / "frames", *SMALL, "--modality", "RGB") == 0
    assert [p.name for p in (tmp_path / "frames").iterdir()] == ["walk"]
    write_video(videos / "walk.avi", 5, fourcc="MJPG")
    assert run(videos, tmp_path / "dup", *SMALL) == 2  # two videos named "walk"
    assert run(videos / "jump.mp4", tmp_path / "q", "--jpeg_quality", 0) == 2
    assert run(videos / "jump.mp4", tmp_path / "q", "-j", 0) == 2
    assert run(tmp_path / "missing", tmp_path / "q") == 2


def test_parallel_jobs_give_same_frames(videos, tmp_path):
    assert run(videos, tmp_path / "j1", *SMALL, "--modality", "RGB") == 0
    assert run(videos, tmp_path / "j2", *SMALL, "--modality", "RGB", "-j", 2) == 0
    assert snapshot(tmp_path / "j1").keys() == snapshot(tmp_path / "j2").keys()
    for name in ("walk/img_00007.jpg", "jump/img_00013.jpg"):
        assert (tmp_path / "j1" / name).read_bytes() == (tmp_path / "j2" / name).read_bytes()
    # One video with two jobs: one worker decoding with two threads, same bytes.
    assert run(videos / "walk.mp4", tmp_path / "one", *SMALL, "--modality", "RGB", "-j", 2) == 0
    assert snapshot(tmp_path / "one")["walk/meta.json"] == snapshot(tmp_path / "j1")["walk/meta.json"]
    for i in range(1, 25):
        assert (tmp_path / "one/walk" / rgb_name(i)).read_bytes() == (tmp_path / "j1/walk" / rgb_name(i)).read_bytes()


def test_schedule_shares_cores(tmp_path):
    paths = []
    for name, size in [("a", 10), ("b", 30), ("c", 20)]:
        paths.append(tmp_path / f"{name}.mp4")
        paths[-1].write_bytes(b"x" * size)
    missing = tmp_path / "missing.mp4"
    assert extract_frames.schedule(paths, 1) == (paths, 1, None)  # given order, library threading
    assert extract_frames.schedule(paths + [missing], 2) == ([paths[1], paths[2], paths[0], missing], 2, 1)
    assert extract_frames.schedule(paths[:1], 2) == (paths[:1], 1, 2)  # one video: two decoder threads
    assert extract_frames.schedule(paths, 8) == ([paths[1], paths[2], paths[0]], 3, 2)


def test_video_helpers(videos):
    info = probe_video(videos / "walk.mp4")
    assert (info.fps, info.num_frames, info.width, info.height) == (FPS, 24, W, H)
    assert target_size(1280, 720, short_side=256) == (456, 256)  # 1280 * 256 / 720 = 455.1 -> even 456
    assert target_size(720, 1280, short_side=256) == (256, 456)
    assert target_size(1280, 720, 340, 256) == (340, 256)
    assert target_size(1280, 720, 0, 0) == (1280, 720)
    assert [i for i in range(10) if keep_frame(i, 30, 10)] == [0, 3, 6, 9]
    for fin, fout, n in [(30, 10, 100), (29.97, 8, 301), (25, 12.5, 24), (25, 30, 7)]:
        assert num_kept_frames(n, fin, fout) == sum(keep_frame(i, fin, fout) for i in range(n))


@pytest.mark.parametrize("size", [(80, 64), None])
def test_prefetched_frames_equal_inline_ones(videos, size):
    """The decoding thread recycles full-size buffers: frames handed out must never be overwritten."""
    for fps in (None, 12.5):
        inline = list(iter_frames(videos / "walk.mp4", size, fps=fps))
        threaded = list(iter_frames(videos / "walk.mp4", size, fps=fps, threads=2, prefetch=3))
        assert len(inline) == len(threaded) == (24 if fps is None else 12)
        assert all(np.array_equal(a, b) for a, b in zip(inline, threaded))
    frames = iter_frames(videos / "walk.mp4", size, prefetch=2)
    next(frames)
    frames.close()  # stopping early ends the decoding thread


def test_shards_together_equal_one_run(videos, tmp_path):
    assert run(videos, tmp_path / "one", *SMALL, "--modality", "RGB") == 0
    for k in (1, 2, 3):
        assert run(videos, tmp_path / "parts", *SMALL, "--modality", "RGB", "--shard", f"{k}/3") == 0
    whole, parts = snapshot(tmp_path / "one"), snapshot(tmp_path / "parts")
    assert whole.keys() == parts.keys()
    for name in whole:
        if name.endswith(".jpg"):
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "parts" / name).read_bytes()


def test_timestamp_drift_by_hand():
    from ops.video.video import timestamp_drift

    assert timestamp_drift([(0, 0.0), (1, 40.0), (2, 80.0)], 25) == (0.0, 0)              # constant rate
    assert timestamp_drift([(0, 0.0), (5, 200.0), (10, 400.0)], 25) == (0.0, 0)           # every 5th frame kept
    drift, index = timestamp_drift([(0, 0.0), (1, 40.0), (2, 2000.0), (3, 2040.0)], 25)   # a 1.9 s jump
    assert index == 2 and drift == pytest.approx(2.0 - 2 / 25)
    assert timestamp_drift([(0, 0.0), (1, 0.0), (2, 0.0)], 25) == (0.0, -1)              # no usable times
    assert timestamp_drift([(3, 120.0), (4, 140.0)], 25) == (pytest.approx(-0.02), 4)     # times from the first


def test_a_constant_rate_video_gets_no_frame_rate_warning(videos, tmp_path):
    result = extract_frames.extract_video(videos / "walk.mp4", tmp_path / "walk",
                                          extract_frames.ExtractConfig(modalities=("RGB",)))
    assert result["ok"] and result["warning"] is None


def test_a_variable_frame_rate_video_is_named_with_what_to_do(videos, tmp_path, monkeypatch):
    """Issue 19 item 13: the decoder's times of a variable-rate video (emulated: from frame 10 on, frames play
    twice as long) are compared with index / fps; the frames are still written, with a warning."""
    real = extract_frames.iter_frames

    def variable_rate(*args, timestamps=None, **kwargs):
        for i, frame in enumerate(real(*args, **kwargs)):
            timestamps.append((i, 1000 * (i if i < 10 else 2 * i - 10) / FPS))
            yield frame

    monkeypatch.setattr(extract_frames, "iter_frames", variable_rate)
    result = extract_frames.extract_video(videos / "walk.mp4", tmp_path / "walk",
                                          extract_frames.ExtractConfig(modalities=("RGB",)))
    assert result["ok"] and read_meta(tmp_path / "walk")["num_frames"] > 0
    n = read_meta(tmp_path / "walk")["num_frames"]
    last = n - 1
    assert f"walk.mp4: variable frame rate: frame {n} plays at {(2 * last - 10) / FPS:.2f} s, not at the " \
           f"{last / FPS:.2f} s" in result["warning"]
    assert "ffmpeg -i IN -vsync cfr -r 25 OUT" in result["warning"]
