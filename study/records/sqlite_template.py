"""A new MLflow SQLite store, copied from an empty one instead of built by MLflow's migrations.

MLflow creates a SQLite database by running its whole migration history, about 70 Alembic scripts: about 1 s of CPU
with MLflow 3.17, paid by every new store (each new study folder, each test's temporary store). An empty database at
the newest schema, built once by MLflow itself and kept in the user's cache under its schema revision, gives the same
tables in milliseconds; MLflow then opens it as any existing store (it checks the revision, and adds its Default
experiment with this store's own artifact root). If anything here fails, MLflow creates the store its own way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from study.records.locks import local_file

__all__ = ["cache_dir", "seed_sqlite_store"]


def cache_dir() -> Path:
    """Where the templates are kept: ``$XDG_CACHE_HOME/optimizer-study``, else ``~/.cache/optimizer-study``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "optimizer-study"


def seed_sqlite_store(tracking_uri: str) -> bool:
    """Creates the SQLite database of ``tracking_uri`` from the template when it does not exist yet; True if it did.
    Never replaces a file that exists, even one created by another process meanwhile."""
    path = local_file(tracking_uri)
    if path is None or not tracking_uri.startswith("sqlite:///") or path.exists():
        return False
    try:
        template = _template()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.seeding")
        try:
            shutil.copyfile(template, partial)
            os.link(partial, path)  # atomic, and refuses to replace: a store that appeared meanwhile stays
        finally:
            partial.unlink(missing_ok=True)
    except Exception:  # noqa: BLE001 - MLflow builds it with its migrations (a read-only cache, another MLflow, ...)
        return False
    return True


def _template() -> Path:
    """The empty database at MLflow's newest schema revision, built by MLflow the first time it is asked for."""
    import sqlalchemy
    from mlflow.store.db import utils  # private: an MLflow without these names falls back in the caller

    revision = utils._get_latest_schema_revision()  # type: ignore[no-untyped-call]
    template = cache_dir() / f"mlflow-schema-{revision}.db"
    if template.is_file():
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    building = template.with_name(f".{template.name}.{os.getpid()}.building")
    try:
        engine = sqlalchemy.create_engine(f"sqlite:///{building}")
        try:
            utils._initialize_tables(engine)  # type: ignore[no-untyped-call]
        finally:
            engine.dispose()
        os.replace(building, template)  # whole or absent, also with several processes building at once
    finally:
        with contextlib.suppress(FileNotFoundError):
            building.unlink()
    return template
