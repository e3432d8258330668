"""Opening the Optuna storage: a journal file that survives its writers' crashes, or a database.

The default journal (``mlruns/optuna-journal.log``) is written by every process of a study. Optuna's own file
lock is a symlink, which a process that dies holding it leaves behind; its relative target then dangles and the
lock is never forced open, so every later run waits forever. ``Journal`` locks with ``fcntl.flock`` on
``<journal>.flock`` instead: the kernel releases that lock when its holder dies, however it dies. Before each
append, under the lock, it drops a torn last line (a writer killed mid-write leaves one) so that the next line
does not merge into it; Optuna's reader already ignores an unterminated last line. A symlink lock that Optuna's
own backend left behind (an earlier version of this tool) is removed once it is older than Optuna's own grace
period, with one line saying so.

The checks of the stores' addresses, which write nothing, are ``study.records.store_checks``.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import IO, Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

from study.config.console import LOG
from study.schema import FINAL_SUFFIX, sub_study

__all__ = ["FLOCK_SUFFIX", "Journal", "drop_torn_tail", "open_storage", "study_names"]

FLOCK_SUFFIX = ".flock"
OPTUNA_LOCK_SUFFIX = ".lock"  # Optuna's own symlink lock
OPTUNA_GRACE_SECONDS = 30.0  # after which Optuna itself forces its lock open (when it can)


class _Flock(JournalFileOpenLock):
    """An exclusive ``fcntl.flock`` on a lock file, opened once and kept open (the lock stays usable if the
    folder later turns read-only); released by the kernel if the process dies. (A subclass of Optuna's public
    open-file lock only for its type: every method is replaced.)"""

    def __init__(self, path: Path) -> None:  # no super().__init__(): none of its state is used
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        if self._handle is None:
            self._handle = self.path.open("a")
        fcntl.flock(self._handle, fcntl.LOCK_EX)
        return True

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)


def drop_torn_tail(path: Path) -> int:
    """Truncates the file after its last newline; the number of bytes dropped (0 if it ends with one)."""
    with path.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        end = size
        while end > 0:
            start = max(0, end - 65536)
            f.seek(start)
            chunk = f.read(end - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end < size:
            f.truncate(end)
        return size - end


class Journal(JournalFileBackend):
    """Optuna's journal file, locked with ``flock`` and safe from a torn last line (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self._journal = Path(path)
        self._flock = _Flock(self._journal.with_name(self._journal.name + FLOCK_SUFFIX))
        _remove_stale_symlink_lock(self._journal)
        super().__init__(path, lock_obj=self._flock)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode("utf-8")
        self._flock.acquire()
        try:
            dropped = drop_torn_tail(self._journal)
            if dropped:
                LOG.warning(
                    f"{self._journal}: dropped a torn last line ({dropped} bytes a stopped process left half-written)"
                )
            with self._journal.open("ab") as f:
                f.write(lines)
                f.flush()
                os.fsync(f.fileno())
        finally:
            self._flock.release()


def _remove_stale_symlink_lock(journal: Path) -> None:
    lock = journal.with_name(journal.name + OPTUNA_LOCK_SUFFIX)
    try:
        age = time.time() - lock.lstat().st_mtime
    except FileNotFoundError:
        return
    if age > OPTUNA_GRACE_SECONDS:
        lock.unlink(missing_ok=True)
        LOG.warning(f"{lock}: removed a journal lock that a stopped process left behind ({age:.0f} s old)")


def open_storage(url: str) -> BaseStorage:
    """A path without a scheme is a journal file (``Journal``): append-only, safe for several local processes.

    No Optuna heartbeat: the study's own (``study.workers.liveness``) serves every kind of storage.
    """
    if "://" not in url:
        return JournalStorage(Journal(url))
    return RDBStorage(url)


def study_names(storage: BaseStorage, name: str) -> list[str]:
    """NAME first (when it exists), then its sub-studies NAME.<suffix> in name order, NAME.final last: the
    order the tuned protocol runs them in."""
    mine = [n for n in optuna.study.get_all_study_names(storage) if n == name or n.startswith(name + ".")]
    return sorted(mine, key=lambda n: (n != name, n == sub_study(name, FINAL_SUFFIX), n))
