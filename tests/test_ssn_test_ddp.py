"""ssn_test.py under torchrun: 2 CPU processes (gloo) give the same result file as one process."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ops.formats.results import load_raw_outputs, read_results
from ops.models.backbones import BackboneConfig
from ops.models.builder import build_model
from ops.train.dataset import data_spec
from ops.train.engine import TrainConfig, save_checkpoint
from tests.conftest import REPO, run_script

BACKBONE = {"arch": "tiny", "modality": "RGB", "new_length": 1, "pretrained": None, "bn_mode": "full",
            "dropout": 0.0}


def random_checkpoint(path: Path) -> Path:
    """An untrained tiny SSN checkpoint (scoring needs no training), with visible head outputs."""
    torch.manual_seed(0)
    model = build_model({"type": "ssn", "backbone": BACKBONE, "num_classes": 5, "num_segments": [2, 5, 2],
                         "stpp": [1, [1, 2], 1], "dropout": 0.5})
    for fc in (model.activity_fc, model.completeness_fc, model.regressor_fc):
        torch.nn.init.normal_(fc.weight, std=0.1)
        torch.nn.init.normal_(fc.bias, std=0.1)
    extra = {"reg_stats": [[0.1, -0.2], [0.5, 0.7]],
             "input_spec": data_spec(BackboneConfig.from_dict(BACKBONE), flip=False)}
    save_checkpoint(path, model, None, 1, model.config(), TrainConfig(), [], extra)
    return path


def test_torchrun_two_processes_equal_one(tiny_dataset, tiny_frames, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not installed beside this python")
    plist = tmp_path / "test.txt"
    run_script("gen_sliding_window_proposals.py", "synthetic", "test", plist, "--annotations",
               tiny_dataset / "annotations", "--frame_path", tiny_frames)
    ckpt = random_checkpoint(tmp_path / "ssn.pth")
    args = ["synthetic", "RGB", str(plist), str(ckpt)]
    flags = ["--frame_interval", "3", "-j", "0", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}        # torchrun's default; the same for both runs
    one = subprocess.run([sys.executable, str(REPO / "ssn_test.py"), *args, str(tmp_path / "one.pkl"), *flags],
                         capture_output=True, text=True, env=env, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", str(REPO / "ssn_test.py"), *args,
                          str(tmp_path / "two.pkl"), *flags, "--save_raw", str(tmp_path / "raw")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stderr.count("4 videos, 0 already scored, 4 to score in 2 process(es)") == 1   # rank 0 only
    a, b = read_results(tmp_path / "one.pkl"), read_results(tmp_path / "two.pkl")
    assert list(a) == list(b) and len(a) == 4                   # every video once, in list order
    for key in a:
        for x, y in zip(a[key].as_tuple(), b[key].as_tuple()):
            np.testing.assert_allclose(y, x, rtol=0, atol=1e-6)
    assert not (tmp_path / "two.pkl.parts").exists()
    # both processes wrote raw outputs for their own videos
    raw = sorted(p.stem for p in (tmp_path / "raw").glob("*.npz"))
    assert raw == sorted(Path(k).name for k in a)
    assert load_raw_outputs(tmp_path / "raw" / f"{raw[0]}.npz").frame_interval == 3
