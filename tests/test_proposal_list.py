"""Proposal list: round trips, the real ActivityNet file, malformed input, labelling."""
from __future__ import annotations

import numpy as np
import pytest

from ops.errors import InputError
from ops.formats.proposal_list import (ProposalList, ProposalListError, VideoProposals, format_proposal_list,
                                       label_proposals, make_video_proposals, read_frame_based_list, read_proposal_list,
                                       to_frame_based, write_proposal_list)

NORMALIZED = """# 1
vid_a
1
1
2
3 0.1000 0.3000
5 0.5000 0.9000
3
3 0.6667 1.0000 0.1500 0.2500
0 0.0000 0.0000 0.3500 0.4500
5 0.8000 0.8889 0.5000 0.9500
# 2
vid_b
1
1
0
0
"""

FRAME_BASED = """# 0
/frames/vid_a
200
1
1
3 20 60
2
3 0.6667 1.0000 30 50
0 0.0000 0.0000 70 90
"""


def write(tmp_path, text, name="list.txt"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_normalized_round_trip_and_values(tmp_path):
    plist = read_proposal_list(write(tmp_path, NORMALIZED))
    assert plist.normalized and plist.first_index == 1 and len(plist) == 2
    a, b = plist.videos
    assert a.video == "vid_a" and a.num_frames == 1 and a.fps == 1
    np.testing.assert_array_equal(a.gt_labels, [3, 5])
    np.testing.assert_allclose(a.gt_bounds, [[0.1, 0.3], [0.5, 0.9]])
    np.testing.assert_array_equal(a.labels, [3, 0, 5])
    np.testing.assert_allclose(a.bounds[2], [0.5, 0.95])
    assert b.num_gt == 0 and b.num_proposals == 0
    out = tmp_path / "out.txt"
    write_proposal_list(out, plist)
    assert out.read_text() == NORMALIZED


def test_frame_based_round_trip(tmp_path):
    plist = read_proposal_list(write(tmp_path, FRAME_BASED))
    assert not plist.normalized and plist.first_index == 0
    v = plist.videos[0]
    assert v.video_id == "vid_a" and v.num_frames == 200
    np.testing.assert_array_equal(v.bounds, [[30, 50], [70, 90]])
    assert format_proposal_list(plist) == FRAME_BASED


def test_built_list_round_trips_through_both_variants(tmp_path):
    rng = np.random.default_rng(0)
    blocks = []
    for k in range(5):
        gt = np.sort(rng.uniform(0, 1, size=(3, 2)), axis=1).round(4)
        props = np.sort(rng.uniform(0, 1, size=(7, 2)), axis=1).round(4)
        blocks.append(make_video_proposals(f"v{k}", 1, gt, [1, 2, 3], props))
    plist = ProposalList(blocks, normalized=True)
    write_proposal_list(tmp_path / "n.txt", plist)
    again = read_proposal_list(tmp_path / "n.txt")
    for x, y in zip(plist, again):
        np.testing.assert_allclose(x.bounds, y.bounds)
        np.testing.assert_array_equal(x.labels, y.labels)
        np.testing.assert_allclose(x.best_iou, y.best_iou, atol=5e-5)
    frames = ProposalList([to_frame_based(b, 1000, f"/f/{b.video}") for b in again], normalized=False)
    write_proposal_list(tmp_path / "f.txt", frames)
    back = read_proposal_list(tmp_path / "f.txt")
    assert not back.normalized
    np.testing.assert_array_equal(back.videos[0].bounds, np.floor(again.videos[0].bounds * 1000))
    assert (tmp_path / "f.txt").read_text() == format_proposal_list(back)


def test_real_activitynet_list_is_byte_identical(shared_data, tmp_path):
    src = shared_data / "activitynet1.2" / "activitynet1.2_tag_val_normalized_proposal_list.txt"
    plist = read_proposal_list(src)
    assert len(plist) == 2383 and plist.normalized
    assert sum(v.num_proposals for v in plist) == 120148
    write_proposal_list(tmp_path / "copy.txt", plist)
    assert (tmp_path / "copy.txt").read_bytes() == src.read_bytes()


def test_labelling_reproduces_the_real_list(shared_data):
    """The file was labelled before rounding to 4 decimals: labels must agree wherever the
    file's IoU is clear of rounding (>= 0.01), and IoU / overlap to rounding precision."""
    plist = read_proposal_list(shared_data / "activitynet1.2" / "activitynet1.2_tag_val_normalized_proposal_list.txt")
    labels, ious, file_labels, file_ious = [], [], [], []
    for v in plist:
        if np.any(np.diff(v.gt_bounds, axis=1) < 1e-3):
            continue  # ground truth rounded to zero length: its true extent is lost
        lab, iou, _ = label_proposals(v.bounds, v.gt_bounds, v.gt_labels)
        labels.append(lab), ious.append(iou), file_labels.append(v.labels), file_ious.append(v.best_iou)
    labels, ious = np.concatenate(labels), np.concatenate(ious)
    file_labels, file_ious = np.concatenate(file_labels), np.concatenate(file_ious)
    clear = file_ious >= 0.01
    assert clear.sum() > 80000
    np.testing.assert_array_equal(labels[clear], file_labels[clear])
    err = np.abs(ious - file_ious)
    assert np.median(err) < 5e-4 and np.mean(err < 0.01) > 0.995


def test_label_proposals_hand_computed():
    gt = [[10, 20], [30, 50]]
    props = [[10, 20], [15, 25], [30, 40], [60, 70], [19, 31], [20, 30]]
    labels, iou, ovl = label_proposals(props, gt, [2, 7])
    np.testing.assert_array_equal(labels, [2, 2, 7, 0, 2, 0])
    np.testing.assert_allclose(iou, [1.0, 5 / 15, 10 / 20, 0.0, 1 / 21, 0.0])
    # overlap over the proposal itself, with the best-IoU ground truth
    np.testing.assert_allclose(ovl, [1.0, 0.5, 1.0, 0.0, 1 / 12, 0.0])
    empty = label_proposals(props, np.zeros((0, 2)), [])
    assert all(len(x) == 6 and not x.any() for x in empty)


@pytest.mark.parametrize("text, line, message", [
    (NORMALIZED.replace("3\n3 0.6667", "4\n3 0.6667", 1), 12, "needs 5 fields"),          # count too high
    (NORMALIZED.replace("5 0.5000 0.9000", "5 0.5000 abc"), 7, "non-numeric field 'abc'"),
    (NORMALIZED.replace("0.3500 0.4500", "0.4500 0.3500"), 10, "after its end"),
    (NORMALIZED.replace("3 0.1000 0.3000", "3 0.3000 0.1000"), 6, "after its end"),
    (NORMALIZED[: NORMALIZED.index("5 0.8000")], 10, "file ends inside the proposal lines"),  # truncated
    (NORMALIZED.replace("# 2\n", "#2\n"), 12, "block header"),
    (NORMALIZED.replace("vid_b\n1\n1\n0\n0\n", "vid_b\n1\n1\nx\n0\n"), 16, "number of ground-truth"),
    (NORMALIZED.replace("vid_b\n1\n1\n0\n0\n", "vid_b\n1\n1\n"), 15, "file ends where"),
    (NORMALIZED.replace("0.3500 0.4500", "nan nan"), 10, "non-finite value"),         # zero duration upstream
    (NORMALIZED.replace("5 0.5000 0.9000", "5 0.5000 inf"), 7, "non-finite value"),
])
def test_malformed_input_names_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text, "bad.txt")
    with pytest.raises(ProposalListError) as err:
        read_proposal_list(path)
    assert f"{path}:{line}:" in str(err.value)
    assert message in str(err.value)


def test_writer_refuses_nan_bounds(tmp_path):
    v = make_video_proposals("vid", 1, [[0.1, 0.2]], [1], [[np.nan, np.nan], [0.1, 0.3]])
    with pytest.raises(ValueError, match="vid has a nan or inf"):
        write_proposal_list(tmp_path / "out.txt", ProposalList([v], normalized=True))
    assert not (tmp_path / "out.txt").exists()


@pytest.mark.parametrize("video", ["", " vid", "vid\nx"])
def test_writer_refuses_a_video_path_that_would_not_read_back(tmp_path, video):
    """#19 item 16: an empty video id (e.g. from a bad annotation row) used to be written and then refused by
    our own reader."""
    v = make_video_proposals(video, 1, [[0.1, 0.2]], [1], [[0.1, 0.3]])
    with pytest.raises(InputError, match="would not read back"):
        write_proposal_list(tmp_path / "out.txt", ProposalList([v], normalized=True))
    assert not (tmp_path / "out.txt").exists()


def test_to_frame_based_exact_for_fractions_made_from_seconds():
    # 3.0 s of a 10.3 s video at 10 fps is frame 30; 3.0 / 10.3 * 103 is 29.999999999999996 in float64
    assert 3.0 / 10.3 * 103 < 30
    v = make_video_proposals("vid", 1, np.zeros((0, 2)), [], [[3.0 / 10.3, 1.0]])
    np.testing.assert_array_equal(to_frame_based(v, 103).bounds, [[30, 103]])
    # every whole second of every 10 fps video of 100..999 frames lands on its own frame
    num_frames = np.arange(100, 1000)
    seconds = np.arange(0, 100)[None, :]
    inside = seconds * 10 <= num_frames[:, None]
    frames = np.stack([to_frame_based(make_video_proposals("v", 1, np.zeros((0, 2)), [],
                                                           np.repeat(seconds / (n / 10), 2, 0).T), n).bounds[:, 0]
                       for n in num_frames])
    np.testing.assert_array_equal(frames[inside], np.broadcast_to(seconds * 10, inside.shape)[inside])


def test_to_frame_based_floors_like_the_original():
    v = VideoProposals("vid", 1, gt_labels=np.array([1]), gt_bounds=np.array([[0.1234, 0.5]]),
                       labels=np.array([1]), best_iou=np.array([0.5]), overlap_self=np.array([1.0]),
                       bounds=np.array([[0.0999, 0.9999]]))
    f = to_frame_based(v, 300, "/frames/vid")
    np.testing.assert_array_equal(f.gt_bounds, [[37, 150]])
    np.testing.assert_array_equal(f.bounds, [[29, 299]])
    assert f.video == "/frames/vid" and f.num_frames == 300 and f.labels[0] == 1


def test_frame_reading_stages_refuse_a_normalized_list(tmp_path):
    frames, norm = tmp_path / "frames.txt", tmp_path / "norm.txt"
    frames.write_text(FRAME_BASED)
    norm.write_text(NORMALIZED)
    plist = read_frame_based_list(frames)
    assert not plist.normalized and plist.videos[0].bounds.tolist() == [[30, 50], [70, 90]]
    with pytest.raises(ProposalListError, match=f"{norm} is a normalized list .* gen_proposal_list.py"):
        read_frame_based_list(norm)
