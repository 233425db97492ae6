"""Shared fixtures: the real public data (skipped when absent) and a tiny synthetic dataset."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def load_bench(name: str):
    """The module of ``bench/<name>.py`` (benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def write_oracle_features(annotations: Path, root: Path, subsets=("validation", "test"), stride: int = 2,
                          dim: int = 8, noise: float = 0.3, seed: int = 0) -> Path:
    """Snippet features that carry the ground truth (for the feature-based methods' end-to-end tests): one
    row every ``stride`` frames of each 10 fps video; RGB channel 0 = inside an instance, 1 = near its start,
    2 = near its end, 3 + label = its class; Flow the same with other noise.  Records as extract_features
    writes them (``ops.formats.features``)."""
    import numpy as np

    from ops.formats.annotations import load_annotations
    from ops.formats.features import FeatureRecord, write_features

    rng = np.random.default_rng(seed)
    for subset in subsets:
        db = load_annotations(annotations, subset)
        gt = db.ground_truth()
        for video in db.video_ids:
            fps = 10.0
            num_frames = int(round(db.duration(video) * fps))
            rows = num_frames // stride
            t = (np.arange(rows) * stride + stride / 2) / fps
            clean = np.zeros((rows, dim), np.float32)
            bounds, labels = gt.get(video, (np.zeros((0, 2)), np.zeros(0, np.int64)))
            for (s, e), lab in zip(bounds, labels):
                inside = (t >= s) & (t <= e)
                clean[inside, 0] = 1.0
                clean[:, 1] += np.exp(-0.5 * ((t - s) / 0.3) ** 2)
                clean[:, 2] += np.exp(-0.5 * ((t - e) / 0.3) ** 2)
                clean[inside, min(3 + int(lab), dim - 1)] = 1.0
            for stream in ("RGB", "Flow"):
                x = clean + noise * rng.standard_normal(clean.shape).astype(np.float32)
                write_features(root, x, FeatureRecord(video=video, stream=stream, num_rows=rows, dim=dim, fps=fps,
                                                      num_frames=num_frames, first_frame=0.0, stride=float(stride),
                                                      snippet_frames=stride, centre=stride / 2, backbone="oracle"))
    return root


@pytest.fixture(scope="session")
def tiny_features(tiny_dataset, tmp_path_factory) -> Path:
    """Oracle snippet features of the tiny dataset's videos (:func:`write_oracle_features`)."""
    return write_oracle_features(tiny_dataset / "annotations", tmp_path_factory.mktemp("tiny_features"))


# the numbered scripts in ./run_demo.sh's order; the smoke test runs every one on the tiny preset
PIPELINE_STAGES = ("00_gen_synthetic_dataset", "01_extract_frames", "02_sliding_window_proposals",
                   "03_binary_actionness", "04_tag_proposals", "05_proposal_lists", "06_ssn_train", "07_ssn_test",
                   "08_evaluate", "09_extract_features", "10_bmn", "11_bsn", "12_ssad",
                   "13_proposal_methods_to_detections", "14_compare")
# enough epochs for every method to fit the tiny preset's 4 training videos (test_all_methods.py holds every
# row to chance on them), all 4 used (no held-out video: one of four picks a noisy best epoch); RGBDiff's SSN
# takes RGB's 20 epochs (at 12, one thread, SSN on BSN's proposals with it stayed under chance).  BMN and BSN's
# TEM take one video a step at a higher lr: at the preset's schedule 40 steps left BMN's proposals 1-4 frames
# long (AR@100 40 on its own training videos)
TINY_PIPELINE_SETTINGS = dict(
    MODALITIES="RGB Flow RGBDiff",     # every SSN stream, the optional third (RGB differences) too
    SIDE_BY_SIDE="1",                  # streams, SSAD's models and the feature methods at once (scripts/common.sh)
    ARCH_ARGS_Flow="--snippet_seconds 0.5",   # 5 flow frames at 10 fps: half the work of the configs' second
    JOBS="2", FLOW="dis_fast", TRAIN_SEED="3",
    BINARY_ARGS="--epochs 6 -b 2 --lr 0.01 --dropout 0.5 --epoch_multiplier 4",
    SSN_ARGS="--epochs 12 -b 2 --lr 0.01 --dropout 0.5 --epoch_multiplier 4", SSN_ARGS_Flow="",
    SSN_ARGS_RGB="--epochs 20", SSN_ARGS_RGBDiff="--epochs 20", BMN_VAL="", BSN_VAL="",
    BMN_ARGS="--epochs 30 -b 1 --lr 0.002 --lr_steps 25", BSN_TEM_ARGS="--epochs 30 -b 1 --lr 0.004 --lr_steps 25",
    BSN_PEM_ARGS="--epochs 16 -b 1", SSAD_ARGS="--epochs 12 -b 2 --lr_list 0.001", CLS_ARGS="--epochs 40 -b 2")


def pipeline_env(work, **variables) -> dict:
    """Environment of the numbered scripts on the tiny preset in ``work``, plus ``variables``."""
    return {**os.environ, "PY": sys.executable, "CONFIG": "synthetic_demo", "SYNTH_PRESET": "tiny", "WORK": str(work),
            **variables}


def run_stage_script(work, stage: str, **variables) -> subprocess.CompletedProcess:
    """Run ``scripts/<stage>.sh`` on the tiny preset in ``work`` (the smoke test's settings, then ``variables``)."""
    env = pipeline_env(work, **{**TINY_PIPELINE_SETTINGS, **variables})
    return subprocess.run(["bash", str(REPO / "scripts" / f"{stage}.sh")], env=env, capture_output=True, text=True)


def run_pipeline(work, stages, **variables) -> None:
    """Run ``stages`` on the tiny preset in ``work`` as ./run_demo.sh runs them (``scripts/run_stages.sh``: the
    streams' parts, SSAD's models and the feature methods 10-12 side by side, one thread each on CI's two cores);
    a failure fails the test with the end of the scripts' stderr, which names the failed stage or part."""
    env = pipeline_env(work, **{**TINY_PIPELINE_SETTINGS, **variables})
    with tempfile.TemporaryFile() as err:   # a file, not a pipe: a chatty stage cannot block on a full pipe
        proc = subprocess.run(["bash", str(REPO / "scripts" / "run_stages.sh"), *stages], env=env,
                              stdout=subprocess.DEVNULL, stderr=err)
        err.seek(0)
        assert proc.returncode == 0, f"run_stages.sh {' '.join(stages)} failed ({proc.returncode}):\n" \
                                     f"{err.read().decode()[-6000:]}"


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> Path:
    """WORK of every numbered script (00-14) run on the tiny preset with a few epochs per method.

    Tests read it; a test that changes files makes its own copy."""
    work = tmp_path_factory.mktemp("pipeline_tiny")
    run_pipeline(work, PIPELINE_STAGES)
    return work
