"""Atomic writes and interval arithmetic."""
from __future__ import annotations

import numpy as np
import pytest

from ops.io import atomic_dir, atomic_open, atomic_write_text
from ops.temporal import overlap_over_first, pairwise_iou, seconds_to_frames, frames_to_seconds


def test_atomic_open_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "out.txt"
    atomic_write_text(path, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(path, "w") as f:
            f.write("half-written")
            raise RuntimeError("killed")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]   # no temp file left
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)        # normal permissions, not mkstemp's


def test_atomic_dir(tmp_path):
    target = tmp_path / "video"
    (tmp_path / ".video.partial").mkdir()                          # stale folder of a killed run
    (tmp_path / ".video.partial" / "junk").write_text("x")
    with atomic_dir(target) as tmp:
        (tmp / "img_00001.jpg").write_bytes(b"1")
        assert not target.exists()
    assert sorted(p.name for p in target.iterdir()) == ["img_00001.jpg"]
    assert not (tmp_path / ".video.partial").exists()
    with pytest.raises(FileExistsError):
        with atomic_dir(target):
            pass
    with pytest.raises(ValueError):
        with atomic_dir(tmp_path / "other"):
            raise ValueError
    assert not (tmp_path / "other").exists() and not (tmp_path / ".other.partial").exists()


def test_iou_and_overlap_hand_computed():
    a = np.array([[0, 10], [5, 15], [20, 20]])
    b = np.array([[0, 10], [8, 12]])
    np.testing.assert_allclose(pairwise_iou(a, b), [[1, 2 / 12], [5 / 15, 4 / 10], [0, 0]])
    np.testing.assert_allclose(overlap_over_first(a, b), [[1, 0.2], [0.5, 0.4], [0, 0]])
    assert pairwise_iou(np.zeros((0, 2)), b).shape == (0, 2)


def test_unit_conversions():
    np.testing.assert_allclose(seconds_to_frames([1.5, 2.0], 30), [45, 60])
    np.testing.assert_allclose(frames_to_seconds(seconds_to_frames([1.25], 25), 25), [1.25])
