"""Errors a user can fix are one line from every stage script; bugs keep their traceback (ops/errors.py)."""
from __future__ import annotations

import argparse
import pickle
import shutil

import pytest

from ops.errors import InputError, SetupError, run_main
from ops.evaluation.fusion import FusionWeightsError
from ops.formats.annotations import AnnotationError
from ops.formats.detections import DetectionFormatError
from ops.formats.proposal_list import ProposalListError
from ops.formats.results import ResultFileError, UnsafePickleError
from ops.train.engine import ConfigMismatchError
from ops.video.video import VideoError
from tests.conftest import run_script


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stage.py")
    p.add_argument("--x", type=int, default=0)
    return p


def test_run_main_parses_and_passes_the_exit_status():
    assert run_main(lambda a: a.x, parser(), ["--x", "3"]) == 3
    assert run_main(lambda a: None, parser(), []) == 0
    assert run_main(lambda a: {"mAP@0.5": 0.8}, parser(), []) == 0   # eval stages return their metrics


@pytest.mark.parametrize("error", [InputError("a.txt:3: t_start 'abc' is not a number"),
                                   SetupError("needs OpenCV's contrib modules"),
                                   FileNotFoundError("frame root /x does not exist; run extract_frames.py")])
def test_input_errors_print_one_line_and_exit_2(error, capsys, monkeypatch):
    monkeypatch.delenv("SSN_TRACEBACK", raising=False)

    def main(args):
        raise error

    assert run_main(main, parser(), []) == 2
    assert capsys.readouterr().err == f"stage.py: error: {error}\n"


def test_bugs_keep_their_traceback_and_ssn_traceback_shows_all(monkeypatch):
    monkeypatch.delenv("SSN_TRACEBACK", raising=False)
    for bug in (KeyError("x"), ValueError("a plain ValueError is a bug, not bad input")):
        with pytest.raises(type(bug)):
            run_main(lambda a: (_ for _ in ()).throw(bug), parser(), [])
    monkeypatch.setenv("SSN_TRACEBACK", "1")
    with pytest.raises(InputError):
        run_main(lambda a: (_ for _ in ()).throw(InputError("bad")), parser(), [])


@pytest.mark.parametrize("cls", [AnnotationError, ProposalListError, ResultFileError, UnsafePickleError,
                                 DetectionFormatError, FusionWeightsError, ConfigMismatchError, VideoError])
def test_format_errors_are_input_errors_and_keep_their_old_bases(cls):
    assert issubclass(cls, InputError) and issubclass(cls, ValueError)
    assert issubclass(VideoError, RuntimeError) and issubclass(UnsafePickleError, pickle.UnpicklingError)
    assert issubclass(SetupError, RuntimeError)


def test_stage_script_names_the_bad_line_without_traceback(tiny_dataset, tmp_path):
    ann = tmp_path / "annotations"
    shutil.copytree(tiny_dataset / "annotations", ann)
    bad = sorted((ann / "temporal_annotations_test").glob("*_test.txt"))[-1]
    lines = bad.read_text().splitlines()
    video = lines[0].split()[0]
    bad.write_text("\n".join([f"{video} abc 3.0"] + lines[1:]) + "\n")
    out = tmp_path / "sw.txt"
    res = run_script("gen_sliding_window_proposals.py", "synthetic", "test", out, "--annotations", ann,
                     check=False)
    assert res.returncode == 2 and not out.exists()
    assert "Traceback" not in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith(f"gen_sliding_window_proposals.py: error: {bad}:1: ") and "abc" in last


def test_stage_script_names_a_file_that_is_not_a_checkpoint(tmp_path):
    junk = tmp_path / "model.pth"
    junk.write_text("not a checkpoint\n")
    plist = tmp_path / "list.txt"
    plist.write_text("")
    res = run_script("ssn_test.py", "synthetic", "RGB", plist, junk, tmp_path / "out.pkl", check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith(f"ssn_test.py: error: {junk}: not a loadable checkpoint")


def test_an_error_from_a_dataloader_worker_is_one_line(tmp_path):
    """Issue 19 item 11: a missing frame read in a worker reached the user as a 26-line traceback."""
    import torch

    from ops.errors import one_line

    class Broken(torch.utils.data.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            raise FileNotFoundError(f"cannot read frame {tmp_path}/img_00001.jpg (missing or corrupt); re-extract")

    with pytest.raises(FileNotFoundError) as err:
        next(iter(torch.utils.data.DataLoader(Broken(), num_workers=1)))
    assert "\n" in str(err.value)
    assert one_line(err.value) == f"cannot read frame {tmp_path}/img_00001.jpg (missing or corrupt); re-extract"
