"""Opening the two stores, Optuna's and MLflow's, after checking both can be reached.

The checks write nothing: a run with an unreachable store must fail before either store is touched.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from study.config import ConfigError
from study.schema import FINAL_SUFFIX, sub_study
from study.secrets import mask_url, redact, secrets_in

__all__ = ["check_storage", "check_tracking_uri", "open_storage", "study_names"]

_ACCEPTED_STORAGE = "a journal file path, sqlite:///FILE, postgresql://USER@HOST/DB or mysql://..."
_ACCEPTED_TRACKING = "sqlite:///FILE, http(s)://HOST:PORT of an MLflow server, or postgresql://..."
_CONNECT_TIMEOUT_S = 5


def _sqlite_path(url: str) -> Path:
    return Path(url.split(":///", 1)[1])


def _check_parent(option: str, path: Path, default: bool) -> None:
    """A store file we can create or append to. Default locations are created on demand; a user-given folder
    must already exist."""
    accepted = "a file path in an existing folder this user can write to"
    if path.is_dir():
        raise ConfigError(option, f"got {str(path)!r}, which is a folder; accepted: {accepted}")
    if not path.parent.is_dir():
        if not default:
            raise ConfigError(option, f"got {str(path)!r}: folder {path.parent} does not exist; accepted: {accepted}")
        path.parent.mkdir(parents=True, exist_ok=True)
    writable = os.access(path, os.W_OK) if path.exists() else os.access(path.parent, os.W_OK | os.X_OK)
    if not writable:
        raise ConfigError(option, f"got {str(path)!r}, which this user cannot write; accepted: {accepted}")


def _check_database(option: str, url: str, accepted: str) -> None:
    """Opens (and closes) one connection to a database server; raises ConfigError if it cannot."""
    import sqlalchemy

    args = {"connect_timeout": _CONNECT_TIMEOUT_S} if url.startswith(("postgresql", "mysql")) else {}
    try:
        engine = sqlalchemy.create_engine(url, connect_args=args)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as err:  # noqa: BLE001 - any driver error means "cannot reach"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        first = redact(first, secrets_in(url))
        raise ConfigError(option, f"cannot connect to {mask_url(url)} ({first}); accepted: {accepted}") from None


def check_storage(url: str, *, default: bool = False) -> None:
    scheme = urlparse(url).scheme if "://" in url else ""
    if not scheme:
        _check_parent("--storage", Path(url), default)
    elif scheme == "sqlite":
        _check_parent("--storage", _sqlite_path(url), default)
    elif scheme.split("+")[0] in ("postgresql", "mysql"):
        _check_database("--storage", url, _ACCEPTED_STORAGE)
    else:
        raise ConfigError("--storage", f"unsupported URL {mask_url(url)!r}; accepted: {_ACCEPTED_STORAGE}")


def open_storage(url: str) -> BaseStorage:
    """A path without a scheme is a journal file: append-only, safe for several local processes.

    No Optuna heartbeat: the study's own (``study.workers.liveness``) serves every kind of storage.
    """
    if "://" not in url:
        return JournalStorage(JournalFileBackend(url))
    return RDBStorage(url)


def _database_has_experiment(url: str, name: str) -> bool:
    """Whether MLflow's tables in this database hold the experiment; reads only, creates nothing."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        if not sqlalchemy.inspect(engine).has_table("experiments"):
            return False
        with engine.connect() as connection:
            query = sqlalchemy.text("SELECT 1 FROM experiments WHERE name = :name")
            return connection.execute(query, {"name": name}).first() is not None
    finally:
        engine.dispose()


def check_tracking_uri(
    uri: str, *, default: bool = False, experiment: str | None = None, artifact_location: str | None = None
) -> None:
    """Reachable, and able to keep artifacts somewhere other than the current folder."""
    scheme = urlparse(uri).scheme
    if scheme == "sqlite":
        _check_parent("--tracking-uri", _sqlite_path(uri), default)
    elif scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=_CONNECT_TIMEOUT_S) as reply:
                if reply.status != 200:
                    raise urllib.error.URLError(f"HTTP {reply.status}")
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise ConfigError(
                "--tracking-uri",
                f"cannot reach an MLflow server at {mask_url(uri)} ({redact(str(reason), secrets_in(uri))}); "
                f"accepted: {_ACCEPTED_TRACKING}",
            ) from None
        # Fail fast later too, instead of MLflow's default minutes of retries.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    elif scheme.split("+")[0] in ("postgresql", "mysql", "mssql"):
        _check_database("--tracking-uri", uri, _ACCEPTED_TRACKING)
        # MLflow's default artifact root for a database is ./mlruns of whatever folder a worker started in
        if experiment and artifact_location is None and not _database_has_experiment(uri, experiment):
            raise ConfigError(
                "--artifact-location",
                f"missing: a new experiment {experiment!r} in a database tracking store needs one; "
                "accepted: a URI such as file:///shared/artifacts or s3://bucket/path (or an MLflow server as "
                "--tracking-uri, which has its own artifact root)",
            )
    elif scheme in ("", "file"):
        raise ConfigError(
            "--tracking-uri",
            f"{mask_url(uri)!r} is a file store, which MLflow 3 refuses; accepted: {_ACCEPTED_TRACKING}",
        )
    else:
        raise ConfigError("--tracking-uri", f"unsupported URI {mask_url(uri)!r}; accepted: {_ACCEPTED_TRACKING}")


def study_names(storage: BaseStorage, name: str) -> list[str]:
    """NAME first (when it exists), then its sub-studies NAME.<suffix> in name order, NAME.final last: the
    order the tuned protocol runs them in."""
    mine = [n for n in optuna.study.get_all_study_names(storage) if n == name or n.startswith(name + ".")]
    return sorted(mine, key=lambda n: (n != name, n == sub_study(name, FINAL_SUFFIX), n))
