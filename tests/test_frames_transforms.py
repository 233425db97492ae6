"""Frame loading and snippet transforms."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from ops.formats.frames import count_frames, flow_names, rgb_name
from ops.train.dataset import FrameLoader, SnippetFrames, collate_snippets, gather_snippets, segment_positions
from ops.train.transforms import flip, normalize, eval_crops, to_channel_order, train_crop


@pytest.fixture
def folder(tmp_path):
    """5 frames: RGB frame i is uniform (10i, 20i, 30i); flow_x = 100 + i, flow_y = 50 + i (PNG-exact JPEG q100)."""
    d = tmp_path / "vid"
    d.mkdir()
    for i in range(1, 6):
        rgb = np.zeros((8, 12, 3), np.uint8) + np.array([10 * i, 20 * i, 30 * i], np.uint8)
        cv2.imwrite(str(d / rgb_name(i)), rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])
        if i <= 4:
            fx, fy = flow_names(i)
            cv2.imwrite(str(d / fx), np.full((8, 12), 100 + i, np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 100])
            cv2.imwrite(str(d / fy), np.full((8, 12), 50 + i, np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 100])
    return d


def test_rgb_snippets(folder):
    x = FrameLoader("RGB", 2).read(folder, [0, 4], count_frames(folder).num_frames)
    assert x.shape == (2, 6, 8, 12) and x.dtype == torch.uint8
    means = x.float().mean(dim=(2, 3))
    np.testing.assert_allclose(means[0], [10, 20, 30, 20, 40, 60], atol=1)     # frames 1, 2
    np.testing.assert_allclose(means[1], [50, 100, 150, 50, 100, 150], atol=1)  # frame 5, clamped 5


def test_flow_snippets_interleave_x_and_y(folder):
    counts = count_frames(folder)
    assert (counts.num_frames, counts.num_flow) == (5, 4)
    x = FrameLoader("Flow", 3).read(folder, [2], counts.num_flow)
    np.testing.assert_allclose(x.float().mean(dim=(2, 3))[0], [103, 53, 104, 54, 104, 54], atol=1)


def test_rgbdiff_snippets_are_halved_differences_of_consecutive_frames(folder):
    """Frames i = (10i, 20i, 30i): each difference (10, 20, 30) // 2 + 128 = (133, 138, 143); the last frame is
    clamped, so a snippet reaching past it ends in no change (128)."""
    x = FrameLoader("RGBDiff", 2).read(folder, [0, 3], count_frames(folder).num_frames)
    assert x.shape == (2, 6, 8, 12) and x.dtype == torch.uint8                # 2 differences x 3 channels
    # atol 1: JPEG's colour conversion moves a coloured frame by a level (the grey test below is exact)
    np.testing.assert_allclose(x[0, :, 0, 0], [133, 138, 143, 133, 138, 143], atol=1)   # frames 1-2, 2-3
    np.testing.assert_allclose(x[1, :, 0, 0], [133, 138, 143, 128, 128, 128], atol=1)   # frames 4-5, 5-5
    assert (x[1, 3:] == 128).all()


def test_rgbdiff_rounds_a_darkening_down(tmp_path):
    """-5 // 2 = -3 (floor, as numpy divides): 125, not 126; the extremes stay in 0..255."""
    for i, v in enumerate((100, 95, 255, 0), start=1):
        cv2.imwrite(str(tmp_path / rgb_name(i)), np.full((4, 4, 3), v, np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 100])
    x = FrameLoader("RGBDiff", 3).read(tmp_path, [0], 4)
    np.testing.assert_array_equal(x[0, ::3, 0, 0], [125, 208, 0])             # -5, +160, -255


def test_missing_frame_names_the_file(folder):
    (folder / rgb_name(3)).unlink()
    with pytest.raises(FileNotFoundError, match="img_00003.jpg"):
        FrameLoader("RGB", 1).read(folder, [2], 5)


def test_segment_positions():
    np.testing.assert_array_equal(segment_positions(0, 30, 3, 100, 1, train=False), [5, 15, 25])
    g = torch.Generator().manual_seed(1)
    pos = segment_positions(0, 30, 3, 100, 1, train=True, generator=g)
    assert all(lo <= p < lo + 10 for p, lo in zip(pos, [0, 10, 20]))
    np.testing.assert_array_equal(segment_positions(90, 100, 2, 100, 5, train=False), [92, 95])  # clamped


def test_flow_flip_negates_x():
    x = torch.tensor([[[[10, 20]], [[30, 40]]]], dtype=torch.uint8)       # (1, 2, 1, 2): x then y
    f = flip(x, "Flow")
    assert f[0, 0].tolist() == [[235, 245]] and f[0, 1].tolist() == [[40, 30]]
    assert flip(x, "RGB")[0, 0].tolist() == [[20, 10]]


def test_test_crops():
    x = torch.arange(1 * 1 * 6 * 8, dtype=torch.float32).reshape(1, 1, 6, 8)
    one = eval_crops(x, 4, 6, 1, "RGB")
    assert one.shape == (1, 1, 1, 4, 4) and one[0, 0, 0, 0, 0] == x[0, 0, 1, 2]
    ten = eval_crops(x, 4, 6, 10, "RGB")
    assert ten.shape == (1, 10, 1, 4, 4)
    assert ten[0, 1, 0, 0, 0] == x[0, 0, 0, 4]                 # top-right corner
    assert torch.equal(ten[0, 5], ten[0, 0].flip(-1))           # flipped copies follow
    five = eval_crops(x, 4, 6, 5, "RGB", allow_flip=False)
    assert torch.equal(five, ten[:, :5])                        # the unmirrored half
    with pytest.raises(ValueError, match="trained without flips"):
        eval_crops(x, 4, 6, 10, "RGB", allow_flip=False)
    with pytest.raises(ValueError):
        eval_crops(x, 4, 6, 3, "RGB")


def test_train_crop_never_flips_when_flips_are_off():
    """Direction-sensitive classes: with allow_flip=False the output equals the unflipped crop for every draw."""
    x = torch.randint(0, 255, (2, 4, 20, 30), dtype=torch.uint8)
    flipped_seen = 0
    for seed in range(12):
        on = train_crop(x, 8, "Flow", torch.Generator().manual_seed(seed))
        off = train_crop(x, 8, "Flow", torch.Generator().manual_seed(seed), allow_flip=False)
        mirrored = flip(off, "Flow")
        assert torch.equal(on, off) or torch.equal(on, mirrored)   # same crop, flip the only difference
        flipped_seen += not torch.equal(on, off)
    assert 0 < flipped_seen < 12


def test_train_crop_and_normalize():
    x = torch.randint(0, 255, (3, 6, 40, 50), dtype=torch.uint8)
    out = train_crop(x, 16, "RGB", torch.Generator().manual_seed(0))
    assert out.shape == (3, 6, 16, 16)
    n = normalize(torch.full((2, 2, 2), 255.0), [0.5, 0.0], [0.5, 1.0], pixel_range=1)
    assert n[0].unique().tolist() == [1.0] and n[1].unique().tolist() == [1.0]
    rgb = torch.arange(6.0).reshape(6, 1, 1)
    assert to_channel_order(rgb, "BGR").flatten().tolist() == [2, 1, 0, 5, 4, 3]


def test_read_frames_decodes_each_frame_once_and_indexes_the_snippets(folder, monkeypatch):
    """Flow snippets of 3 at positions 0, 1, 3 of 4 flow frames need frames 1-4 (the third snippet clamped to
    4, 4, 4): four distinct frames, each decoded once."""
    loader = FrameLoader("Flow", 3)
    decoded = []
    real = loader._frame
    monkeypatch.setattr(loader, "_frame", lambda d, i: decoded.append(i) or real(d, i))
    frames, index = loader.read_frames(folder, [0, 1, 3], 4)
    assert decoded == [1, 2, 3, 4] and frames.shape == (4, 2, 8, 12)
    np.testing.assert_array_equal(index, [[0, 1, 2], [1, 2, 3], [3, 3, 3]])
    np.testing.assert_allclose(frames.float().mean(dim=(2, 3))[:, 0], [101, 102, 103, 104], atol=1)
    assert torch.equal(gather_snippets(frames, index), FrameLoader("Flow", 3).read(folder, [0, 1, 3], 4))


def test_read_frames_of_rgbdiff_are_the_distinct_differences(folder):
    """Snippets of 2 differences at positions 0 and 1 share the difference of frames 2-3; the one at 3 ends in
    the clamped 5-5 (no change): differences 1-2, 2-3, 3-4, 4-5, 5-5, five distinct."""
    frames, index = FrameLoader("RGBDiff", 2).read_frames(folder, [0, 1, 3], 5)
    assert frames.shape == (5, 3, 8, 12)
    np.testing.assert_array_equal(index, [[0, 1], [1, 2], [3, 4]])
    assert (frames[4] == 128).all()
    np.testing.assert_allclose(frames[:4, :, 0, 0].float(), [[133, 138, 143]] * 4, atol=1)


def test_gather_snippets_stacks_frames_frame_major_and_keeps_crop_axes():
    frames = torch.arange(3 * 2).reshape(3, 2, 1, 1)                 # frame f: channels (2f, 2f + 1)
    x = gather_snippets(frames, np.array([[0, 2], [1, 1]]))
    assert x.shape == (2, 4, 1, 1) and x[:, :, 0, 0].tolist() == [[0, 1, 4, 5], [2, 3, 2, 3]]
    crops = torch.stack([frames, frames + 10], dim=1)                  # (U, crops, c, h, w)
    x = gather_snippets(crops, np.array([[2, 0]]))
    assert x.shape == (1, 2, 4, 1, 1) and x[0, :, :, 0, 0].tolist() == [[4, 5, 0, 1], [14, 15, 10, 11]]
    assert gather_snippets(frames, np.arange(3)[:, None]) is frames   # one frame a snippet: nothing to gather


class _Items(torch.utils.data.Dataset):
    """Training items as the datasets make them: (SnippetFrames, labels (2,)), frames of sample i offset by 100 i."""

    def __init__(self, index):
        self.index = index

    def __len__(self):
        return 3

    def __getitem__(self, i):
        frames = torch.arange(4 * 2, dtype=torch.float32).reshape(4, 2, 1, 1) + 100 * i   # frame f: (2f, 2f + 1)
        return SnippetFrames(frames, self.index), torch.tensor([i, -i])


@pytest.mark.parametrize("workers", [0, 1])
def test_collate_snippets_gathers_every_sample_into_the_batch(workers):
    """Snippets of 2 frames [[0, 3], [2, 2]] from each sample's 4 frames: the batch holds every sample's stacks,
    frame-major, equal to stacking each sample's own gather; the other fields are joined as default_collate
    joins them; in a loader worker (shared memory) as in the main process."""
    ds = _Items(np.array([[0, 3], [2, 2]]))
    x, labels = next(iter(torch.utils.data.DataLoader(ds, batch_size=3, num_workers=workers,
                                                      collate_fn=collate_snippets)))
    assert x.shape == (3, 2, 4, 1, 1) and x.dtype == torch.float32
    assert x[1, :, :, 0, 0].tolist() == [[100, 101, 106, 107], [104, 105, 104, 105]]
    assert torch.equal(x, torch.stack([ds[i][0].gather() for i in range(3)]))
    assert labels.tolist() == [[0, 0], [1, -1], [2, -2]]


@pytest.mark.parametrize("modality, length, flip_ok", [("Flow", 3, True), ("RGB", 2, True), ("RGBDiff", 2, False)])
def test_transforming_distinct_frames_equals_transforming_every_stack(tmp_path, modality, length, flip_ok):
    """The datasets crop, resize and normalise each distinct frame once, then gather; the same as doing it to
    every snippet stack (the same arithmetic on the same values: equal up to float rounding).  Noise frames, so
    every crop and flip shows."""
    from ops.models.backbones import BackboneConfig
    from ops.train.dataset import FrameDataset, data_spec
    rng, folder = np.random.default_rng(0), tmp_path
    for i in range(1, 6):
        cv2.imwrite(str(folder / rgb_name(i)), rng.integers(0, 256, (8, 12, 3), np.uint8))
        for name in flow_names(i):
            cv2.imwrite(str(folder / name), rng.integers(0, 256, (8, 12), np.uint8))
    ds = FrameDataset.__new__(FrameDataset)
    ds.modality, ds.new_length = modality, length
    ds.spec = {**data_spec(BackboneConfig(arch="tiny", modality=modality, new_length=length), flip_ok),
               "input_size": 6, "scale_size": 7}
    loader = FrameLoader(modality, length)
    frames, index = loader.read_frames(folder, [0, 1, 2], 4)
    stacks = loader.read(folder, [0, 1, 2], 4)
    identity = np.arange(3)[:, None]
    for seed in range(4):                                              # several crops, flips
        a = ds.finish_train(frames, index, torch.Generator().manual_seed(seed)).gather()
        b = ds.finish_train(stacks, identity, torch.Generator().manual_seed(seed)).gather()
        assert a.shape == (3, stacks.shape[1], 6, 6)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    for crops in (1, 5, 10) if flip_ok else (1, 5):
        torch.testing.assert_close(ds.finish_test(frames, index, crops), ds.finish_test(stacks, identity, crops),
                                   rtol=0, atol=1e-5)
