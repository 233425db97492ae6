"""The numbered scripts' shared shell helpers (scripts/common.sh)."""
from __future__ import annotations

import subprocess

from conftest import REPO, pipeline_env


def trained(tmp_path, folder) -> str:
    script = f'source "{REPO}/scripts/common.sh" && trained "{folder}"'
    res = subprocess.run(["bash", "-c", script], env=pipeline_env(tmp_path / "work"), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_later_stages_take_the_held_out_best_checkpoint_only_when_there_is_one(tmp_path):
    """Issue 21: a run that validated (checkpoint_best.pth) hands its best on; one that did not, its last."""
    run = tmp_path / "ssn_Flow"
    run.mkdir()
    (run / "checkpoint_last.pth").write_bytes(b"")
    assert trained(tmp_path, run) == f"{run}/checkpoint_last.pth"
    (run / "checkpoint_best.pth").write_bytes(b"")
    assert trained(tmp_path, run) == f"{run}/checkpoint_best.pth"
