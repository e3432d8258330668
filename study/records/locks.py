"""One process at a time through a study's set-up: creating schemas, the experiment, the parent run, the budget.

Several workers may start at the same instant, on one machine or many. Whatever each creates (Optuna's and
MLflow's tables on a fresh database, the experiment, the study's parent run, the trials of its budget) must be
created exactly once, so joining a study happens under a lock held on the stores themselves:

- a local file (journal, SQLite): ``fcntl.flock`` on a ``.join-lock`` file beside it;
- PostgreSQL: a session-level advisory lock (``pg_advisory_lock``);
- MySQL: ``GET_LOCK``;
- an MLflow server (http): no lock of ours; the server serialises its own writes.

The Optuna store's lock is always taken before the MLflow store's, so two processes never wait on each other.
"""

from __future__ import annotations

import fcntl
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlparse

__all__ = ["local_file", "store_lock", "study_lock"]

_LOCK_NAME = "optimizer-study.join"  # one lock per database: set-up is short, contention rare
_WAIT_SECONDS = 600


def local_file(url: str) -> Path | None:
    """The file behind a journal path or a sqlite URL; None for a database server or an http server."""
    if "://" not in url:
        return Path(url)
    if url.startswith("sqlite:"):
        return Path(url.split(":///", 1)[1])
    return None


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    lock = path.with_name(path.name + ".join-lock")  # not ".lock": Optuna's journal uses that name
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _database_lock(url: str) -> Iterator[None]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    key = zlib.crc32(_LOCK_NAME.encode())  # advisory locks take a bigint
    postgres = engine.dialect.name == "postgresql"
    try:
        with engine.connect() as connection:
            if postgres:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            else:
                connection.execute(
                    sqlalchemy.text("SELECT GET_LOCK(:name, :wait)"), {"name": _LOCK_NAME, "wait": _WAIT_SECONDS}
                )
            connection.commit()
            try:
                yield
            finally:
                unlock = "SELECT pg_advisory_unlock(:key)" if postgres else "SELECT RELEASE_LOCK(:name)"
                connection.execute(sqlalchemy.text(unlock), {"key": key, "name": _LOCK_NAME})
                connection.commit()
    finally:
        engine.dispose()


def store_lock(url: str) -> ExitStack:
    """The lock of one store (an Optuna storage URL or an MLflow tracking URI); a no-op for http servers."""
    stack = ExitStack()
    path = local_file(url)
    scheme = urlparse(url).scheme.split("+")[0] if "://" in url else ""
    if path is not None:
        stack.enter_context(_file_lock(path))
    elif scheme in ("postgresql", "mysql"):
        stack.enter_context(_database_lock(url))
    return stack


@contextmanager
def study_lock(storage_url: str, tracking_uri: str) -> Iterator[None]:
    """Both stores' locks, Optuna's first (the same one twice when both live in one database or folder)."""
    with store_lock(storage_url):
        same = _same_lock(storage_url, tracking_uri)
        with store_lock(tracking_uri) if not same else ExitStack():
            yield


def _same_lock(first: str, second: str) -> bool:
    a, b = local_file(first), local_file(second)
    if a is not None or b is not None:
        return a is not None and b is not None and a.resolve() == b.resolve()
    return first == second
