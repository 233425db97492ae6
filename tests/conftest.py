"""Shared fixtures: the real public data (skipped when absent) and a tiny synthetic dataset."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real annotation data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """The synthetic 'tiny' preset, generated once per test session (about 2 s)."""
    from ops.video import synthetic

    out = tmp_path_factory.mktemp("synthetic_tiny")
    cfg = synthetic.SIZE_PRESETS["tiny"]
    specs = synthetic.dataset_specs(cfg, seed=0)
    (out / "videos").mkdir()
    for spec in specs:
        synthetic.write_video(spec, out / "videos" / f"{spec.video}.mp4", cfg.width, cfg.height)
    synthetic.write_annotations(out, specs, cfg, seed=0, preset="tiny")
    return out


def run_script(name: str, *args, check: bool = True):
    """Run a top-level stage script in a subprocess, as a user would."""
    import subprocess

    res = subprocess.run([sys.executable, str(REPO / name), *[str(a) for a in args]], capture_output=True,
                         text=True)
    if check and res.returncode != 0:
        raise AssertionError(f"{name} {args} failed ({res.returncode}):\n{res.stdout}\n{res.stderr[-4000:]}")
    return res


@pytest.fixture(scope="session")
def tiny_frames(tiny_dataset, tmp_path_factory) -> Path:
    """RGB + DIS flow frames of the tiny dataset at its own resolution (about 5 s)."""
    out = tmp_path_factory.mktemp("tiny_frames")
    run_script("extract_frames.py", tiny_dataset / "videos", out, "--new_width", 0, "--new_height", 0,
               "--flow", "dis_fast", "-j", 2)
    return out
