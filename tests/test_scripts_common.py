"""The numbered scripts' shared shell helpers (scripts/common.sh)."""
from __future__ import annotations

import subprocess

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
    own = {"ARCH_ARGS": "--global_pool max --new_length 5", "ARCH_ARGS_Flow": "--new_length 10"}
    assert helper(tmp_path, "arch_args Flow", **own).split() == ["--global_pool", "max", "--new_length", "5",
                                                                 "--new_length", "10"]    # argparse: the last wins
    assert helper(tmp_path, "arch_args RGB", **own).split() == ["--global_pool", "max", "--new_length", "5"]


def test_tag_stream_is_true_for_the_streams_tag_reads(tmp_path):
    calls = "; ".join(f"tag_stream {m} && echo {m}" for m in ("RGB", "Flow", "RGBDiff")) + "; true"
    assert helper(tmp_path, f"{{ {calls}; }}").split() == ["RGB", "Flow"]
