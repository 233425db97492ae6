"""SSN result files: original layout, round trip and safe loading (fusion: test_fusion.py)."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from ops.formats.results import (ResultFileError, UnsafePickleError, read_class_scores, read_results, safe_load_pickle,
                                 write_results)


def original_entry(n=3, k=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 2)), rng.normal(size=(n, k + 1)).astype(np.float32),
            rng.normal(size=(n, k)).astype(np.float32), rng.normal(size=(n, k, 2)).astype(np.float32))


def test_reads_original_layout_and_round_trips(tmp_path):
    entry = original_entry()
    path = tmp_path / "rgb.pkl"
    with open(path, "wb") as f:  # as the original ssn_test.py wrote it
        pickle.dump({"/frames/video_test_0000004": entry}, f, pickle.HIGHEST_PROTOCOL)
    res = read_results(path)
    r = res["/frames/video_test_0000004"]
    np.testing.assert_array_equal(r.act_scores, entry[1])
    assert r.reg_scores.shape == (3, 2, 2) and r.num_classes == 2
    write_results(tmp_path / "out.pkl", res)
    raw = pickle.load(open(tmp_path / "out.pkl", "rb"))  # old tools read plain tuples
    assert isinstance(raw["/frames/video_test_0000004"], tuple)
    np.testing.assert_array_equal(raw["/frames/video_test_0000004"][3], entry[3])


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_protocols_and_old_shapes(tmp_path, protocol):
    rel, act, comp, reg = original_entry()
    path = tmp_path / "old.pkl"
    path.write_bytes(pickle.dumps({b"vid": (rel[None], act, comp, reg.reshape(3, 4)), "v2": (rel, act, comp, None)},
                                  protocol=protocol))
    res = read_results(path)
    assert res["vid"].rel_props.shape == (3, 2) and res["vid"].reg_scores.shape == (3, 2, 2)
    assert res["v2"].reg_scores is None


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned_by_pickle",))


def test_malicious_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v": _Evil()}))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(UnsafePickleError, match="evil.pkl.*system"):
            read_results(path)
    finally:
        os.chdir(cwd)
    assert not (tmp_path / "pwned_by_pickle").exists()


def test_other_globals_are_refused(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"v": {1, 2}.__class__}))  # a builtin class is a global too
    with pytest.raises(UnsafePickleError):
        safe_load_pickle(path)


def test_bad_shapes_and_garbage_name_the_file(tmp_path):
    rel, act, comp, reg = original_entry()
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps({"vid": (rel, act[:, :2], comp, reg)}))
    with pytest.raises(ResultFileError, match="bad.pkl.*vid.*K\\+1"):
        read_results(path)
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ResultFileError, match="junk.pkl"):
        read_results(tmp_path / "junk.pkl")


def test_class_scores_keys_are_reduced_to_ids(tmp_path):
    path = tmp_path / "cls.pkl"
    path.write_bytes(pickle.dumps({b"/data/video_test_0000004.mp4": np.array([0.1, 0.9])}, protocol=2))
    out = read_class_scores(path)
    np.testing.assert_array_equal(out["video_test_0000004"], [0.1, 0.9])
