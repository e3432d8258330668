"""Stores that survive their writers' crashes, with real processes: a journal lock whose holder was killed, a
journal whose last line a crash tore, and a store folder that turns read-only in the middle of a study."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from study.config.cli import EVENTS_ENV
from study.run import main
from testsupport import PROJECT_ROOT, stores_disagree

if TYPE_CHECKING:
    from study.conftest import TinyStudy

# Root without its right to override file permissions (as any other user): a folder's 0o555 then stops it.
BOUND = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]


def _agree(tiny: TinyStudy) -> None:
    assert stores_disagree(str(tiny.tmp / "journal.log"), tiny.tracking_uri, "tests", "tiny") == []


def test_a_journal_lock_whose_holder_was_killed_does_not_hang_the_next_run(tiny: TinyStudy) -> None:
    args = tiny.args(**{"--n-trials": "1"})
    assert main(args) == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from study.records.stores import Journal\n"
            "journal = Journal(sys.argv[1]); journal._flock.acquire()\n"
            "print('locked', flush=True); time.sleep(600)\n",
            str(tiny.tmp / "journal.log"),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    holder.send_signal(signal.SIGKILL)  # dies holding the lock
    holder.wait(timeout=30)
    started = time.monotonic()
    assert main(tiny.args(**{"--n-trials": "2"})) == 0  # the kernel released it: no wait at all
    assert time.monotonic() - started < 120
    assert [t.state.name for t in tiny.load().trials] == ["COMPLETE", "COMPLETE"]
    _agree(tiny)


def test_optunas_own_lock_left_behind_is_removed_with_one_line(
    tiny: TinyStudy, capsys: pytest.CaptureFixture[str]
) -> None:
    args = tiny.args(**{"--n-trials": "1"})
    assert main(args) == 0
    lock = tiny.tmp / "journal.log.lock"
    os.symlink("relative/journal.log", lock)  # dangling, as the symlink lock of a process that died in it
    os.utime(lock, (time.time() - 3600, time.time() - 3600), follow_symlinks=False)
    capsys.readouterr()
    assert main(tiny.args(**{"--n-trials": "2"})) == 0
    assert not os.path.lexists(lock)
    out = capsys.readouterr()
    said = [line for line in (out.out + out.err).splitlines() if "journal lock" in line]
    assert len(said) == 1 and "removed" in said[0] and str(lock) in said[0], said
    _agree(tiny)


def test_a_torn_last_journal_line_does_not_crash_the_next_run(
    tiny: TinyStudy, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(tiny.args(**{"--n-trials": "1"})) == 0
    journal = tiny.tmp / "journal.log"
    intact = journal.read_bytes()
    with journal.open("ab") as f:
        f.write(b'{"op_code": 5, "worker_id": "torn-by-a-kil')  # a write cut short: no end, no newline
    capsys.readouterr()
    assert main(tiny.args(**{"--n-trials": "2"})) == 0
    assert journal.read_bytes().startswith(intact) and b"torn-by-a-kil" not in journal.read_bytes()
    out = capsys.readouterr()
    assert any("torn last line" in line for line in (out.out + out.err).splitlines())
    assert [t.state.name for t in tiny.load().trials] == ["COMPLETE", "COMPLETE"]
    _agree(tiny)


def _user() -> list[str]:
    """The command prefix that runs a process as a user who cannot write into a read-only folder."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to run without root's permission override")
    return BOUND


def test_a_store_folder_turning_read_only_mid_study_ends_with_one_line_and_is_repaired(
    tiny: TinyStudy, tmp_path: Path
) -> None:
    stores = tmp_path / "stores"
    stores.mkdir()
    args = tiny.args(**{"--n-trials": "4", "--max-epochs": "2", "--train-size": "2048", "--heartbeat-seconds": "1"})
    args += ["--storage", str(stores / "journal.log"), "--tracking-uri", f"sqlite:///{stores}/mlflow.db"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", EVENTS_ENV: "jsonl"}
    command = [*_user(), sys.executable, "-m", "study.run", *args]
    proc = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:  # the first trial ends, the second starts: then the folder turns read-only
        if line.startswith("{") and json.loads(line).get("event") == "trial_started" and '"number": 1' in line:
            stores.chmod(0o555)
            break
    proc.stdout.read()
    err = proc.stderr.read().strip()
    assert proc.wait(timeout=300) == 1
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "refused a write" in err and ("--tracking-uri" in err or "--storage" in err), err

    stores.chmod(0o755)  # the user fixes the folder and runs the study again: it repairs what it could not write
    rerun = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env={k: v for k, v in env.items() if k != EVENTS_ENV},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert stores_disagree(str(stores / "journal.log"), f"sqlite:///{stores}/mlflow.db", "tests", "tiny") == []
    assert not [p for p in stores.iterdir() if p.name.endswith(".lock")]  # no lock left behind
