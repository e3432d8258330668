"""A store that refuses a write mid-study (a folder turned read-only, a full disk, a database gone away).

Such a failure ends the run with one line that says which store and why, not a traceback: ``writes_to(option)``
turns the store libraries' own errors into a ``StoreError`` naming the option the store was given by. The caller
records what the other store still accepts (``study.records.ledger.commit``), and the next run brings the two
back in line (``reconcile``, and the heartbeat sweep for a trial Optuna could not be told about).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["StoreError", "writes_to"]


class StoreError(Exception):
    """A store refused a write: ``option`` is ``--storage`` (Optuna) or ``--tracking-uri`` (MLflow)."""

    def __init__(self, option: str, cause: BaseException) -> None:
        root = _root_cause(cause)
        text = " ".join(str(root).split()) or type(root).__name__
        super().__init__(f"{option}: {type(root).__name__}: {text[:300]}")
        self.option = option
        self.cause = cause


def _root_cause(err: BaseException) -> BaseException:
    """The driver's or the system's own error under the libraries' wrappers (SQLAlchemy keeps it as ``orig``)."""
    seen: set[int] = set()
    while id(err) not in seen:
        seen.add(id(err))
        inner = getattr(err, "orig", None) or err.__cause__ or err.__context__
        if not isinstance(inner, BaseException):
            break
        err = inner
    return err


def _store_errors() -> tuple[type[BaseException], ...]:
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException
    from optuna.exceptions import StorageInternalError

    return (OSError, sqlite3.Error, sqlalchemy.exc.SQLAlchemyError, MlflowException, StorageInternalError)


@contextmanager
def writes_to(option: str) -> Iterator[None]:
    """Turns a store library's error inside the block into a ``StoreError`` naming ``option``."""
    try:
        yield
    except StoreError:
        raise
    except _store_errors() as err:
        raise StoreError(option, err) from err
