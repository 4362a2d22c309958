"""Data sources declared by a spec are found the same way for any tutorial (issue 19): the
project's `[tool.rnn-harness] data` folder, RNN_HARNESS_DATA, the cache; verified by sha1;
never downloaded without a URL."""

import hashlib

import pytest

from harness.corpus import DataSource, find_data
from harness.errors import CorpusError, CorpusUnavailableError
from harness.project import load_project

TEXT = b"the quick brown fox\n"
WORDS = DataSource(url="", sha1=hashlib.sha1(TEXT).hexdigest(), filename="words.txt",
                   name="words", tutorial="mine")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv("RNN_HARNESS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    load_project.cache_clear()
    return tmp_path


def test_a_source_is_found_in_the_folder_the_project_names_for_it(isolated):
    (isolated / "data").mkdir()
    (isolated / "data" / "words.txt").write_bytes(TEXT)
    (isolated / "pyproject.toml").write_text('[tool.rnn-harness]\ndata = { words = "data" }\n')
    assert find_data(WORDS) == isolated / "data" / "words.txt"


def test_a_source_is_found_through_rnn_harness_data_and_verified(isolated, monkeypatch):
    monkeypatch.setenv("RNN_HARNESS_DATA", str(isolated))
    (isolated / "words.txt").write_bytes(TEXT + b"changed")
    with pytest.raises(CorpusError, match="wrong checksum") as caught:
        find_data(WORDS)
    assert caught.value.tutorial == "mine"
    (isolated / "words.txt").write_bytes(TEXT)
    assert find_data(WORDS) == isolated / "words.txt"


def test_a_source_without_a_url_is_never_downloaded(isolated):
    with pytest.raises(CorpusUnavailableError, match="words.txt was not found") as caught:
        find_data(WORDS)
    assert caught.value.tutorial == "mine"
