"""The numbered scripts' shared shell helpers (scripts/common.sh)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from conftest import REPO, pipeline_env


def helper(tmp_path, call: str, **variables) -> str:
    """What ``call`` (a common.sh helper with its arguments) prints, with the synthetic demo's config."""
    script = f'source "{REPO}/scripts/common.sh" && {call}'
    res = subprocess.run(["bash", "-c", script], env=pipeline_env(tmp_path / "work", **variables),
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def trained(tmp_path, folder) -> str:
    return helper(tmp_path, f'trained "{folder}"')


def test_later_stages_take_the_held_out_best_checkpoint_only_when_there_is_one(tmp_path):
    """Issue 21: a run that validated (checkpoint_best.pth) hands its best on; one that did not, its last."""
    run = tmp_path / "ssn_Flow"
    run.mkdir()
    (run / "checkpoint_last.pth").write_bytes(b"")
    assert trained(tmp_path, run) == f"{run}/checkpoint_last.pth"
    (run / "checkpoint_best.pth").write_bytes(b"")
    assert trained(tmp_path, run) == f"{run}/checkpoint_best.pth"


def test_arch_args_add_a_streams_own_backbone_flags_after_the_shared_ones(tmp_path):
    # the synthetic demo's own: Flow snippets of a second; set empty, TSN's 5 frames (the backbone's default)
    assert helper(tmp_path, "arch_args Flow", ARCH_ARGS="--global_pool max").split() == ["--global_pool", "max",
                                                                                         "--snippet_seconds", "1"]
    assert helper(tmp_path, "arch_args Flow", ARCH_ARGS="--global_pool max", ARCH_ARGS_Flow="").split() == [
        "--global_pool", "max"]
    assert helper(tmp_path, "arch_args RGB", ARCH_ARGS="--global_pool max").split() == ["--global_pool", "max"]
    # RGB differences: half a second (5 at the demo's 10 fps, as TSN's default)
    assert helper(tmp_path, "arch_args RGBDiff").split() == ["--global_pool", "max", "--snippet_seconds", "0.5"]
    own = {"ARCH_ARGS": "--global_pool max --new_length 5", "ARCH_ARGS_Flow": "--new_length 10"}
    assert helper(tmp_path, "arch_args Flow", **own).split() == ["--global_pool", "max", "--new_length", "5",
                                                                 "--new_length", "10"]    # argparse: the last wins
    assert helper(tmp_path, "arch_args RGB", **own).split() == ["--global_pool", "max", "--new_length", "5"]


def test_tag_stream_is_true_for_the_streams_tag_reads(tmp_path):
    calls = "; ".join(f"tag_stream {m} && echo {m}" for m in ("RGB", "Flow", "RGBDiff")) + "; true"
    assert helper(tmp_path, f"{{ {calls}; }}").split() == ["RGB", "Flow"]


def run_helper(tmp_path, call: str, **variables) -> subprocess.CompletedProcess:
    script = f'source "{REPO}/scripts/common.sh" && {call}'
    return subprocess.run(["bash", "-c", script], env=pipeline_env(tmp_path / "work", **variables),
                          capture_output=True, text=True, timeout=60)


# part S: waits (up to 3 s) until every part has started, so it can only succeed when the parts run at the
# same time; prints its stream and its thread settings
WAITING_PART = ('part() { touch "$WORK/started_$1"; for _ in $(seq 30); do [ -f "$WORK/started_A" ] && '
                '[ -f "$WORK/started_B" ] && break; sleep 0.1; done; [ -f "$WORK/started_A" ] && '
                '[ -f "$WORK/started_B" ]; echo "$1 $OMP_NUM_THREADS $MKL_NUM_THREADS"; }; ')


def test_each_stream_runs_the_parts_in_turn_by_default(tmp_path):
    res = run_helper(tmp_path, 'part() { echo "$1"; }; each_stream part RGB Flow RGBDiff')
    assert res.returncode == 0 and res.stdout.split() == ["RGB", "Flow", "RGBDiff"]
    # in turn, a part that waits for the other never sees it start
    assert run_helper(tmp_path, WAITING_PART + "each_stream part A B").returncode != 0


def test_each_stream_side_by_side_runs_the_parts_together_with_a_share_of_the_cores(tmp_path):
    import os
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    res = run_helper(tmp_path, WAITING_PART + "each_stream part A B", SIDE_BY_SIDE="1",
                     OMP_NUM_THREADS="", MKL_NUM_THREADS="")
    assert res.returncode == 0, res.stderr
    logs = tmp_path / "work" / "logs"
    # the part's output goes to WORK/logs/<stage>_<stream>.log (the stage: the script's name, here bash's)
    assert sorted(p.name for p in logs.iterdir()) == ["bash_A.log", "bash_B.log"]
    assert (logs / "bash_A.log").read_text().split() == ["A", str(threads), str(threads)]
    assert "bash: A B side by side" in res.stderr
    # a user's thread count wins; STREAMS_SIDE_BY_SIDE, the variable's earlier name, still works
    res = run_helper(tmp_path, WAITING_PART + "rm -f $WORK/started_*; each_stream part A B",
                     STREAMS_SIDE_BY_SIDE="1", OMP_NUM_THREADS="3", MKL_NUM_THREADS="")
    assert (logs / "bash_B.log").read_text().split() == ["B", "3", "3"]


def test_each_stream_side_by_side_fails_when_a_part_fails_and_shows_its_log(tmp_path):
    part = 'part() { echo "$1 working"; [ "$1" != Flow ] || { echo "Flow: error: no frames" >&2; exit 3; }; }; '
    res = run_helper(tmp_path, part + "each_stream part RGB Flow RGBDiff; echo after", SIDE_BY_SIDE="1")
    assert res.returncode == 1 and "after" not in res.stdout     # the stage stops (set -e)
    assert "bash: Flow failed" in res.stderr and "Flow: error: no frames" in res.stderr
    assert "RGB failed" not in res.stderr
    logs = tmp_path / "work" / "logs"
    assert (logs / "bash_RGBDiff.log").read_text().strip() == "RGBDiff working"   # the others finish
    # one stream: no side by side, nothing to split
    res = run_helper(tmp_path, 'part() { echo "$1"; }; each_stream part RGB', STREAMS_SIDE_BY_SIDE="1")
    assert res.stdout.strip() == "RGB" and "side by side" not in res.stderr


def fake_repo(tmp_path) -> Path:
    """A copy of the scripts' helpers and configs with stand-in stages: 09 and 13 note their turn in WORK/order;
    10, 11 and 12 note theirs, then wait (up to 3 s) for the other two to start, so they only succeed together."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "scripts", repo / "scripts", ignore=shutil.ignore_patterns("[0-9][0-9]_*.sh"))
    wait = ('for _ in $(seq 30); do [ "$(ls "$WORK"/started_* | wc -l)" = 3 ] && break; sleep 0.1; done; '
            '[ "$(ls "$WORK"/started_* | wc -l)" = 3 ]; ')
    for stage, body in (("09_features", ""), ("10_bmn", wait), ("11_bsn", wait), ("12_ssad", wait), ("13_last", "")):
        waits = f'touch "$WORK/started_{stage}"; ' if body else ""
        (repo / "scripts" / f"{stage}.sh").write_text(
            f'source "$(dirname "${{BASH_SOURCE[0]}}")/common.sh"\n{waits}{body}echo {stage} >> "$WORK/order"\n'
            f'echo "{stage} threads ${{OMP_NUM_THREADS:-}}"\n')
    return repo


def run_stages(repo, tmp_path, *stages, **variables) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(repo / "scripts" / "run_stages.sh"), *stages], capture_output=True, text=True,
                          env=pipeline_env(tmp_path / "work", **variables), timeout=60)


def test_run_stages_runs_the_feature_methods_side_by_side_between_the_other_stages(tmp_path):
    repo, work = fake_repo(tmp_path), tmp_path / "work"
    res = run_stages(repo, tmp_path, "09", "10_bmn", "11", "12_ssad.sh", "13", SIDE_BY_SIDE="1", OMP_NUM_THREADS="1")
    assert res.returncode == 0, res.stderr
    order = (work / "order").read_text().split()
    assert order[0] == "09_features" and sorted(order[1:4]) == ["10_bmn", "11_bsn", "12_ssad"]
    assert order[4] == "13_last"                                   # after all three finished
    log = (work / "logs" / "11_bsn.log").read_text()                # the stage's output, its time too
    assert "11_bsn threads 1\n" in log and "=== 11_bsn done in" in log
    assert "10_bmn 11_bsn 12_ssad side by side" in res.stderr and "=== 13_last done in" in res.stderr
    assert "=== 10_bmn 11_bsn 12_ssad done in" in res.stderr


def test_run_stages_in_turn_by_default_and_stops_at_a_failed_stage(tmp_path):
    repo, work = fake_repo(tmp_path), tmp_path / "work"
    # in turn, 10 waits for 11 and 12, which never start: it fails, and nothing after it runs
    res = run_stages(repo, tmp_path, "09", "10", "11", "13")
    assert res.returncode != 0
    assert (work / "order").read_text().split() == ["09_features"]
    assert "=== 10_bmn\n" in res.stderr and "11_bsn" not in res.stderr


def test_run_stages_refuses_an_unknown_or_ambiguous_stage_before_running_any(tmp_path):
    repo, work = fake_repo(tmp_path), tmp_path / "work"
    for stage in ("99", "1", "common"):
        res = run_stages(repo, tmp_path, "09", stage)
        assert res.returncode == 2, stage
        assert f"run_stages.sh: error: no stage '{stage}'; stages: 09_features 10_bmn" in res.stderr
        assert not (work / "order").exists()
