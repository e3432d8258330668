"""The configuration: defaults < TOML file < command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from study.config import StudyConfig
from study.config.cli import parse_config
from study.design.search_space import LR_RANGES, SearchSpace


def test_command_line_overrides_the_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "study.toml"
    config.write_text(
        'study-name = "from-file"\nn_trials = 7\noptimizers = ["adam", "sgd"]\n'
        "batch_sizes = [32, 64]\n[lr_range]\nadam = [1e-4, 1e-2]\n"
    )
    resolved = parse_config(["--config", str(config), "--n-trials", "3"])
    assert resolved.study_name == "from-file"
    assert resolved.n_trials == 3
    assert resolved.optimizers == ("adam", "sgd")
    assert resolved.batch_sizes == (32, 64)
    space = SearchSpace.of(resolved)
    assert space.lr_ranges["adam"] == (1e-4, 1e-2)
    assert space.lr_ranges["sgd"] == LR_RANGES["sgd"] != (1e-4, 1e-2)


def test_the_default_study_compares_the_article_era_and_any_registered_name_is_accepted() -> None:
    from optimizers.registry import OPTIMIZER_NAMES

    assert parse_config([]) == StudyConfig()
    assert StudyConfig().optimizers == OPTIMIZER_NAMES[:9] == ("sgd", *OPTIMIZER_NAMES[1:8], "nadam")
    assert parse_config(["--optimizers", ",".join(OPTIMIZER_NAMES)]).optimizers == OPTIMIZER_NAMES
    assert StudyConfig().tracking_uri == "sqlite:///mlruns/mlflow.db"


def test_protocol_presets_sit_below_the_file_and_the_command_line() -> None:
    assert parse_config(["--protocol", "tuned"]).timeout is None
    assert parse_config(["--protocol", "tuned", "--timeout", "60"]).timeout == 60
    assert parse_config(["--protocol", "tuned"]).sampler == "qmc"  # small per-optimizer budgets: Sobol points
    assert parse_config(["--protocol", "tuned", "--sampler", "tpe"]).sampler == "tpe"
    seed = parse_config(["--protocol", "seed", "--max-epochs", "2"])
    assert (seed.max_epochs, seed.batch_sizes, seed.defaults, seed.validate_on_test) == (2, (64,), "keras", True)


def test_lr_range_from_the_command_line() -> None:
    resolved = parse_config(["--lr-range", "adam=1e-5:1e-3", "--lr-range", "sgd=0.01:1"])
    assert resolved.lr_ranges == {"adam": (1e-5, 1e-3), "sgd": (0.01, 1.0)}


def test_a_misspelt_name_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    from study.run import main

    assert main(["--optimizers", "adma,sgd"]) == 2
    line = capsys.readouterr().err.strip()
    assert "'adma' is unknown: did you mean adam" in line and "accepted: distinct names" in line, line


def test_a_space_after_a_comma_is_explained() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "study.run", "--optimizers", "adam,", "sgd"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "unrecognized arguments: sgd" in result.stderr and "space after the comma of 'adam,'" in result.stderr


def test_options_unquoted_under_make_get_the_quoting_hint() -> None:
    env = {**os.environ, "MAKELEVEL": "1"}  # what make sets in a recipe's environment
    result = subprocess.run(
        [sys.executable, "-m", "study.run", "--n-trials"], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2 and 'make run ARGS="' in result.stderr, result.stderr
