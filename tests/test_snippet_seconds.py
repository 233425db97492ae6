"""``--snippet_seconds``: frames per snippet given as a duration, resolved at the training videos' frame rate."""
from __future__ import annotations

import argparse
import json

import pytest

from ops.errors import InputError
from ops.formats.frames import median_fps
from ops.models.builder import add_backbone_args, backbone_from_args, snippet_length


def folders(tmp_path, rates) -> list:
    """Frame folders whose meta.json records ``rates`` (None: no meta.json, e.g. DenseFlow's folders)."""
    out = []
    for i, fps in enumerate(rates):
        d = tmp_path / f"video_{i}"
        d.mkdir(parents=True)
        if fps is not None:
            (d / "meta.json").write_text(json.dumps({"num_frames": 100, "num_flow": 99, "fps": fps}))
        out.append(d)
    return out


def parse(*flags) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_backbone_args(p, arch="tiny")
    return p.parse_args(list(flags))


@pytest.mark.parametrize("seconds, fps, frames", [
    (1.0, 10, 10), (1.0, 20, 20), (0.5, 20, 10),
    (0.5, 15, 8),          # 7.5 -> 8
    (0.25, 10, 3),         # 2.5 -> 3 (Python's round would give 2)
    (1.0, 29.97, 30), (0.01, 10, 1)])    # never fewer than one frame
def test_snippet_length_is_the_duration_in_frames_rounded_half_up(seconds, fps, frames):
    assert snippet_length(seconds, fps) == frames


@pytest.mark.parametrize("seconds, fps", [(0, 10), (-1, 10), (1, 0)])
def test_snippet_length_refuses_empty_durations_and_rates(seconds, fps):
    with pytest.raises(InputError, match="snippet_seconds"):
        snippet_length(seconds, fps)


def test_median_fps_reads_the_folders_meta_and_is_none_without_it(tmp_path):
    assert median_fps(folders(tmp_path / "a", [10, 20, 30.0, 20])) == 20
    assert median_fps(folders(tmp_path / "b", [10, 15])) == 12.5
    assert median_fps(folders(tmp_path / "c", [10, None])) is None
    assert median_fps([]) is None


def test_backbone_stores_the_resolved_frames(tmp_path):
    dirs = folders(tmp_path, [20, 20, 10])
    assert backbone_from_args(parse("--snippet_seconds", "1"), "Flow", dirs)["new_length"] == 20
    assert backbone_from_args(parse("--snippet_seconds", "0.5"), "Flow", dirs[2:])["new_length"] == 5
    # without the flag the folders are not read: new_length as given, None for the modality's default
    assert backbone_from_args(parse("--new_length", "7"), "Flow", [tmp_path / "missing"])["new_length"] == 7
    assert backbone_from_args(parse(), "Flow")["new_length"] is None


def test_snippet_seconds_without_a_frame_rate_is_a_one_line_error(tmp_path):
    with pytest.raises(InputError, match="meta.json with 'fps'"):
        backbone_from_args(parse("--snippet_seconds", "1"), "Flow", folders(tmp_path, [None]))


def test_new_length_and_snippet_seconds_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        parse("--new_length", "5", "--snippet_seconds", "1")
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
