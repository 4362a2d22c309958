"""The one codec: it re-encodes every committed golden file byte for byte (so moving the
format into one place changed no golden), writes NPZ deterministically, never unpickles."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import GoldenCorruptError
from harness.golden import (
    ENVELOPE,
    INITIAL,
    TRAJECTORY,
    GoldenStore,
    envelope_files,
    initial_files,
    npz_bytes,
    read_envelope,
    trajectory_files,
)
from harness.golden._codec import encode, meta_text, sha256

GOLDEN = Path(__file__).resolve().parents[3] / "golden"
FOLDERS = sorted(p.parent for p in GOLDEN.rglob("meta.json"))


def _ids(folder: Path) -> tuple[str, str]:
    tutorial, port, profile = folder.relative_to(GOLDEN).parts
    return f"{tutorial}/{port}", profile


def _same_bytes(folder: Path, kind, data, meta) -> None:
    raw, text = encode(kind, data, meta)
    assert raw == (folder / kind.data).read_bytes(), f"{folder / kind.data} re-encodes differently"
    assert text.encode() == (folder / kind.meta).read_bytes(), f"{folder / kind.meta} differs"


def test_the_repository_has_goldens():
    assert len(FOLDERS) >= 24


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: "-".join(f.relative_to(GOLDEN).parts))
def test_every_committed_golden_file_reencodes_byte_for_byte(folder):
    store, (port_id, profile) = GoldenStore(GOLDEN), _ids(folder)
    _same_bytes(folder, TRAJECTORY, *trajectory_files(store.read(port_id, profile)))
    if store.exists(port_id, profile, ENVELOPE):
        _same_bytes(folder, ENVELOPE, *envelope_files(read_envelope(store, port_id, profile)))
    if store.exists(port_id, profile, INITIAL):
        params, meta = store.read_initial(port_id, profile)
        _same_bytes(folder, INITIAL, *initial_files(port_id, profile, params, meta))


def test_npz_bytes_depend_only_on_the_arrays():
    arrays = {"W_xh": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3, np.float32)}
    first = npz_bytes(arrays)
    assert npz_bytes({k: v.copy() for k, v in arrays.items()}) == first
    with np.load(io.BytesIO(first), allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["W_xh"], arrays["W_xh"])
    assert npz_bytes({**arrays, "b": np.zeros(3, np.float32)}) != first


def _stored(tmp_path, params):
    store = GoldenStore(tmp_path)
    store.write_initial("fake/numpy", "ci", params, {"seed": 0, "config_hash": "x"})
    return store, store.path("fake/numpy", "ci") / "initial_params.npz"


def _replace_with_matching_checksum(path: Path, raw: bytes) -> None:
    """Write ``raw`` as the data file and its SHA-256 into the meta, as a hand edit that
    knows the format would: only the decoding checks can catch what is left."""
    path.write_bytes(raw)
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(meta_text({**meta, INITIAL.sha_key: sha256(raw)}))


def test_initial_weights_round_trip_as_float32(tmp_path):
    store, _ = _stored(tmp_path, {"w": np.array([1.5, -2.0, 0.25])})
    params, meta = store.read_initial("fake/numpy", "ci")
    assert params["w"].dtype == np.float32 and list(params["w"]) == [1.5, -2.0, 0.25]
    assert meta["exact"] is True and meta["params"] == {"w": [3]}


def test_a_pickled_npz_is_refused_not_loaded(tmp_path):
    store, path = _stored(tmp_path, {"w": np.zeros(3)})
    buf = io.BytesIO()
    np.savez(buf, w=np.array([{"evil": 1}], dtype=object))  # only loadable by unpickling
    _replace_with_matching_checksum(path, buf.getvalue())
    with pytest.raises(GoldenCorruptError, match="not a plain-array NPZ"):
        store.read_initial("fake/numpy", "ci")


def test_edited_initial_weights_fail_the_checksum(tmp_path):
    store, path = _stored(tmp_path, {"w": np.zeros(3)})
    path.write_bytes(npz_bytes({"w": np.ones(3, np.float32)}))
    with pytest.raises(GoldenCorruptError, match="SHA-256"):
        store.read_initial("fake/numpy", "ci")


def test_initial_weights_that_disagree_with_their_meta_are_refused(tmp_path):
    store, path = _stored(tmp_path, {"w": np.zeros(3)})
    _replace_with_matching_checksum(path, npz_bytes({"w": np.zeros(4, np.float32)}))
    with pytest.raises(GoldenCorruptError, match="lists"):
        store.read_initial("fake/numpy", "ci")
