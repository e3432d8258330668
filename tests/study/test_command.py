"""The console script: one word per command, the installed entry point included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from study.command import COMMANDS, main


def test_an_unknown_command_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'train'" in err and "run, report, ui, bench" in err


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_hands_over_its_options(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0 and "usage:" in capsys.readouterr().out


def test_the_installed_script_runs() -> None:
    script = Path(sys.executable).parent / "optimizer-study"
    result = subprocess.run([str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and all(name in result.stdout for name in COMMANDS)
