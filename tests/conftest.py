"""Fixtures shared across the suite: where the real dataset files are."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"


@pytest.fixture(scope="session")
def mnist_data_dir() -> Path:
    """The project's data folder holding the original MNIST files (`make data` copies them there)."""
    raw = DATA_DIR / "MNIST" / "raw"
    if not (raw / "train-images-idx3-ubyte.gz").exists() and not (raw / "train-images-idx3-ubyte").exists():
        pytest.fail(f"MNIST files missing in {raw}: run `make data` (copies them from ../shared/data)")
    return DATA_DIR


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download attempt fails as it does without network."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server (installed by `make test` from Debian's packages)."""
    from testsupport import postgres_bin, temporary_postgres

    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed: `make test` installs it (apt-get install postgresql)")
    with temporary_postgres("optuna") as urls:
        yield urls["optuna"]
