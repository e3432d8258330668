"""What a person at the terminal gets: instant help, a short header, -q/-v, the environment's stores, timeouts
that say what they cost."""

from __future__ import annotations

import shlex
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

import study.ui
from study.run import main
from testsupport import PROJECT_ROOT

if TYPE_CHECKING:
    from study.conftest import TinyStudy

LIGHT_CHECK = """
import runpy, sys
sys.argv = [{module!r}, *{argv!r}]
try:
    runpy.run_module({module!r}, run_name="__main__")
    code = 0
except SystemExit as stop:
    code = stop.code
heavy = sorted(m for m in ("torch", "optuna", "mlflow", "lightning", "matplotlib", "tensorflow") if m in sys.modules)
print(code, heavy)
"""


@pytest.mark.parametrize(
    ("module", "argv", "code"),
    [
        ("study.run", ["--help"], 0),
        ("study.run", ["--n-trials", "ten"], 2),
        ("study.run", ["--no-such-option"], 2),
        ("study.report", ["--help"], 0),
        ("study.report", ["--no-such-option"], 2),
        ("study.ui", ["--help"], 0),
        ("study.bench", ["--help"], 0),
    ],
    ids=str,
)
def test_help_and_bad_options_answer_without_loading_the_training_stack(
    module: str, argv: list[str], code: int
) -> None:
    # import laziness is what keeps --help under a second: torch alone takes seconds to import
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_CHECK.format(module=module, argv=argv)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip().splitlines()[-1] == f"{code} []", result.stdout[-2000:] + result.stderr[-2000:]


def _without(args: list[str], *flags: str) -> list[str]:
    """``args`` without the given options and their values."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip or arg in flags:
            skip = not skip
            continue
        out.append(arg)
    return out


def test_a_run_opens_with_a_short_header_not_the_configuration(
    tiny: TinyStudy, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlflow.pytorch  # noqa: F401 - it configures the root logger, as a study's export does

    assert main(tiny.args()) == 0
    captured = capsys.readouterr()
    out = captured.out
    for chatter in ("GPU available", "Creating initial MLflow database tables", "A new study created"):
        assert chatter not in out + captured.err, chatter  # the libraries stay quiet without -v
    assert "study 'tiny' (search): 3 trials over 3 optimizers, 1 epoch each" in out
    assert "256 training / 5000 validation images" in out
    assert "configuration:" not in out and '"lr_ranges"' not in out
    assert "[1/3] trial 0" in out
    # the launcher line printed at the end is a command that parses, naming this study's stores
    launcher = next(line for line in out.splitlines() if line.startswith("Both UIs:"))
    words = shlex.split(launcher.split("-m study.ui", 1)[1])
    options = vars(study.ui.build_parser().parse_args(words))
    assert options["study_name"] == "tiny" and options["storage"] == str(tiny.tmp / "journal.log")
    assert options["tracking_uri"] == tiny.tracking_uri


def test_quiet_prints_the_results_only(tiny: TinyStudy, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*tiny.args(), "-q"]) == 0
    out = capsys.readouterr().out
    assert "[1/3] trial 0" not in out and "trials over 3 optimizers" not in out
    assert "best val/acc" in out  # the summary table is the answer: it stays


def test_the_environment_names_the_stores_and_the_command_line_wins(
    tiny: TinyStudy, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from_env = f"sqlite:///{tiny.tmp}/from-env.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", from_env)
    monkeypatch.setenv("OPTUNA_STORAGE", str(tiny.tmp / "env-journal.log"))
    args = tiny.args(**{"--n-trials": "1"})
    assert main(_without(args, "--storage", "--tracking-uri")) == 0
    assert (tiny.tmp / "from-env.db").exists() and (tiny.tmp / "env-journal.log").exists()
    assert not (tiny.tmp / "mlflow.db").exists()
    assert main(args) == 0  # the command line names other stores: those are used
    assert (tiny.tmp / "mlflow.db").exists() and (tiny.tmp / "journal.log").exists()


def test_a_bad_environment_value_names_the_variable(
    tiny: TinyStudy, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPTUNA_STORAGE", " ")
    assert main(_without(tiny.args(), "--storage")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "OPTUNA_STORAGE" in err


def test_a_timeout_says_what_it_left_untried(tiny: TinyStudy, capsys: pytest.CaptureFixture[str]) -> None:
    args = tiny.args(**{"--n-trials": "12", "--timeout": "1", "--train-size": "2000"})
    assert main(args) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("--timeout"))
    assert "queued trials not run; never tried: " in line, line
