"""Checking the two stores' addresses before anything is written, and MLflow's credentials.

Everything here reads only, and imports neither Optuna nor MLflow (a database URL loads SQLAlchemy, an http one
urllib): a typo in a URL, a folder that does not exist or cannot be written, a server that does not answer, a
store that keeps nothing, each is one ``ConfigError`` within seconds of the start, before a folder or a file is
created. A default location (``mlruns/``) is created later, when the study opens its stores.

An MLflow server behind basic auth is given as ``http://USER:PASSWORD@HOST``: MLflow's own convention is the
``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` variables, so ``mlflow_uri`` moves the credentials
there and hands MLflow the address without them (the password stays masked in everything shown or recorded).
"""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from study.config.errors import ConfigError
from study.secrets import mask_url, redact, secrets_in

__all__ = [
    "ACCEPTED_STORAGE",
    "ACCEPTED_TRACKING",
    "check_storage",
    "check_tracking_uri",
    "database_has_experiment",
    "mlflow_uri",
    "without_credentials",
]

ACCEPTED_STORAGE = "a journal file path, sqlite:///FILE, postgresql://USER@HOST/DB or mysql://..."
ACCEPTED_TRACKING = "sqlite:///FILE, http(s)://HOST:PORT of an MLflow server, or postgresql://..."
_CONNECT_TIMEOUT_S = 5
_IN_MEMORY = ("", ":memory:")  # sqlite:// and sqlite:///:memory: keep nothing once the process ends
_USERNAME, _PASSWORD = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"


def _check_sqlite(option: str, url: str, accepted: str) -> Path:
    path = url.split("://", 1)[1]
    if not path.startswith("/") or path.removeprefix("/") in _IN_MEMORY:
        raise ConfigError(
            option, f"got {mask_url(url)!r}, an in-memory database that keeps nothing; accepted: {accepted}"
        )
    return Path(path.removeprefix("/"))


def _check_parent(option: str, path: Path, default: bool) -> None:
    """A store file we can create or append to. A default location may not exist yet (it is created when the study
    opens); a folder the user gave must already exist."""
    accepted = "a file path in an existing folder this user can write to"
    if path.is_dir():
        raise ConfigError(option, f"got {str(path)!r}, which is a folder; accepted: {accepted}")
    folder = path.parent
    if not folder.is_dir():
        if not default:
            raise ConfigError(option, f"got {str(path)!r}: folder {folder} does not exist; accepted: {accepted}")
        while not folder.exists() and folder != folder.parent:  # the folder that would hold the new ones
            folder = folder.parent
    if path.exists():
        writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)  # + lock, journal files
    else:
        writable = folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)
    if not writable:
        raise ConfigError(option, f"got {str(path)!r}, which this user cannot write; accepted: {accepted}")


def _first_line(err: BaseException, url: str) -> str:
    text = str(err).strip()
    return redact(text.splitlines()[0] if text else type(err).__name__, secrets_in(url))


def _check_database(option: str, url: str, accepted: str) -> None:
    """Opens (and closes) one connection to a database server; raises ConfigError if it cannot."""
    import sqlalchemy

    args = {"connect_timeout": _CONNECT_TIMEOUT_S} if url.startswith(("postgresql", "mysql")) else {}
    try:
        engine = sqlalchemy.create_engine(url, connect_args=args, poolclass=sqlalchemy.pool.NullPool)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as err:  # noqa: BLE001 - any driver error means "cannot reach"
        raise ConfigError(
            option, f"cannot connect to {mask_url(url)} ({_first_line(err, url)}); accepted: {accepted}"
        ) from None


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.split("+")[0] if "://" in url else ""


def check_storage(url: str, *, default: bool = False) -> None:
    """The Optuna storage: a journal file or SQLite file that can be written, or a reachable database."""
    scheme = _scheme(url)
    if not scheme:
        _check_parent("--storage", Path(url), default)
    elif scheme == "sqlite":
        _check_parent("--storage", _check_sqlite("--storage", url, ACCEPTED_STORAGE), default)
    elif scheme in ("postgresql", "mysql"):
        _check_database("--storage", url, ACCEPTED_STORAGE)
    else:
        raise ConfigError("--storage", f"unsupported URL {mask_url(url)!r}; accepted: {ACCEPTED_STORAGE}")


def database_has_experiment(url: str, name: str) -> bool:
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


def without_credentials(uri: str) -> str:
    """An http(s) address without its ``USER:PASSWORD@`` (what a browser is shown: it asks for them itself)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or parts.username is None:
        return uri
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def mlflow_uri(uri: str) -> str:
    """The tracking URI as MLflow is given it: an http(s) address's ``USER:PASSWORD@`` moved into MLflow's
    ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` (inherited by the workers), anything else as is."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.username is not None:
        os.environ[_USERNAME] = unquote(parts.username)
        if parts.password is not None:
            os.environ[_PASSWORD] = unquote(parts.password)
    return without_credentials(uri)


def _check_server(uri: str) -> None:
    address = mlflow_uri(uri)
    request = urllib.request.Request(address.rstrip("/") + "/health")
    user, password = os.environ.get(_USERNAME), os.environ.get(_PASSWORD)
    if user is not None and password is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=_CONNECT_TIMEOUT_S) as reply:
            if reply.status != 200:
                raise urllib.error.URLError(f"HTTP {reply.status}")
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise ConfigError(
            "--tracking-uri",
            f"cannot reach an MLflow server at {mask_url(uri)} ({redact(str(reason), secrets_in(uri))}); "
            f"accepted: {ACCEPTED_TRACKING}",
        ) from None
    # Fail fast later too, instead of MLflow's default minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")


def check_tracking_uri(
    uri: str, *, default: bool = False, experiment: str | None = None, artifact_location: str | None = None
) -> None:
    """Reachable, and able to keep artifacts somewhere other than the current folder."""
    scheme = urlsplit(uri).scheme
    if scheme == "sqlite":
        _check_parent("--tracking-uri", _check_sqlite("--tracking-uri", uri, ACCEPTED_TRACKING), default)
    elif scheme in ("http", "https"):
        _check_server(uri)
    elif scheme.split("+")[0] in ("postgresql", "mysql", "mssql"):
        _check_database("--tracking-uri", uri, ACCEPTED_TRACKING)
        # MLflow's default artifact root for a database is ./mlruns of whatever folder a worker started in
        if experiment and artifact_location is None and not database_has_experiment(uri, experiment):
            raise ConfigError(
                "--artifact-location",
                f"missing: a new experiment {experiment!r} in a database tracking store needs one; "
                "accepted: a URI such as file:///shared/artifacts or s3://bucket/path (or an MLflow server as "
                "--tracking-uri, which has its own artifact root)",
            )
    elif scheme in ("", "file"):
        raise ConfigError(
            "--tracking-uri",
            f"{mask_url(uri)!r} is a file store, which MLflow 3 refuses; accepted: {ACCEPTED_TRACKING}",
        )
    else:
        raise ConfigError("--tracking-uri", f"unsupported URI {mask_url(uri)!r}; accepted: {ACCEPTED_TRACKING}")
