"""Data sources: find, verify and (if allowed) download a tutorial's data file.

A spec declares each file it reads as a ``DataSource`` (name, file name, sha1, download
URL) in ``TutorialSpec.data``; char_rnn's d2l ``timemachine.txt`` is one. Every source is
found the same way: an explicit path, the folder the nearest project's ``[tool.rnn-harness]
data`` table gives that source's name, the ``RNN_HARNESS_DATA`` folder, the cache folder
(``$XDG_CACHE_HOME/rnn-harness`` or ``~/.cache/rnn-harness``), then the download URL (only
when nothing names a folder: a folder named on purpose that lacks the file is an error
that says so). Every file is checked against its sha1 before use; a download lands in a
temporary file that is verified and then moved into the cache, so no partial file is ever
left behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness.errors import CorpusError, CorpusUnavailableError

#: d2l 0.17.6's ``DATA_URL`` and its ``DATA_HUB['time_machine']`` entry.
DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"
FILENAME = "timemachine.txt"
ENV_VAR = "RNN_HARNESS_DATA"


@dataclass(frozen=True)
class DataSource:
    """A data file a tutorial reads: its file name and sha1, where it downloads from (an
    empty ``url``: never downloaded), and the names errors use."""

    url: str = DATA_URL + FILENAME
    sha1: str = "090b5e7e70c295757f55df93cb0a180b9691891a"
    filename: str = FILENAME
    timeout_s: float = 30.0
    #: the source's name in ``[tool.rnn-harness] data`` and the spec's ``data`` table
    name: str = "timemachine"
    #: the tutorial that reads it (named in errors)
    tutorial: str = "char_rnn"


#: the former name (char_rnn's corpus was the first source)
CorpusSource = DataSource

TIME_MACHINE = DataSource()


@dataclass(frozen=True)
class DataFolder:
    """``RNN_HARNESS_DATA`` as the user set it, and the absolute folder it names."""

    given: str
    folder: Path
    #: the working directory a relative value was resolved against (None: it was absolute)
    against: str | None = None


#: absolute value -> how it was given; filled when a relative value is made absolute
_GIVEN: dict[str, DataFolder] = {}


def data_folder() -> DataFolder | None:
    """The folder ``RNN_HARNESS_DATA`` names, or None when it is unset.

    A relative value is resolved against the working directory the first time it is seen
    (the pytest plugin does so at start-up) and written back to the environment as an
    absolute path, so a later change of directory or a child process started elsewhere
    (a test running the CLI with ``cwd=tmp_path``) still finds the same folder.
    """
    value = os.environ.get(ENV_VAR)
    if not value:
        return None
    if value in _GIVEN:
        return _GIVEN[value]
    if os.path.isabs(value):
        return DataFolder(value, Path(value))
    cwd = os.getcwd()
    absolute = os.path.abspath(os.path.join(cwd, os.path.expanduser(value)))
    _GIVEN[absolute] = DataFolder(value, Path(absolute), cwd)
    os.environ[ENV_VAR] = absolute
    return _GIVEN[absolute]


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/rnn-harness``, or ``~/.cache/rnn-harness``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "rnn-harness"


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fix(source: CorpusSource) -> str:
    where = f"download {source.url}" if source.url else f"get {source.filename}"
    return (f"{where} (sha1 {source.sha1}) and put it in a folder named by "
            f"the {ENV_VAR} environment variable, or in {cache_dir()}; "
            f"or pass the file's path explicitly.")


def _verified(path: Path, source: CorpusSource, found_via: str) -> Path:
    obtained = sha1_of(path)
    if obtained != source.sha1:
        raise CorpusError(
            f"The corpus file {path} has the wrong checksum.",
            context={"found via": found_via, "expected sha1": source.sha1,
                     "obtained sha1": obtained},
            fix="delete or replace that file with the original; " + _fix(source),
            tutorial=source.tutorial or None,
        )
    return path


def _not_in_data_folder(data: DataFolder, source: CorpusSource, cached: Path) -> CorpusError:
    folder = data.folder
    state = "holds no " + source.filename if folder.is_dir() else "does not exist"
    by_project = data.given.startswith("[tool.")
    context: dict[str, object] = {"named by" if by_project else f"${ENV_VAR}": data.given}
    if data.against is not None:
        context["resolved against"] = data.against
    context.update({"looked for": f"{folder / source.filename} (the folder {state})",
                    "also looked in": cached})
    return CorpusError(
        (f"The project's data folder for {source.name}" if by_project else f"{ENV_VAR} is set, "
         "but the folder it names") + f" has no {source.filename}.",
        context=context,
        fix=f"put {source.filename} ({source.url}, sha1 {source.sha1}) in that folder, or "
        f"set {ENV_VAR} to the folder that holds it (an absolute path is safest), or unset "
        f"{ENV_VAR} to download it into {cache_dir()}.",
        tutorial=source.tutorial or None)


def find_corpus(path: str | os.PathLike[str] | None = None, *,
                source: CorpusSource = TIME_MACHINE, download: bool = True) -> Path:
    """The verified local path of the corpus, downloading it into the cache if needed.

    ``path``: an explicit file; when given, it must exist (nothing else is tried).
    ``download``: whether to fall back to ``source.url`` (only tried while
    ``RNN_HARNESS_DATA`` is unset); if False a missing file raises.
    """
    if path is not None:
        explicit = Path(path)
        if not explicit.is_file():
            raise CorpusError(f"The corpus file {explicit} does not exist.",
                              context={"found via": "explicit path"}, fix=_fix(source),
                              tutorial=source.tutorial or None)
        return _verified(explicit, source, "explicit path")
    data, cached = _project_folder(source) or data_folder(), cache_dir() / source.filename
    if data is not None and (data.folder / source.filename).is_file():
        return _verified(data.folder / source.filename, source, f"${ENV_VAR}")
    if cached.is_file():
        return _verified(cached, source, "cache folder")
    if data is not None:
        raise _not_in_data_folder(data, source, cached)
    if not download or not source.url:
        raise CorpusUnavailableError(
            f"The corpus file {source.filename} was not found.",
            context={"looked in": cached, f"${ENV_VAR}": "(not set)"},
            fix=_fix(source), tutorial=source.tutorial or None)
    return fetch(source, cache_dir())


#: the general name: any spec's data source is found as char_rnn's corpus is


def _project_folder(source: DataSource) -> DataFolder | None:
    """The folder the nearest project's ``[tool.rnn-harness] data`` table names for
    ``source`` (it wins over ``RNN_HARNESS_DATA``: it names this source on purpose)."""
    from harness.project import find_project

    project = find_project()
    folder = project.data.get(source.name)
    if folder is None:
        return None
    return DataFolder(f"[tool.rnn-harness] data.{source.name} in {project.path}", folder)
def fetch(source: CorpusSource, folder: Path) -> Path:
    """Download ``source`` into ``folder`` atomically (temp file, verify, ``os.replace``)."""
    target = folder / source.filename
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{source.filename}.", suffix=".part",
                                        dir=folder)
    except OSError as err:
        raise CorpusUnavailableError(f"Cannot write the corpus into {folder}.",
                                     context={"error": err}, fix=_fix(source),
                                     tutorial=source.tutorial or None) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, \
                urllib.request.urlopen(source.url, timeout=source.timeout_s) as response:
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
        _verified(tmp, source, f"download from {source.url}")
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise CorpusUnavailableError(f"Could not download the corpus from {source.url}.",
                                     context={"error": err}, fix=_fix(source),
                                     tutorial=source.tutorial or None) from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def find_data(source: DataSource, path: str | os.PathLike[str] | None = None, *,
              download: bool = True) -> Path:
    """The verified local path of ``source`` (``find_corpus`` with the source first)."""
    return find_corpus(path, source=source, download=download)
