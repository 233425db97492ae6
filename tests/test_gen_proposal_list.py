"""gen_proposal_list.py: normalized -> frame-based, and the pre-flight check."""
from __future__ import annotations

import numpy as np
import pytest

import gen_proposal_list
from ops.errors import InputError
from ops.formats.frames import make_meta, write_meta
from ops.formats.proposal_list import ProposalList, make_video_proposals, read_proposal_list, write_proposal_list


def make_folder(root, vid, n_rgb, n_flow, fps=None):
    d = root / vid
    d.mkdir(parents=True)
    for i in range(1, n_rgb + 1):
        (d / f"img_{i:05d}.jpg").write_bytes(b"")
    for i in range(1, n_flow + 1):
        (d / f"flow_x_{i:05d}.jpg").write_bytes(b"")
        (d / f"flow_y_{i:05d}.jpg").write_bytes(b"")
    if fps is not None:
        write_meta(d, make_meta(vid, n_rgb, n_flow, fps, (340, 256), "dis_fast", 20))


@pytest.fixture
def setup(tmp_path):
    frames = tmp_path / "frames"
    make_folder(frames, "good", 100, 99)
    make_folder(frames, "empty", 0, 0)
    make_folder(frames, "mismatch", 100, 90)
    make_folder(frames, "wrong_fps", 100, 99, fps=10.0)       # 20 s x 10 fps = 200 expected
    blocks = [make_video_proposals(v, 1, [[0.1, 0.4]], [2], [[0.1, 0.4], [0.5, 0.9999]])
              for v in ["good", "empty", "missing", "mismatch", "wrong_fps"]]
    src = tmp_path / "norm.txt"
    write_proposal_list(src, ProposalList(blocks, normalized=True))
    ann = tmp_path / "ann.csv"
    ann.write_text("video,t_start,t_end,label,duration\n" +
                   "".join(f"{v},1,4,MoveUp,{10 if v != 'wrong_fps' else 20}\n"
                           for v in ["good", "empty", "missing", "mismatch", "wrong_fps"]))
    return tmp_path, frames, src, ann


def run(args):
    return gen_proposal_list.main(gen_proposal_list.get_args_parser().parse_args([str(a) for a in args]))


def test_preflight_reports_every_problem_and_writes_nothing(setup, caplog):
    tmp, frames, src, ann = setup
    out = tmp / "out.txt"
    code = run(["synthetic", frames, "--input", src, "--output", out, "--annotations", ann])
    assert code == 2 and not out.exists()
    text = caplog.text
    assert "empty: " in text and "zero RGB frames" in text
    assert "missing: " in text and "is missing" in text
    assert "mismatch: " in text and "100 RGB frames but 90 flow frames" in text
    assert "wrong_fps: " in text and "duration 20.00 s x 10 fps = 200" in text
    assert "good: " not in text
    assert "4 problem video(s)" in text


def test_skip_bad_converts_the_rest(setup):
    tmp, frames, src, ann = setup
    out = tmp / "out.txt"
    assert run(["synthetic", frames, "--input", src, "--output", out, "--annotations", ann, "--skip_bad"]) == 0
    plist = read_proposal_list(out)
    assert not plist.normalized and [v.video_id for v in plist] == ["good"]
    v = plist.videos[0]
    assert v.video == str(frames / "good") and v.num_frames == 100
    np.testing.assert_array_equal(v.gt_bounds, [[10, 40]])
    np.testing.assert_array_equal(v.bounds, [[10, 40], [50, 99]])
    # the flow count scales the list when asked
    out2 = tmp / "flow.txt"
    assert run(["synthetic", frames, "--input", src, "--output", out2, "--modality", "Flow", "--skip_bad"]) == 0
    assert read_proposal_list(out2).videos[0].num_frames == 99


def test_bad_arguments(setup):
    tmp, frames, src, _ = setup
    with pytest.raises(ValueError, match="unknown dataset preset"):
        run(["nope", frames, "--input", src, "--output", tmp / "o.txt"])
    with pytest.raises(InputError, match="one output per input"):
        run(["synthetic", frames, "--input", src, src, "--output", tmp / "o.txt"])
