"""The video-level classifier: pooling, targets, loss, config round trip, and learning planted classes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ops.errors import InputError
from ops.models.video_classifier import (VideoClassifier, build_video_classifier, class_scores, classifier_loss,
                                         masked_mean_max, multi_hot, pad_batch, top1_hit_rate, video_map)


def test_masked_pooling_ignores_padding():
    x = torch.tensor([[[1.0, 3.0, 100.0], [-2.0, -4.0, 100.0]]])          # (1, 2, 3), last row is padding
    mask = torch.tensor([[True, True, False]])
    assert masked_mean_max(x, mask).tolist() == [[2.0, -3.0, 3.0, -2.0]]
    torch.testing.assert_close(masked_mean_max(x), torch.tensor([[104 / 3, 94 / 3, 100.0, 100.0]]))


def test_pad_batch_and_model_give_the_same_logits_padded_or_alone():
    torch.manual_seed(0)
    model = VideoClassifier(in_dim=6, num_classes=3, hidden=8, dropout=0.0).eval()
    a, b = torch.randn(6, 5), torch.randn(6, 2)
    x, mask = pad_batch([a, b])
    assert x.shape == (2, 6, 5) and mask.tolist() == [[True] * 5, [True, True, False, False, False]]
    with torch.no_grad():
        both = model(x, mask)
        alone = model(b[None], None)
    # the convolution sees one zero row past b's end either way: padding with zeros is the conv's own padding
    torch.testing.assert_close(both[1:], alone)


def test_multi_hot_targets():
    assert multi_hot([[1, 3], [2, 2], [], [0]], 3).tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 0], [0, 0, 0]]


def test_loss_and_scores_are_per_class():
    logits = torch.tensor([[0.0, 0.0]])
    assert float(classifier_loss(logits, torch.tensor([[1.0, 0.0]]))) == pytest.approx(np.log(2))
    assert class_scores(torch.tensor([[0.0, 100.0]])).tolist() == [[0.5, 1.0]]        # not a softmax


def test_config_round_trip_and_refusal():
    model = VideoClassifier(in_dim=10, num_classes=4, hidden=16, dropout=0.3)
    again = build_video_classifier(model.config())
    assert again.config() == model.config()
    again.load_state_dict(model.state_dict())
    with pytest.raises(InputError, match="not a video-level classifier"):
        build_video_classifier({"type": "ssn"})


def test_top1_hit_rate():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.4]])
    targets = np.array([[0, 1], [0, 1], [1, 1]], np.float32)
    assert top1_hit_rate(scores, targets) == pytest.approx(2 / 3)


def planted_videos(num_videos: int, patterns: np.ndarray, seed: int):
    """Noise features in which each class adds its own direction (``patterns`` (K, C)) on a stretch of rows;
    1-2 classes a video."""
    rng = np.random.default_rng(seed)
    num_classes, dim = patterns.shape
    feats, labels = [], []
    for _ in range(num_videos):
        length = int(rng.integers(8, 24))
        x = rng.normal(size=(length, dim)).astype(np.float32)
        labs = rng.choice(num_classes, size=int(rng.integers(1, 3)), replace=False) + 1
        for lab in labs:
            start = int(rng.integers(0, length - 4))
            x[start:start + 4] += 1.5 * patterns[lab - 1]
        feats.append(torch.from_numpy(x.T.copy()))
        labels.append(labs)
    return feats, multi_hot(labels, num_classes)


@pytest.fixture
def one_thread():
    """One intra-op thread: on a small shared CPU, two threads of tiny ops contend (~20x slower here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_learns_planted_classes_beyond_chance(one_thread):
    torch.manual_seed(0)
    patterns = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
    train_x, train_y = planted_videos(64, patterns, seed=1)
    test_x, test_y = planted_videos(32, patterns, seed=2)
    model = VideoClassifier(12, 5, hidden=32, dropout=0.1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, mask = pad_batch(train_x)
    for _ in range(60):
        opt.zero_grad()
        classifier_loss(model(x, mask), torch.from_numpy(train_y)).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        tx, tmask = pad_batch(test_x)
        scores = class_scores(model(tx, tmask)).numpy()
    chance = float(test_y.mean())             # a random class is one of the video's with this probability
    assert chance < 0.4
    assert top1_hit_rate(scores, test_y) > 0.8


# --------------------------------------------------------------------------- classify_videos.py


def write_planted_features(root, videos, feats, stride: float = 16.0):
    """Our feature layout (RGB stream) for ``feats`` ((C, T) tensors), 25 fps, ``stride`` frames a row."""
    from ops.formats.features import FeatureRecord, write_features

    for video, x in zip(videos, feats):
        rows, dim = x.shape[1], x.shape[0]
        write_features(root, x.numpy().T.copy(), FeatureRecord(
            video=video, stream="RGB", num_rows=rows, dim=dim, fps=25.0, num_frames=int(rows * stride),
            first_frame=0.0, stride=stride, snippet_frames=16, centre=8.0))


@pytest.fixture
def planted_dataset(tmp_path):
    """64 training and 32 validation videos of planted classes: preset, annotations CSV, features."""
    import json

    from ops.formats.presets import load_preset

    classes = ["a", "b", "c", "d", "e"]
    patterns = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
    lines = ["video,t_start,t_end,label,subset,duration"]
    for subset, count, seed in (("training", 64, 1), ("validation", 32, 2)):
        feats, targets = planted_videos(count, patterns, seed)
        videos = [f"{subset[:3]}{i:02d}" for i in range(count)]
        write_planted_features(tmp_path / "features", videos, feats)
        for video, x, row in zip(videos, feats, targets):
            duration = x.shape[1] * 16 / 25
            lines += [f"{video},0,{duration / 2},{classes[k]},{subset},{duration}" for k in np.flatnonzero(row)]
    (tmp_path / "ann.csv").write_text("\n".join(lines) + "\n")
    preset = load_preset("activitynet1.3")
    preset.update(name="planted", num_classes=5, classes=classes)
    (tmp_path / "planted.json").write_text(json.dumps(preset))
    return tmp_path


def test_classify_videos_trains_scores_and_refuses_other_features(planted_dataset, one_thread):
    import json

    import classify_videos
    from ops.formats.video_scores import read_video_scores

    d = planted_dataset
    common = ["--features", d / "features", "--annotations", d / "ann.csv", "--streams", "RGB", "-j", 0,
              "--device", "cpu"]
    args = classify_videos.get_args_parser().parse_args(list(map(str, [
        d / "planted.json", *common, "--num_rows", 0, "--output", d / "run", "--write_scores", d / "scores.json",
        "--epochs", 8, "--lr", 0.01, "--hidden", 32, "--dropout", 0.1, "--val_subset", "validation"])))
    classify_videos.main(args)
    log = json.loads((d / "run" / "log.json").read_text())
    assert len(log) == 8 and log[-1]["video_map"] > 0.8            # the engine's val_fn: the best checkpoint's metric
    assert (d / "run" / "checkpoint_best.pth").exists()
    # the same command again resumes nothing (all epochs trained); other settings are refused
    changed = classify_videos.get_args_parser().parse_args(list(map(str, [
        d / "planted.json", *common, "--num_rows", 0, "--output", d / "run", "--epochs", 8, "--lr", 0.01,
        "--hidden", 16, "--dropout", 0.1, "--val_subset", "validation"])))
    with pytest.raises(InputError, match="model.hidden: stored 32, current 16"):
        classify_videos.main(changed)
    vs = read_video_scores(d / "scores.json", ["a", "b", "c", "d", "e"])
    assert len(vs.videos) == 32 and vs.videos[0] == "val00"
    targets = planted_videos(32, np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32), 2)[1]
    assert top1_hit_rate(vs.scores, targets) > 0.8                  # chance: about 0.3
    # features extracted another way (another stride) are refused, naming the field
    feats = [torch.zeros(12, 10)]
    write_planted_features(d / "other", ["val00"], feats, stride=8.0)
    args = classify_videos.get_args_parser().parse_args(list(map(str, [
        d / "planted.json", "--features", d / "other", "--annotations", d / "ann.csv", "--checkpoint",
        d / "run" / "checkpoint_last.pth", "--write_scores", d / "other.json"])))
    with pytest.raises(InputError, match="have stride = 8.0, the checkpoint was trained on 16.0"):
        classify_videos.main(args)


def test_video_map_by_hand():
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.1, 0.2]])
    targets = np.array([[0, 0], [1, 0], [1, 0]], np.float32)       # class 2 has no positive: skipped
    # class 1 ranks videos 0, 1, 2: hits at ranks 2 and 3 -> (1/2 + 2/3) / 2
    assert video_map(scores, targets) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert np.isnan(video_map(scores, np.zeros((3, 2))))


def test_classify_videos_rescaled_sequences(planted_dataset, one_thread):
    import classify_videos
    from ops.formats.video_scores import read_video_scores

    d = planted_dataset
    args = classify_videos.get_args_parser().parse_args(list(map(str, [
        d / "planted.json", "--features", d / "features", "--annotations", d / "ann.csv", "--streams", "RGB",
        "-j", 0, "--device", "cpu", "--num_rows", 8, "--output", d / "rescaled", "--epochs", 1, "--hidden", 8,
        "--write_scores", d / "rescaled.json", "--write_top_k", 2])))
    classify_videos.main(args)
    ckpt = torch.load(d / "rescaled" / "checkpoint_last.pth", weights_only=True)
    assert ckpt["extra"]["rescale"] == [8, "bsn"] and ckpt["extra"]["feature_record"]["extra"]["rescale"]["recipe"] \
        == "bsn"
    vs = read_video_scores(d / "rescaled.json", ["a", "b", "c", "d", "e"])
    assert len(vs.videos) == 32 and (np.isfinite(vs.scores).sum(axis=1) == 2).all()     # two classes written
