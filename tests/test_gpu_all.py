"""The GPU benchmark run (bench/gpu_all.py): its CPU dry run gives every section numbers; a section that
fails, times out or is skipped is reported without losing the others; the OpenCV reference file round-trips."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

import gpu_all
from gpu_all import Section, Skip, Spec, fake_venv, format_table, parse_budgets, parse_stage_log, run_section
from gpu_reference import read_reference, reference_pairs, write_reference
from ops.errors import InputError
from ops.video.flow import has_opencv_tvl1

STUB_DEMO = """#!/usr/bin/env bash
# Stands in for run_demo.sh: the real venv set-up must accept gpu_all's stand-in venv without installing.
set -euo pipefail
[ "$(cat "$VENV/.requirements.sha256")" = "$(sha256sum {repo}/requirements.txt | cut -d' ' -f1)" ] || exit 3
source {repo}/scripts/setup_venv.sh
"$PY" -c "import numpy"
mkdir -p "$WORK"
echo "=== 00_gen_synthetic_dataset" >&2
echo "=== 00_gen_synthetic_dataset done in 3 s" >&2
echo "=== 01_extract_frames done in 12 s" >&2
echo '{{"metrics": {{"average_mAP": 0.25, "iou_thresholds": [0.5]}}}}' > "$WORK/eval_fused.json"
echo "=== demo finished in $JOBS s" >&2
"""


def test_dry_run_gives_every_section_numbers(tmp_path):
    ref = tmp_path / "ref.npz"
    if has_opencv_tvl1():
        subprocess.run([sys.executable, str(REPO / "bench" / "gpu_reference.py"), "--out", ref, "--width", "64",
                        "--height", "48"], check=True, capture_output=True)
    stub = tmp_path / "demo.sh"
    stub.write_text(STUB_DEMO.format(repo=REPO))
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_all.py"), "--dry_run", "--demo", "--out", out,
                          "--work", tmp_path / "work", "--flow_ref", ref, "--demo_script", stub, "--demo_jobs", "7"],
                         capture_output=True, text=True)
    log = (out / "gpu_all.log").read_text() if (out / "gpu_all.log").exists() else ""
    assert res.returncode == 0, res.stdout + res.stderr + log[-4000:]
    report = json.loads((out / "gpu_all.json").read_text())
    sections = report["sections"]
    assert list(sections) == ["machine", "flow", "frames", "ssn_train", "ssn_test", "demo"]
    for name, sec in sections.items():
        numbers = [f["value"] for f in sec["figures"].values() if isinstance(f["value"], (int, float))]
        assert sec["status"] == "ok" and numbers, (name, sec)
    flow = sections["flow"]["figures"]
    assert (flow["tvl1_torch EPE vs OpenCV TV-L1 (mean)"]["value"] is not None) == has_opencv_tvl1()
    assert flow["tvl1_torch pairs/s, batch 2, 64x48"]["target"] == [">=", 300]
    train = sections["ssn_train"]["figures"]
    assert {"AMP bf16 batch 1: pipeline / memory", "FP32 batch 1: pipeline / memory"} <= set(train)
    demo = sections["demo"]["figures"]
    assert demo["stage 01_extract_frames"]["value"] == 12 and demo["demo end to end"]["value"] == 7
    assert demo["demo fused average mAP"]["value"] == 0.25
    table = (out / "gpu_all.txt").read_text()
    assert table == report["table"] + "\n" and "ssn_test (ok" in table and "end to end / backbone alone" in table
    assert res.stdout.rstrip().endswith(table.rstrip())


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (the container's init may not reap orphans)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _spec(fn, name="probe"):
    return Spec(name, fn, 1.0)


def _slow(sec, args, sz):
    child = subprocess.Popen(["sleep", "60"])
    sec.info(sleeper=child.pid)
    sec.figure("before the hang", 1.5, "s")
    time.sleep(60)


def _broken(sec, args, sz):
    sec.figure("first", 2, "x")
    raise RuntimeError("boom")


def _missing(sec, args, sz):
    raise Skip("ops.models.bmn is not merged")


@pytest.mark.parametrize("fn, status, kept", [(_slow, "timeout", "before the hang"), (_broken, "failed", "first"),
                                             (_missing, "skipped", None)])
def test_a_section_that_hangs_fails_or_skips_keeps_its_figures(tmp_path, fn, status, kept):
    log = tmp_path / "log"
    res = run_section(_spec(fn), gpu_all.get_args_parser().parse_args([]), gpu_all.DRY, 1.0, tmp_path, log,
                      grace=0.5)
    assert res["status"] == status and res["seconds"] < 10
    assert list(res["figures"]) == ([kept] if kept else [])
    if status == "timeout":   # the whole process group went, the section's own children too
        time.sleep(0.2)
        assert not _alive(res["info"]["sleeper"])
    if status == "failed":
        assert "RuntimeError: boom" in res["error"] and "RuntimeError: boom" in log.read_text()
    if status == "skipped":
        assert res["reason"] == "ops.models.bmn is not merged"


def test_section_budget_and_estimates(tmp_path):
    sec = Section("s", tmp_path / "s.json", budget_s=10.0)
    assert sec.can_afford(5.0) and not sec.can_afford(7.0)     # 1.25 x estimate + 2 s must fit
    sec.figure("x", 3, "u", (">=", 2))
    assert json.loads((tmp_path / "s.json").read_text())["figures"]["x"] == \
        {"value": 3.0, "unit": "u", "target": [">=", 2], "note": None}


def test_budgets():
    names = ["flow", "ssn_test"]
    assert parse_budgets([], names)["flow"] == 60
    b = parse_budgets(["30", "ssn_test=5"], names)
    assert (b["flow"], b["ssn_test"], b["ssn_train"]) == (30, 5, 100)
    for bad in (["flow=x"], ["nosuch=3"]):
        with pytest.raises(InputError):
            parse_budgets(bad, names)


def test_stage_log():
    text = "=== 00_a\n=== 00_a done in 3 s\nnoise === 01_b done in 9 s\n=== 01_b done in 12 s\n"
    assert parse_stage_log(text) == ({"00_a": 3, "01_b": 12}, None)
    assert parse_stage_log(text + "=== demo finished in 15 s\n")[1] == 15


def test_table_marks_targets():
    fig = {"value": 250.0, "unit": "pairs/s", "target": [">=", 300], "note": None}
    report = {"sections": {"flow": {"status": "ok", "seconds": 3, "budget_s": 60, "figures": {
        "slow": fig, "fast": {**fig, "value": 301.0}, "none": {**fig, "value": None}}, "notes": ["a note"]},
        "bmn": {"status": "skipped", "seconds": 0, "budget_s": 60, "figures": {}, "reason": "not merged"}}}
    rows = format_table(report).splitlines()
    assert rows[2].endswith("MISSED") and rows[3].endswith("met") and rows[4].endswith("n/a")
    assert "a note" in rows[5] and rows[6].startswith("bmn (skipped, 0/60 s)") and "not merged" in rows[6]


def test_fake_venv_is_accepted_and_runs_this_python(tmp_path):
    venv = fake_venv(tmp_path / "venv", sys.executable)
    out = subprocess.run([venv / "bin" / "python", "-c", "import sys, numpy; print(sys.prefix)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == sys.prefix
    res = subprocess.run(["bash", "-c", f"VENV={venv} source {REPO}/scripts/setup_venv.sh && echo $PY"],
                         capture_output=True, text=True, check=True)
    assert res.stdout.strip() == str(venv / "bin" / "python") and "installing" not in res.stderr


def test_reference_round_trip_and_errors(tmp_path):
    pairs = reference_pairs(24, 32, 3.0)
    assert len(pairs) == 5 and all(p[0].shape == (24, 32) and p[2].shape == (24, 32, 2) for p in pairs.values())
    opencv = np.stack([p[2] for p in pairs.values()]) + 0.5
    write_reference(tmp_path / "r.npz", pairs, opencv, {"opencv": "x"})
    ref = read_reference(tmp_path / "r.npz")
    assert ref["names"] == list(pairs) and ref["meta"] == {"opencv": "x"}
    np.testing.assert_array_equal(ref["opencv"], opencv.astype(np.float32))
    np.testing.assert_array_equal(ref["prev"][0], next(iter(pairs.values()))[0])
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad.npz: unreadable"):
        read_reference(tmp_path / "bad.npz")
    np.savez(tmp_path / "partial.npz", names=np.array(["a"]))
    with pytest.raises(InputError, match="missing"):
        read_reference(tmp_path / "partial.npz")
