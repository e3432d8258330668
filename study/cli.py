"""The command line of ``python -m study.run``: argparse options that mirror StudyConfig's fields."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from optimizers.registry import CONVENTIONS, OPTIMIZER_NAMES
from study.config import (
    DATASETS,
    DEVICES,
    PRECISIONS,
    PROTOCOL_PRESETS,
    PROTOCOLS,
    PRUNERS,
    SAMPLERS,
    StudyConfig,
    config_from_mapping,
    read_toml,
)

__all__ = ["OneLineParser", "build_parser", "parse_config"]


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (no usage block) and exits with code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(prog: str = "python -m study.run") -> OneLineParser:
    d = StudyConfig()
    p = OneLineParser(
        prog=prog,
        description="Search optimizer, lr and batch size with Optuna; record every trial in MLflow.",
        argument_default=argparse.SUPPRESS,  # only options actually given override the TOML file
    )
    p.add_argument("--config", metavar="FILE", help="TOML file of options (command line overrides it)")
    p.add_argument("--protocol", choices=PROTOCOLS, help=f"search, seed or tuned (default {d.protocol})")
    p.add_argument("--study-name", help=f"Optuna study name; rerun to continue it (default {d.study_name})")
    p.add_argument("--n-trials", type=int, help=f"trials to run now (default {d.n_trials})")
    p.add_argument("--timeout", help=f"stop starting trials after SECONDS, or 'none' (default {d.timeout})")
    p.add_argument("--max-epochs", type=int, help=f"epochs per trial (default {d.max_epochs})")
    p.add_argument("--dataset", choices=DATASETS, help=f"(default {d.dataset})")
    p.add_argument("--data-dir", help="folder with <Dataset>/raw/ (default $OPTIMIZER_STUDY_DATA_DIR or data/)")
    p.add_argument("--train-size", help="train on the first N training samples (default: all)")
    p.add_argument("--validate-on-test", action="store_true", help="validate on the test set, as the article")
    p.add_argument("--normalize", choices=("unit", "standard"), help=f"input scaling (default {d.normalize})")
    p.add_argument("--optimizers", help=f"comma-separated subset of: {','.join(OPTIMIZER_NAMES)} (default all)")
    p.add_argument("--batch-sizes", help="comma-separated batch sizes (default 32,64,128,256)")
    p.add_argument(
        "--lr-range",
        dest="lr_ranges",
        action="append",
        metavar="NAME=LOW:HIGH",
        help="override an optimizer's log-uniform lr range, e.g. adam=1e-5:1e-2 (repeatable)",
    )
    p.add_argument("--defaults", choices=CONVENTIONS, help=f"hyperparameters not searched (default {d.defaults})")
    p.add_argument("--search-extras", action="store_true", help="also search momentum and betas")
    p.add_argument("--sampler", choices=SAMPLERS, help=f"(default {d.sampler})")
    p.add_argument("--pruner", choices=PRUNERS, help=f"(default {d.pruner})")
    p.add_argument("--seed", type=int, help=f"base seed (default {d.seed})")
    p.add_argument("--seeds", type=int, help=f"seeds per optimizer for seed/tuned retraining (default {d.seeds})")
    p.add_argument("--device", choices=DEVICES, help=f"(default {d.device})")
    p.add_argument("--precision", choices=PRECISIONS, help=f"Lightning precision (default {d.precision})")
    p.add_argument("--storage", metavar="URL", help=f"Optuna storage URL (default {d.storage_url})")
    p.add_argument("--tracking-uri", metavar="URI", help=f"MLflow tracking URI (default {d.tracking_uri})")
    p.add_argument("--experiment", metavar="NAME", help=f"MLflow experiment (default {d.experiment})")
    p.add_argument("--progress-bar", action="store_true", help="show Lightning's progress bar in each trial")
    p.add_argument("--no-report", dest="report", action="store_false", help="skip the report at the end")
    return p


def parse_config(argv: Sequence[str] | None, parser: OneLineParser | None = None) -> StudyConfig:
    """Defaults < protocol preset < TOML file < command line. Raises ConfigError (exits 2 on argparse errors)."""
    parser = parser or build_parser()
    raw = vars(parser.parse_args(sys.argv[1:] if argv is None else list(argv)))
    config_file = raw.pop("config", None)
    given = config_from_mapping(raw, source="command line")
    from_file = read_toml(config_file) if config_file else {}
    protocol = given.get("protocol", from_file.get("protocol", StudyConfig.protocol))
    return StudyConfig(**{**PROTOCOL_PRESETS.get(protocol, {}), **from_file, **given})
