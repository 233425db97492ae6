"""Fusion of result files: per-output weights, the weight search, the weights file and the command line."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ops.errors import InputError
from ops.evaluation.fusion import (FusionWeights, FusionWeightsError, fuse_results, read_fusion_weights,
                                   search_fusion_weights, simplex_grid, write_fusion_weights)
from ops.formats.results import ResultFileError, VideoResult


def _pair():
    a = VideoResult(np.zeros((1, 2)), np.array([[1.0, 2.0]]), np.array([[4.0]]), None)
    b = VideoResult(np.zeros((1, 2)), np.array([[3.0, 6.0]]), np.array([[0.0]]), np.full((1, 1, 2), 2.0))
    return a, b


def test_one_weight_per_source_is_normalised_as_the_original():
    a, b = _pair()
    a = VideoResult(a.rel_props, a.act_scores, a.comp_scores, np.ones((1, 1, 2)))
    fused = fuse_results([{"v": a}, {"v": b}], [1, 3])["v"]
    np.testing.assert_allclose(fused.act_scores, [[2.5, 5.0]])  # 0.25 * a + 0.75 * b
    np.testing.assert_allclose(fused.comp_scores, [[1.0]])
    np.testing.assert_allclose(fused.reg_scores, np.full((1, 1, 2), 1.75))
    equal = fuse_results([{"v": a}, {"v": b}])["v"]
    np.testing.assert_allclose(equal.act_scores, [[2.0, 4.0]])
    # huge weights: only their ratio matters (1e308 twice summed to inf and gave weights 0, then a traceback)
    huge = fuse_results([{"v": a}, {"v": b}], [1e308, 3e307])["v"]
    np.testing.assert_allclose(huge.act_scores, (10 * a.act_scores + 3 * b.act_scores) / 13)


def test_per_output_weights_and_regression_from_one_source():
    a, b = _pair()  # a has no regression
    w = FusionWeights.make(act=[1, 3], comp=[2, 0], reg=[0, 5])
    assert w.comp == (1.0, 0.0) and w.reg == (0.0, 1.0)
    fused = fuse_results([{"v": a}, {"v": b}], w)["v"]
    np.testing.assert_allclose(fused.act_scores, [[2.5, 5.0]])
    np.testing.assert_allclose(fused.comp_scores, [[4.0]])  # a's alone
    np.testing.assert_allclose(fused.reg_scores, np.full((1, 1, 2), 2.0))  # b's alone, a's weight 0
    # a source lacking regression with a non-zero weight: no fused regression
    assert fuse_results([{"v": a}, {"v": b}], [1, 1])["v"].reg_scores is None


def test_fusion_errors():
    a, b = _pair()
    with pytest.raises(ResultFileError, match="second.*'v'"):
        fuse_results([{"v": a}, {}], names=["first", "second"])
    with pytest.raises(FusionWeightsError, match="3 fusion weights for 2 result files"):
        fuse_results([{"v": a}, {"v": b}], [1, 1, 1])
    with pytest.raises(FusionWeightsError, match="non-negative"):
        FusionWeights.make([1, -1])
    with pytest.raises(FusionWeightsError, match="not all zero"):
        FusionWeights.make([0, 0])
    with pytest.raises(FusionWeightsError, match=r"\[2, 3, 2\] entries"):
        FusionWeights.make([1, 1], comp=[1, 1, 1])


def test_simplex_grid():
    assert simplex_grid(2, 0.5) == [(0.0, 1.0), (0.5, 0.5), (1.0, 0.0)]
    g = simplex_grid(3, 0.5)
    assert len(g) == 6 + 1 and (1 / 3, 1 / 3, 1 / 3) in g  # equal weights added: 1/3 is off the grid
    assert all(abs(sum(p) - 1) < 1e-12 for p in g)
    with pytest.raises(FusionWeightsError, match="must divide 1"):
        simplex_grid(2, 0.3)


def test_search_finds_a_known_optimum():
    def score(w):  # maximal at act (0.3, 0.7), comp (1, 0), reg (0, 1)
        return -(w.act[0] - 0.3) ** 2 - (w.comp[0] - 1.0) ** 2 - w.reg[0] ** 2

    best, value, evaluations = search_fusion_weights(score, 2, step=0.1)
    np.testing.assert_allclose(best.act, (0.3, 0.7), atol=1e-9)
    assert best.comp == (1.0, 0.0) and best.reg == (0.0, 1.0)
    assert value == pytest.approx(0.0, abs=1e-12)
    assert evaluations < 3 * 11 * 3  # coordinate ascent, cached


def test_search_keeps_equal_weights_on_ties():
    best, value, evaluations = search_fusion_weights(lambda w: 1.0, 2, step=0.25)
    assert best == FusionWeights.uniform(2) and value == 1.0
    assert evaluations == 1 + 3 * 4  # the start, then the 4 other grid points of each output; one round


def test_weights_file_round_trip_and_errors(tmp_path):
    w = FusionWeights.make([0.2, 0.8], [0.9, 0.1], [0, 1])
    path = tmp_path / "fw.json"
    write_fusion_weights(path, w, sources=["rgb.pkl", "flow.pkl"], value=0.8)
    assert read_fusion_weights(path, 2) == w
    assert json.loads(path.read_text())["sources"] == ["rgb.pkl", "flow.pkl"]
    with pytest.raises(FusionWeightsError, match=r"fw.json: weights for 2 result files \(\['rgb.pkl', 'flow.pkl'\]\)"
                                                 r", but 3 are given"):
        read_fusion_weights(path, 3)
    (tmp_path / "bad.json").write_text(json.dumps({"act": [1]}))
    with pytest.raises(FusionWeightsError, match="bad.json: not a fusion weights file"):
        read_fusion_weights(tmp_path / "bad.json")
    (tmp_path / "neg.json").write_text(json.dumps({"format": "ssn-fusion-weights/1", "act": [1, -1],
                                                   "comp": [1, 1], "reg": [1, 1]}))
    with pytest.raises(FusionWeightsError, match="neg.json: act weights"):
        read_fusion_weights(tmp_path / "neg.json")
    with pytest.raises(FusionWeightsError, match="missing.json: cannot read"):
        read_fusion_weights(tmp_path / "missing.json")


# --------------------------------------------------------------------------- command line


def _two_streams(tmp_path, num_videos=4, k=2):
    """Ground truth in a proposal list; two result files, each good at one output.

    Proposals per video: 0 = the ground truth, 1 = a distractor elsewhere (IoU 0), 2 = the whole video.
    'rgb' knows completeness (p0 +3, p1 -3) but not the class (activity all zero);
    'flow' knows the class (logit 8 on p0 and p1) but prefers the distractor's completeness (p0 -3, p1 +6).
    Completeness weights (w, 1 - w) rank p0 first iff 6w - 3 > 6 - 9w, i.e. w > 0.6.
    """
    from ops.formats.proposal_list import ProposalList, make_video_proposals, write_proposal_list
    from ops.formats.results import write_results
    props = np.array([[0.1, 0.3], [0.6, 0.8], [0.0, 1.0]])
    blocks, rgb, flow = [], {}, {}
    for i in range(num_videos):
        name, c = f"vid{i}", i % k
        blocks.append(make_video_proposals(name, 1, [[0.1, 0.3]], [c + 1], props))
        act = np.zeros((3, k + 1))
        act[:2, c + 1] = 8.0
        rgb[name] = VideoResult(props, np.zeros((3, k + 1)), np.array([[3.0], [-3.0], [-9.0]]).repeat(k, 1),
                                np.zeros((3, k, 2)))
        flow[name] = VideoResult(props, act, np.array([[-3.0], [6.0], [-9.0]]).repeat(k, 1), np.zeros((3, k, 2)))
    write_proposal_list(tmp_path / "list.txt", ProposalList(blocks, normalized=True))
    write_results(tmp_path / "rgb.pkl", rgb)
    write_results(tmp_path / "flow.pkl", flow)
    return [str(tmp_path / f) for f in ("list.txt", "rgb.pkl", "flow.pkl")]


def _cli(*argv):
    import eval_detection_results as cli
    return cli.main(cli.get_args_parser().parse_args(["thumos14", *map(str, argv)]))


def test_cli_search_then_apply(tmp_path):
    plist, rgb, flow = _two_streams(tmp_path)
    common = ["--proposal_list", plist, "--protocol", "activitynet", "--iou", "0.5"]
    equal = _cli(rgb, flow, *common)
    assert equal["metrics"]["average_mAP"] < 0.75  # the distractor outranks the action in every video
    fw = tmp_path / "fw.json"
    searched = _cli(rgb, flow, *common, "--search_weights", fw)
    assert searched["metrics"]["average_mAP"] == 1.0
    saved = json.loads(fw.read_text())
    assert saved["comp"][0] == pytest.approx(0.7) and saved["act"] == [0.5, 0.5]  # first strict gain; ties stay
    assert saved["sources"] == [rgb, flow] and saved["value"] == 1.0 and saved["criterion"] == "average_mAP"
    applied = _cli(rgb, flow, *common, "--fusion_weights", fw)
    assert applied["metrics"]["average_mAP"] == 1.0
    assert applied["settings"]["fusion_weights"]["comp"] == pytest.approx([0.7, 0.3])
    by_flags = _cli(rgb, flow, *common, "--comp_weights", "1", "0")
    assert by_flags["metrics"]["average_mAP"] == 1.0
    assert by_flags["settings"]["fusion_weights"]["act"] == [0.5, 0.5]


def test_cli_fusion_errors(tmp_path):
    plist, rgb, flow = _two_streams(tmp_path)
    common = ["--proposal_list", plist]
    fw = tmp_path / "fw.json"
    write_fusion_weights(fw, FusionWeights.uniform(2))
    with pytest.raises(InputError, match="fw.json: weights for 2 result files, but 1 are given"):
        _cli(rgb, *common, "--fusion_weights", fw)
    with pytest.raises(InputError, match="not both"):
        _cli(rgb, flow, *common, "--fusion_weights", fw, "--score_weights", "1", "2")
    with pytest.raises(InputError, match="3 fusion weights for 2 result files"):
        _cli(rgb, flow, *common, "--score_weights", "1", "2", "3")
    with pytest.raises(InputError, match="at least two result files"):
        _cli(rgb, *common, "--search_weights", tmp_path / "x.json")
    with pytest.raises(InputError, match="do not give them as well"):
        _cli(rgb, flow, *common, "--search_weights", tmp_path / "x.json", "--act_weights", "1", "0")
    with pytest.raises(InputError, match="must divide 1"):
        _cli(rgb, flow, *common, "--search_weights", tmp_path / "x.json", "--search_step", "0.3")
    assert not (tmp_path / "x.json").exists()


def test_fusion_refuses_streams_scoring_other_proposals():
    """Issue 19 item 8: only shapes were compared, so two lists' scores were silently added."""
    props = np.array([[0.10, 0.40], [0.50, 0.90]])
    act, comp = np.zeros((2, 3)), np.zeros((2, 2))
    rgb = {"v1": VideoResult(props, act, comp, None), "v2": VideoResult(props, act, comp, None)}
    flow_ok = {k: VideoResult(props + 0.008, act, comp, None) for k in rgb}     # one frame of ~125: accepted
    assert set(fuse_results([rgb, flow_ok], names=["rgb.pkl", "flow.pkl"])) == {"v1", "v2"}
    other = dict(flow_ok, v2=VideoResult(props[::-1].copy(), act, comp, None))
    with pytest.raises(ResultFileError, match=r"flow.pkl: video 'v2' scores other proposals than rgb.pkl "
                                              r"\(bounds differ by up to 0.500"):
        fuse_results([rgb, other], names=["rgb.pkl", "flow.pkl"])


def test_result_files_with_nan_are_refused(tmp_path):
    import pickle

    from ops.formats.results import read_results, write_results
    path = tmp_path / "r.pkl"
    bad = VideoResult(np.array([[0.1, 0.4]]), np.array([[np.nan, 1.0]]), np.zeros((1, 1)), None)
    with pytest.raises(ResultFileError, match="video 'v1': act_scores holds NaN or infinite values"):
        write_results(path, {"v1": bad})
    assert not path.exists()
    path.write_bytes(pickle.dumps({"v1": bad.as_tuple()}))            # as another tool might write it
    with pytest.raises(ResultFileError, match="video 'v1': act_scores holds NaN or infinite values"):
        read_results(path)
