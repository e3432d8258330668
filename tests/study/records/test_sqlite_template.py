"""A new SQLite store copied from the cached empty database is the store MLflow would have built, and seeding never
touches a store that exists or fails a run that could not seed."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from mlflow import MlflowClient

from study.records.sqlite_template import cache_dir, seed_sqlite_store


def _schema(database: Path) -> tuple[dict[str, list[str]], list[tuple[str]]]:
    """Each table's and index's definition as its sorted clauses (MLflow's own migrations write a table's
    constraints in an order that changes from one run to the next), and the schema revision."""
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
        revision = db.execute("SELECT version_num FROM alembic_version").fetchall()
    return {name: sorted(line.strip().rstrip(",") for line in sql.splitlines()) for name, sql in rows}, revision


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_seeded_store_is_the_store_mlflow_builds(tmp_path: Path) -> None:
    built, seeded = tmp_path / "built" / "mlflow.db", tmp_path / "seeded" / "mlflow.db"
    MlflowClient(f"sqlite:///{built}").search_experiments()  # MLflow's migrations
    assert seed_sqlite_store(f"sqlite:///{seeded}")
    assert list(cache_dir().glob("mlflow-schema-*.db"))  # built once, kept for the next store
    client = MlflowClient(f"sqlite:///{seeded}")
    (default,) = client.search_experiments()  # MLflow opens it as an existing store and adds its Default experiment
    assert default.name == "Default"
    assert _schema(seeded) == _schema(built)
    run = client.create_run(client.create_experiment("e", artifact_location=(tmp_path / "a").as_uri()))
    client.log_metric(run.info.run_id, "val/acc", 0.5)
    assert client.get_run(run.info.run_id).data.metrics == {"val/acc": 0.5}


def test_the_second_store_comes_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert seed_sqlite_store(f"sqlite:///{tmp_path}/one.db")

    def no_migrations(*args: object) -> None:
        raise AssertionError("the cached template should have served")

    monkeypatch.setattr("mlflow.store.db.utils._initialize_tables", no_migrations)
    assert seed_sqlite_store(f"sqlite:///{tmp_path}/two.db")
    assert _schema(tmp_path / "two.db") == _schema(tmp_path / "one.db")


def test_an_existing_store_is_never_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    existing = tmp_path / "mlflow.db"
    existing.write_bytes(b"somebody's store")
    assert not seed_sqlite_store(f"sqlite:///{existing}")
    assert existing.read_bytes() == b"somebody's store"

    # another process creates it between the check and the link: its file stays, nothing is left behind
    late = tmp_path / "late.db"
    copy = shutil.copyfile

    def racing_copy(source: Path, target: Path) -> object:
        late.write_bytes(b"the other process's store")
        return copy(source, target)

    monkeypatch.setattr(shutil, "copyfile", racing_copy)  # the module calls shutil.copyfile
    assert not seed_sqlite_store(f"sqlite:///{late}")
    assert late.read_bytes() == b"the other process's store"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["late.db", "mlflow.db"]


def test_an_unusable_cache_leaves_the_store_to_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # the cache folder cannot be made
    database = tmp_path / "store" / "mlflow.db"
    assert not seed_sqlite_store(f"sqlite:///{database}")
    assert not database.exists()
    assert [e.name for e in MlflowClient(f"sqlite:///{database}").search_experiments()] == ["Default"]


@pytest.mark.parametrize("uri", ["postgresql://u@host/db", "http://127.0.0.1:5000", "file:///tmp/mlruns"])
def test_only_local_sqlite_stores_are_seeded(uri: str) -> None:
    assert not seed_sqlite_store(uri)
