"""Shared fixtures: the real public data (skipped when absent) and a tiny synthetic dataset."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real annotation data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """The synthetic 'tiny' preset, generated once per test session (about 2 s)."""
    from ops import synthetic

    out = tmp_path_factory.mktemp("synthetic_tiny")
    cfg = synthetic.SIZE_PRESETS["tiny"]
    specs = synthetic.dataset_specs(cfg, seed=0)
    (out / "videos").mkdir()
    for spec in specs:
        synthetic.write_video(spec, out / "videos" / f"{spec.video}.mp4", cfg.width, cfg.height)
    synthetic.write_annotations(out, specs, cfg, seed=0, preset="tiny")
    return out
