"""harness.corpus (lookup order, checksum, atomic download) and char_rnn's corpus pipeline."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness import corpus
from harness.corpus import CorpusSource, find_corpus
from harness.errors import CorpusError, CorpusUnavailableError
from reference_impls.char_rnn import spec

TEXT = b"The Time Machine, by H. G. Wells\nthe time traveller\n  --  was here 42!\n"


def _source(url: str, data: bytes = TEXT, filename: str = "timemachine.txt") -> CorpusSource:
    return CorpusSource(url=url, sha1=hashlib.sha1(data).hexdigest(), filename=filename,
                        timeout_s=5.0)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No RNN_HARNESS_DATA, and a cache folder under tmp_path."""
    monkeypatch.delenv(corpus.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A local http.server on 127.0.0.1 serving tmp_path/www; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "timemachine.txt").write_bytes(TEXT)
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_cache_dir_follows_xdg_cache_home(isolated: Path) -> None:
    assert corpus.cache_dir() == isolated / "xdg" / "rnn-harness"


def test_explicit_path_is_verified_and_returned(isolated: Path) -> None:
    path = isolated / "mine.txt"
    path.write_bytes(TEXT)
    assert find_corpus(path, source=_source("http://unused/")) == path


def test_explicit_missing_path_raises_without_trying_elsewhere(isolated: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist") as info:
        find_corpus(isolated / "nope.txt", source=_source("http://unused/"))
    assert "RNN_HARNESS_DATA" in str(info.value)


def test_wrong_checksum_names_both_hashes(isolated: Path) -> None:
    path = isolated / "mine.txt"
    path.write_bytes(TEXT + b"tampered")
    with pytest.raises(CorpusError, match="wrong checksum") as info:
        find_corpus(path, source=_source("http://unused/"))
    assert hashlib.sha1(TEXT).hexdigest() in str(info.value)
    assert hashlib.sha1(TEXT + b"tampered").hexdigest() in str(info.value)


def test_env_folder_comes_before_the_cache(isolated: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    env_dir, cache = isolated / "data", corpus.cache_dir()
    for folder in (env_dir, cache):
        folder.mkdir(parents=True)
        (folder / "timemachine.txt").write_bytes(TEXT)
    monkeypatch.setenv(corpus.ENV_VAR, str(env_dir))
    assert find_corpus(source=_source("http://unused/")) == env_dir / "timemachine.txt"
    monkeypatch.setenv(corpus.ENV_VAR, str(isolated / "empty"))
    assert find_corpus(source=_source("http://unused/")) == cache / "timemachine.txt"


def test_missing_without_download_says_where_it_looked(isolated: Path) -> None:
    with pytest.raises(CorpusUnavailableError, match="was not found") as info:
        find_corpus(source=_source("http://unused/"), download=False)
    assert str(corpus.cache_dir()) in str(info.value)
    assert "Fix:" in str(info.value)


def test_download_lands_verified_in_the_cache(isolated: Path, server: str) -> None:
    path = find_corpus(source=_source(server + "timemachine.txt"))
    assert path == corpus.cache_dir() / "timemachine.txt"
    assert path.read_bytes() == TEXT
    assert _leftovers(corpus.cache_dir()) == ["timemachine.txt"]
    # a second lookup hits the cache (the server is not needed any more)
    assert find_corpus(source=_source("http://127.0.0.1:9/gone")) == path


def test_download_with_wrong_checksum_leaves_nothing(isolated: Path, server: str) -> None:
    source = replace(_source(server + "timemachine.txt"), sha1="0" * 40)
    with pytest.raises(CorpusError, match="wrong checksum") as info:
        find_corpus(source=source)
    assert not isinstance(info.value, CorpusUnavailableError)  # a wrong file is an error
    assert "download from" in str(info.value)
    assert _leftovers(corpus.cache_dir()) == []


def test_download_of_a_missing_url_raises_and_leaves_nothing(isolated: Path, server: str
                                                            ) -> None:
    with pytest.raises(CorpusError, match="Could not download"):
        find_corpus(source=_source(server + "absent.txt"))
    assert _leftovers(corpus.cache_dir()) == []


def test_unreachable_server_raises_corpus_error(isolated: Path) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # nothing configured and nothing to fetch: unavailable (the gate skips), not misconfigured
    with pytest.raises(CorpusUnavailableError, match="Could not download") as info:
        find_corpus(source=_source(f"http://127.0.0.1:{port}/timemachine.txt"))
    assert "Fix:" in str(info.value)
    assert _leftovers(corpus.cache_dir()) == []


def test_a_relative_data_folder_is_made_absolute_once_and_exported(
        isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = isolated / "work" / "data"
    data.mkdir(parents=True)
    (data / "timemachine.txt").write_bytes(TEXT)
    monkeypatch.chdir(isolated / "work")
    monkeypatch.setenv(corpus.ENV_VAR, "data")
    assert find_corpus(source=_source("http://unused/")) == data / "timemachine.txt"
    # later lookups, and child processes, use the absolute value from the first lookup
    assert os.environ[corpus.ENV_VAR] == str(data)
    monkeypatch.chdir(isolated)
    assert find_corpus(source=_source("http://unused/")) == data / "timemachine.txt"
    code = f"import os; print(os.environ['{corpus.ENV_VAR}'])"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)
    assert child.stdout.strip() == str(data)


def test_a_data_folder_without_the_file_says_so_echoes_the_value_and_downloads_nothing(
        isolated: Path, monkeypatch: pytest.MonkeyPatch, server: str) -> None:
    (isolated / "empty").mkdir()
    monkeypatch.chdir(isolated)
    monkeypatch.setenv(corpus.ENV_VAR, "empty")
    with pytest.raises(CorpusError) as info:
        find_corpus(source=_source(server + "timemachine.txt"))  # a download would succeed
    # the user pointed somewhere: a mistake to report, not a corpus to skip
    assert not isinstance(info.value, CorpusUnavailableError)
    message = str(info.value)
    assert message.startswith("RNN_HARNESS_DATA is set, but the folder it names has no "
                              "timemachine.txt.")
    assert "$RNN_HARNESS_DATA: empty\n" in message
    assert f"resolved against: {isolated}" in message
    assert f"looked for: {isolated / 'empty' / 'timemachine.txt'} (the folder holds no" in message
    assert "unset RNN_HARNESS_DATA" in message
    assert _leftovers(corpus.cache_dir()) == []


def test_a_data_folder_that_does_not_exist_is_named_as_such(
        isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(corpus.ENV_VAR, str(isolated / "nowhere"))
    with pytest.raises(CorpusError, match="the folder does not exist") as info:
        find_corpus(source=_source("http://unused/"))
    assert f"$RNN_HARNESS_DATA: {isolated / 'nowhere'}\n" in str(info.value)
    assert "resolved against" not in str(info.value)  # it was absolute already


# ---------------------------------------------------------------- char_rnn's pipeline
def test_vocab_orders_by_frequency_then_first_occurrence() -> None:
    vocab = spec.Vocab(spec.tokenize(["abcb", "cad"]))
    # counts: a 2, b 2, c 2, d 1 -> ties keep first-occurrence order (d2l's stable sort)
    assert vocab.idx_to_token == ["<unk>", "a", "b", "c", "d"]
    assert vocab["z"] == 0 and vocab["c"] == 3


def test_read_time_machine_keeps_letters_lowercased(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(TEXT)
    assert spec.read_time_machine(path) == ["the time machine by h g wells",
                                            "the time traveller", "was here"]


def test_sequential_batches_are_consecutive_and_shifted_by_one() -> None:
    config = replace(spec.TUTORIAL, batch_size=2, num_steps=3)
    data = list(range(100))
    rng, twin = random.Random(5), random.Random(5)
    batches = spec.epoch_batches(data, config, rng)
    offset = twin.randint(0, config.num_steps)
    cols = (len(data) - offset - 1) // 2
    assert len(batches) == cols // 3
    X0, Y0 = batches[0]
    assert X0.shape == (2, 3) and X0.dtype == np.int64
    np.testing.assert_array_equal(X0[0], [offset, offset + 1, offset + 2])
    np.testing.assert_array_equal(X0[1], [offset + cols, offset + cols + 1, offset + cols + 2])
    np.testing.assert_array_equal(Y0, X0 + 1)
    np.testing.assert_array_equal(batches[1][0][:, 0], X0[:, -1] + 1)


def test_each_epoch_draws_one_offset_from_the_rng() -> None:
    config = spec.TUTORIAL
    rng, twin = random.Random(0), random.Random(0)
    firsts = [spec.epoch_batches(list(range(10000)), config, rng)[0][0][0, 0] for _ in range(4)]
    assert firsts == [twin.randint(0, config.num_steps) for _ in range(4)]


def test_ci_profile_is_a_prefix_of_the_tutorial() -> None:
    ci, tutorial = spec.PROFILES["ci"], spec.PROFILES["tutorial"]
    assert ci.epochs < tutorial.epochs
    assert replace(ci, epochs=tutorial.epochs) == tutorial


def test_real_corpus_gives_d2l_vocab_of_28_and_10000_tokens() -> None:
    try:
        path = find_corpus(download=False)
    except CorpusError as err:
        pytest.skip(str(err))
    ids, vocab = spec.load_corpus(spec.TUTORIAL, path)
    assert len(vocab) == 28 and len(ids) == 10000
    assert vocab.idx_to_token[:6] == ["<unk>", " ", "e", "t", "a", "i"]
