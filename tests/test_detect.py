"""detect.py on new videos: tiny RGB models trained for one epoch, JSON/CSV/PNG outputs, resume, clear errors."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from ops.errors import InputError
from ops.evaluation.timeline import TimelineLayout
from ops.formats.detections import read_activitynet_json
from ops.formats.presets import load_preset
from ops.video.video import probe_video

CLASSES = load_preset("synthetic")["classes"]
VIDEOS = ("video_test_0000001", "video_test_0000002")


def run_main(module, *argv):
    """Call a stage script's main() in this process, as detect.py does."""
    return module.main(module.get_args_parser().parse_args([str(a) for a in argv]))


@pytest.fixture(scope="session")
def detect_models(tiny_dataset, tiny_frames, tmp_path_factory):
    """Actionness and SSN checkpoints per modality (tiny backbone, one epoch each) trained on the tiny validation
    videos."""
    import binary_train
    import gen_sliding_window_proposals
    import ssn_train

    out = tmp_path_factory.mktemp("detect_models")
    sw = out / "sw_validation.txt"
    assert run_main(gen_sliding_window_proposals, "synthetic", "validation", sw, "--annotations",
                    tiny_dataset / "annotations", "--frame_path", tiny_frames) == 0
    common = ["--train_list", sw, "--arch", "tiny", "--epochs", 1, "-b", 2, "-j", 0, "--lr", 0.01, "--device", "cpu"]
    for mod in ("RGB", "Flow"):
        assert run_main(binary_train, "synthetic", mod, "--output", out / f"binary_{mod}", *common) == 0
        assert run_main(ssn_train, "synthetic", mod, "--output", out / f"ssn_{mod}", *common) == 0
    assert run_main(ssn_train, "synthetic", "RGBDiff", "--output", out / "ssn_RGBDiff", *common) == 0
    return {"ssn_diff": out / "ssn_RGBDiff" / "checkpoint_last.pth","ssn": out / "ssn_RGB" / "checkpoint_last.pth", "binary": out / "binary_RGB" / "checkpoint_last.pth",
            "ssn_flow": out / "ssn_Flow" / "checkpoint_last.pth",
            "binary_flow": out / "binary_Flow" / "checkpoint_last.pth"}


def two_stream(models):
    return ["--rgb_model", models["ssn"], "--flow_model", models["ssn_flow"], "--rgb_actionness", models["binary"],
            "--flow_actionness", models["binary_flow"], "--flow", "dis_fast"]


def detect(videos, output, *flags):
    import detect as detect_script

    return run_main(detect_script, *videos, "--output", output, "--device", "cpu", "-j", 0, *flags)


@pytest.fixture(scope="session")
def detect_run(detect_models, tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("detect_out")
    videos = [tiny_dataset / "videos" / f"{v}.mp4" for v in VIDEOS]
    assert detect(videos, out, *two_stream(detect_models)) == 0
    return out


def check_table(out, videos):
    """JSON and CSV hold the same rows: known classes, times inside the video, scores sorted per video."""
    dets = read_activitynet_json(out / "detections.json", CLASSES)
    table = pd.read_csv(out / "detections.csv")
    assert list(table.columns) == ["video", "t_start", "t_end", "label", "score"]
    assert len(dets) == len(table) > 0
    assert table["video"].tolist() == dets.video.tolist()
    assert table["label"].tolist() == [CLASSES[k - 1] for k in dets.label]
    np.testing.assert_allclose(table[["t_start", "t_end"]].to_numpy(), dets.bounds, atol=1e-3)
    np.testing.assert_allclose(table["score"], dets.score, rtol=1e-5)
    assert set(table["label"]) <= set(CLASSES)
    order = [v.stem for v in videos]
    assert [v for v in dict.fromkeys(dets.video.tolist())] == [v for v in order if v in set(dets.video)]
    for v in videos:
        rows = table[table["video"] == v.stem]
        duration = probe_video(v).duration
        assert ((rows["t_start"] >= 0) & (rows["t_start"] <= rows["t_end"]) & (rows["t_end"] <= duration + 1e-3)).all()
        assert (np.diff(rows["score"].to_numpy()) <= 0).all()
    return dets


def test_detect_writes_consistent_json_csv_and_timeline(detect_run, tiny_dataset):
    videos = [tiny_dataset / "videos" / f"{v}.mp4" for v in VIDEOS]
    dets = check_table(detect_run, videos)
    img = cv2.imread(str(detect_run / "timeline.png"))
    # legend: the classes of each video's 20 best detections; one band per video without a GT lane
    used = set()
    for v in VIDEOS:
        mask = dets.video == v
        used |= set(dets.label[mask][np.argsort(-dets.score[mask], kind="stable")[:20]].tolist())
    assert img.shape == (TimelineLayout().height([False, False], len(used), 1200), 1200, 3)
    meta = json.loads((detect_run / "work" / "frames" / VIDEOS[0] / "meta.json").read_text())
    assert meta["modalities"] == ["RGB", "Flow"] and meta["size"] == [128, 96]      # the videos' own size


def test_detect_fuses_streams_as_eval_detection_results(detect_run):
    """The written detections are the RGB + Flow results fused 1 : 1.5 and post-processed with the preset."""
    from ops.evaluation.postprocess import PostprocessConfig, results_to_detections
    from ops.evaluation.fusion import fuse_results
    from ops.formats.results import read_results

    work = detect_run / "work"
    fused = fuse_results([read_results(work / "ssn_RGB.pkl"), read_results(work / "ssn_Flow.pkl")], [1, 1.5])
    ev = load_preset("synthetic")["evaluation"]
    expect = results_to_detections(fused, PostprocessConfig(ev["top_k"], ev["nms_threshold"],
                                                            ev["softmax_before_filter"]))
    dets = read_activitynet_json(detect_run / "detections.json", CLASSES)
    assert len(dets) == len(expect)
    np.testing.assert_allclose(np.sort(dets.score), np.sort(expect.score), rtol=1e-12)


def test_detect_with_a_fusion_weights_file(detect_run, detect_models, tiny_dataset, tmp_path):
    """--fusion_weights (as the demo's stage 8 writes it) fuses each output with its own weights; stages resume."""
    import shutil

    from ops.evaluation.fusion import FusionWeights, fuse_results, write_fusion_weights
    from ops.evaluation.postprocess import PostprocessConfig, results_to_detections
    from ops.formats.results import read_results

    out = tmp_path / "copy"
    shutil.copytree(detect_run, out)
    weights = FusionWeights.make(act=[0.2, 0.8], comp=[1, 0], reg=[0, 1])
    write_fusion_weights(tmp_path / "fw.json", weights)
    videos = [tiny_dataset / "videos" / f"{v}.mp4" for v in VIDEOS]
    assert detect(videos, out, *two_stream(detect_models), "--fusion_weights", tmp_path / "fw.json") == 0
    work = out / "work"
    fused = fuse_results([read_results(work / "ssn_RGB.pkl"), read_results(work / "ssn_Flow.pkl")], weights)
    ev = load_preset("synthetic")["evaluation"]
    expect = results_to_detections(fused, PostprocessConfig(ev["top_k"], ev["nms_threshold"],
                                                            ev["softmax_before_filter"]))
    dets = read_activitynet_json(out / "detections.json", CLASSES)
    np.testing.assert_allclose(np.sort(dets.score), np.sort(expect.score), rtol=1e-12)
    with pytest.raises(InputError, match="fw.json: weights for 2 result files, but 1 are given"):
        detect(videos, tmp_path / "out1", "--rgb_model", detect_models["ssn"], "--proposals", "sliding",
               "--fusion_weights", tmp_path / "fw.json")
    with pytest.raises(InputError, match="not both"):
        detect(videos, tmp_path / "out1", *two_stream(detect_models), "--fusion_weights", tmp_path / "fw.json",
               "--score_weights", 1, 1)
    assert not (tmp_path / "out1").exists()


def test_detect_fuses_a_third_rgbdiff_stream_in_the_order_of_the_weights(detect_run, detect_models, tiny_dataset,
                                                                        tmp_path):
    """--rgbdiff_model scores the proposals with the RGB-difference SSN (from the RGB frames already there) and
    fuses it third, as stage 8's weights file of MODALITIES="RGB Flow RGBDiff" lists it."""
    import shutil

    from ops.evaluation.fusion import FusionWeights, fuse_results, write_fusion_weights
    from ops.evaluation.postprocess import PostprocessConfig, results_to_detections
    from ops.formats.results import read_results

    out = tmp_path / "copy"
    shutil.copytree(detect_run, out)
    weights = FusionWeights.make(act=[0.2, 0.3, 0.5], comp=[1, 0, 0], reg=[0, 0.5, 0.5])
    write_fusion_weights(tmp_path / "fw.json", weights)
    videos = [tiny_dataset / "videos" / f"{v}.mp4" for v in VIDEOS]
    assert detect(videos, out, *two_stream(detect_models), "--rgbdiff_model", detect_models["ssn_diff"],
                  "--fusion_weights", tmp_path / "fw.json") == 0
    work = out / "work"
    results = [read_results(work / f"ssn_{m}.pkl") for m in ("RGB", "Flow", "RGBDiff")]
    key = next(iter(results[0]))
    assert not np.allclose(results[2][key].act_scores, results[0][key].act_scores)   # its own model
    ev = load_preset("synthetic")["evaluation"]
    expect = results_to_detections(fuse_results(results, weights),
                                   PostprocessConfig(ev["top_k"], ev["nms_threshold"], ev["softmax_before_filter"]))
    dets = read_activitynet_json(out / "detections.json", CLASSES)
    np.testing.assert_allclose(np.sort(dets.score), np.sort(expect.score), rtol=1e-12)
    with pytest.raises(InputError, match=r"is a RGB model, given as RGBDiff \(--rgbdiff_model\)"):
        detect(videos, tmp_path / "out1", "--rgbdiff_model", detect_models["ssn"], "--proposals", "sliding")
    with pytest.raises(InputError, match="weights for 3 result files, but 2 are given"):
        detect(videos, tmp_path / "out1", *two_stream(detect_models), "--fusion_weights", tmp_path / "fw.json")


def test_detect_resumes_without_redoing_stages(detect_run, detect_models, tiny_dataset):
    work = detect_run / "work"
    before = {p.name: p.stat().st_mtime_ns for p in work.iterdir() if p.is_file()}
    json_before = (detect_run / "detections.json").read_text()
    videos = [tiny_dataset / "videos" / f"{v}.mp4" for v in VIDEOS]
    assert detect(videos, detect_run, *two_stream(detect_models)) == 0
    after = {p.name: p.stat().st_mtime_ns for p in work.iterdir() if p.is_file()}
    for name in ("ssn_RGB.pkl", "ssn_Flow.pkl", "actionness_RGB.npz", "actionness_Flow.npz", "tag.txt",
                 "sliding_windows.txt", "videos.json"):
        assert after[name] == before[name], name
    assert (detect_run / "detections.json").read_text() == json_before


def test_detect_with_sliding_windows(detect_models, tiny_dataset, tmp_path):
    video = tiny_dataset / "videos" / f"{VIDEOS[1]}.mp4"
    assert detect([video], tmp_path, "--rgb_model", detect_models["ssn"], "--proposals", "sliding",
                  "--min_score", 0.05) == 0
    dets = check_table(tmp_path, [video])
    assert (dets.score >= 0.05).all() and not (tmp_path / "work" / "actionness_RGB.npz").exists()
    meta = json.loads((tmp_path / "work" / "frames" / VIDEOS[1] / "meta.json").read_text())
    assert meta["modalities"] == ["RGB"]                                            # no Flow model: no flow


def with_flow_bound(src, dst, bound):
    """A copy of checkpoint ``src`` whose training frames were (so it says) flow clipped at ``bound``."""
    import torch

    ckpt = torch.load(src, weights_only=True)
    ckpt["extra"]["data"]["frames"] = [{**f, "flow_bound": bound} for f in ckpt["extra"]["data"]["frames"]]
    torch.save(ckpt, dst)
    return dst


def test_detect_extracts_flow_as_the_flow_models_were_trained_on(detect_models, tiny_dataset, tmp_path):
    """Issue 21: flow clipped at another bound rescales a Flow model's input, so detect.py extracts with the
    --bound and --frame_step the Flow checkpoints recorded, and refuses Flow models that disagree."""
    video = tiny_dataset / "videos" / f"{VIDEOS[1]}.mp4"
    ssn10 = with_flow_bound(detect_models["ssn_flow"], tmp_path / "ssn10.pth", 10.0)
    assert detect([video], tmp_path / "a", "--flow_model", ssn10, "--proposals", "sliding", "--flow", "dis_fast") == 0
    meta = json.loads((tmp_path / "a" / "work" / "frames" / VIDEOS[1] / "meta.json").read_text())
    assert meta["flow_bound"] == 10 and meta["frame_step"] == 1
    with pytest.raises(InputError, match=r"different extract_frames.py --bound: 10.0 \(.*ssn10.pth\), 20"):
        detect([video], tmp_path / "b", "--flow_model", ssn10, "--flow_actionness", detect_models["binary_flow"],
               "--flow", "dis_fast")


def test_detect_errors_name_the_problem(detect_models, tiny_dataset, tmp_path):
    good = tiny_dataset / "videos" / f"{VIDEOS[0]}.mp4"
    broken = tmp_path / "broken_clip.mp4"
    broken.write_bytes(b"this is not a video" * 10)
    models = ["--rgb_model", detect_models["ssn"], "--rgb_actionness", detect_models["binary"]]
    with pytest.raises(InputError, match="broken_clip.mp4"):
        detect([good, broken], tmp_path / "out", *models)
    long_name = tmp_path / f"{'x' * 240}.mp4"                           # #19 item 10
    long_name.write_bytes(good.read_bytes())
    with pytest.raises(InputError, match="is 240 bytes long.*rename the video"):
        detect([good, long_name], tmp_path / "out", *models)
    with pytest.raises(FileNotFoundError, match="missing_clip.mp4"):   # also one line (ops.errors.run_main)
        detect([tmp_path / "missing_clip.mp4"], tmp_path / "out", *models)
    with pytest.raises(InputError, match="at least one SSN model"):
        detect([good], tmp_path / "out", "--rgb_actionness", detect_models["binary"])
    with pytest.raises(InputError, match="actionness model.*--proposals sliding"):
        detect([good], tmp_path / "out", "--rgb_model", detect_models["ssn"])
    with pytest.raises(InputError, match="checkpoint_last.pth is a 'binary' checkpoint, not an SSN one: give a checkpoint of ssn_train.py"):
        detect([good], tmp_path / "out", "--rgb_model", detect_models["binary"], "--proposals", "sliding")
    with pytest.raises(InputError, match=r"is a RGB model, given as Flow \(--flow_model\)"):
        detect([good], tmp_path / "out", "--flow_model", detect_models["ssn"], "--proposals", "sliding")
    with pytest.raises(InputError, match="--score_weights has 2 weights for 1 model"):
        detect([good], tmp_path / "out", *models, "--score_weights", 1, 1.5)
    assert not (tmp_path / "out").exists()


def test_detect_passes_five_crops_and_refuses_mirrored_crops(detect_models, tiny_dataset, tmp_path):
    """--num_crops takes the stage scripts' choices: 5 crops reach ssn_test.py (its result equals a direct
    5-crop run and differs from a 1-crop one); 10 (mirrored) crops are refused up front for the synthetic
    models, trained without flips."""
    import ssn_test
    from ops.formats.results import read_results

    video = tiny_dataset / "videos" / f"{VIDEOS[1]}.mp4"
    assert detect([video], tmp_path, "--rgb_model", detect_models["ssn"], "--proposals", "sliding",
                  "--num_crops", 5) == 0
    check_table(tmp_path, [video])
    work = tmp_path / "work"
    got = read_results(work / "ssn_RGB.pkl")[str(work / "frames" / VIDEOS[1])]
    direct = {}
    for crops in (5, 1):
        out = tmp_path / f"direct_{crops}.pkl"
        assert run_main(ssn_test, "synthetic", "RGB", work / "sliding_windows.txt", detect_models["ssn"], out,
                        "--frame_interval", 2, "--num_crops", crops, "-j", 0, "--device", "cpu") == 0
        direct[crops] = read_results(out)[str(work / "frames" / VIDEOS[1])]
    np.testing.assert_array_equal(got.act_scores, direct[5].act_scores)
    assert np.abs(got.act_scores - direct[1].act_scores).max() > 1e-6     # logits ~1e-2 after one epoch
    with pytest.raises(InputError, match="ssn_RGB/checkpoint_last.pth was trained without flips.*--num_crops 1 or 5"):
        detect([video], tmp_path / "out10", "--rgb_model", detect_models["ssn"], "--proposals", "sliding",
               "--num_crops", 10)
    assert not (tmp_path / "out10").exists()


def test_detect_on_a_video_where_tag_finds_nothing_writes_empty_detections(detect_models, tiny_dataset, tmp_path):
    """Issue 19 item 5: a TAG list without any box used to be guessed frame-based, and detect.py failed."""
    video = tiny_dataset / "videos" / f"{VIDEOS[1]}.mp4"
    assert detect([video], tmp_path, "--rgb_model", detect_models["ssn"], "--rgb_actionness", detect_models["binary"],
                  "--tag_thresholds", 1.0) == 0
    assert read_activitynet_json(tmp_path / "detections.json", CLASSES).video.size == 0
    assert pd.read_csv(tmp_path / "detections.csv").empty


def test_detect_takes_allow_truncated_as_the_frames_stage_suggests(detect_models, tiny_dataset, tmp_path):
    """A video that ends early fails with extract_frames.py's advice (--allow_truncated), which detect.py takes."""
    cap = cv2.VideoCapture(str(tiny_dataset / "videos" / f"{VIDEOS[1]}.mp4"))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cut = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(cut), cv2.VideoWriter_fourcc(*"MJPG"), 10, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(frame)
    writer.release()
    cut.write_bytes(cut.read_bytes()[:cut.stat().st_size // 2])
    flags = ("--rgb_model", detect_models["ssn"], "--proposals", "sliding")
    with pytest.raises(InputError, match="could not extract"):
        detect([cut], tmp_path / "out", *flags)
    assert detect([cut], tmp_path / "out", *flags, "--allow_truncated") == 0
    assert (tmp_path / "out" / "detections.json").is_file()
