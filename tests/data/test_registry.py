"""Registry resolution order, checksum verification and the clear download failure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from interaction_classifier.data import registry as reg
from interaction_classifier.data.registry import DataError, resolve


@pytest.fixture
def isolated(monkeypatch, tmp_path) -> Path:
    """No shared folder, an empty cache, and no network for downloads."""
    monkeypatch.setattr(reg, "PROJECT_ROOT", tmp_path / "repo")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(reg.ENV_DATA_DIR, raising=False)

    def no_network(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(reg.urllib.request, "urlopen", no_network)
    return tmp_path


def test_every_registered_file_resolves_and_verifies(shared_data) -> None:
    for name, ds in reg.registry().items():
        for key in ds.files:
            assert resolve(name, key).is_file()
        assert ds.licence and ds.citation and ds.homepage


def test_env_dir_wins_over_shared(shared_data, monkeypatch, tmp_path) -> None:
    shared = resolve("banking77", "test")
    (tmp_path / "banking77").mkdir()
    shutil.copyfile(shared, tmp_path / "banking77" / "test.csv")
    monkeypatch.setenv(reg.ENV_DATA_DIR, str(tmp_path))
    assert resolve("banking77", "test") == tmp_path / "banking77" / "test.csv"


def test_shared_used_when_env_dir_lacks_the_file(shared_data, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(reg.ENV_DATA_DIR, str(tmp_path))
    path = resolve("banking77", "test")
    assert "shared" in path.parts


def test_cache_used_last(shared_data, isolated, monkeypatch) -> None:
    cached = reg.cache_dir() / "banking77" / "test.csv"
    cached.parent.mkdir(parents=True)
    original = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "banking77"
    shutil.copyfile(original / "test.csv", cached)
    assert resolve("banking77", "test", download=False) == cached


def test_checksum_mismatch_is_an_error(monkeypatch, tmp_path) -> None:
    (tmp_path / "banking77").mkdir()
    (tmp_path / "banking77" / "test.csv").write_text("text,category\nhello,card_arrival\n")
    monkeypatch.setenv(reg.ENV_DATA_DIR, str(tmp_path))
    with pytest.raises(DataError, match="checksum mismatch"):
        resolve("banking77", "test")


def test_missing_everywhere_fails_with_instructions(isolated) -> None:
    with pytest.raises(DataError) as err:
        resolve("banking77", "test")
    message = str(err.value)
    assert "INTERACTION_DATA_DIR/banking77/test.csv" in message
    assert "Download from https://" in message and "network unreachable" in message


def test_derived_file_without_url_says_so(isolated) -> None:
    with pytest.raises(DataError, match="no public download address"):
        resolve("twcs", "sample")


def test_download_is_verified_before_use(isolated, monkeypatch) -> None:
    class Fake:
        def __init__(self) -> None:
            self.sent = False

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self, n: int) -> bytes:
            if self.sent:
                return b""
            self.sent = True
            return b"not the real file"

    monkeypatch.setattr(reg.urllib.request, "urlopen", lambda *a, **k: Fake())
    with pytest.raises(DataError, match="checksum mismatch"):
        resolve("banking77", "test")
    assert not (reg.cache_dir() / "banking77" / "test.csv").exists()


def test_unknown_dataset_and_file() -> None:
    with pytest.raises(DataError, match="unknown dataset"):
        resolve("imdb", "train")
    with pytest.raises(DataError, match="has no file"):
        resolve("banking77", "validation")
