"""Where option values come from, besides the command line: the environment, a TOML file and protocol presets.

Precedence (``study.config.cli.parse_command_line``): defaults < protocol preset < environment < TOML file <
command line. Every value goes through the field's own parser (``study.config.fields.parse_value``), whatever
its source, so each is refused the same way.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from study.config.errors import ConfigError
from study.config.fields import FIELDS, flag_of, option_of, parse_value
from study.schema import KERAS_CONVENTION, SEED_PROTOCOL, TUNED

__all__ = [
    "ARTICLE_OPTIMIZERS",
    "ENVIRONMENT",
    "PROTOCOL_PRESETS",
    "config_from_mapping",
    "environment_options",
    "read_toml",
]

# The article's six optimizers, in its table's order ("SGD with momentum" is our `momentum`).
ARTICLE_OPTIMIZERS = ("adadelta", "adagrad", "adam", "rmsprop", "momentum", "sgd")

# The variables Optuna's and MLflow's own tools read: a user who set them for those tools gets the same stores here.
# They sit between the built-in defaults and a TOML file (the command line > the file > these > the defaults).
ENVIRONMENT = {"OPTUNA_STORAGE": "storage", "MLFLOW_TRACKING_URI": "tracking_uri"}


def environment_options(environ: Mapping[str, str]) -> dict[str, Any]:
    """The options the environment sets, checked; a bad value is a ConfigError naming the variable."""
    out: dict[str, Any] = {}
    for variable, name in ENVIRONMENT.items():
        if environ.get(variable):
            try:
                out[name] = parse_value(name, environ[variable])
            except ConfigError as err:
                raise ConfigError(variable, str(err).partition(": ")[2]) from None
    return out


# `--protocol seed` reruns the article: Keras defaults, batch 64, 10 epochs, validated on the test set.
PROTOCOL_PRESETS: Mapping[str, Mapping[str, Any]] = {
    SEED_PROTOCOL: dict(
        optimizers=ARTICLE_OPTIMIZERS,
        defaults=KERAS_CONVENTION,
        batch_sizes=(64,),
        max_epochs=10,
        validate_on_test=True,
        pruner="none",
        seeds=1,
    ),
    # A tuned sub-study has a handful of trials over lr x batch size: scrambled Sobol points found better
    # configurations than random or GP startup for equal trials (python -m study.bench.samplers; README).
    TUNED: dict(sampler="qmc"),
}


_WORDS = ("none", "all")  # the words a TOML string may hold for a field that is otherwise a number


def config_from_mapping(values: Mapping[str, Any], *, source: str, typed: bool = False) -> dict[str, Any]:
    """Checks and converts raw values into StudyConfig keyword arguments. The command line gives strings; a
    ``typed`` source (TOML) must give numbers and lists as such: ``n_trials = "5"`` is refused."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in FIELDS:
            accepted = ", ".join(sorted(k.replace("_", "-") for k in FIELDS))
            raise ConfigError(source, f"unknown option {key!r}; accepted: {accepted}")
        textual = str(FIELDS[name].type).startswith("str")
        if typed and isinstance(value, str) and not textual and value.strip().lower() not in _WORDS:
            option = option_of(name)
            raise ConfigError(
                flag_of(name), f"got {value!r} (a TOML string); accepted: {option.accepted}, written without quotes"
            )
        out[name] = parse_value(name, value)
    return out


def read_toml(path: str) -> dict[str, Any]:
    """Reads a study TOML file: top-level keys named like the options (dashes or underscores)."""
    file = Path(path)
    try:
        with file.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("--config", f"got {path!r}: no such file; accepted: a TOML file") from None
    except (IsADirectoryError, PermissionError, OSError) as err:
        raise ConfigError("--config", f"got {path!r}: {err.strerror or err}; accepted: a readable TOML file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError("--config", f"got {path!r}: not valid TOML ({err}); accepted: a TOML file") from None
    if "lr_range" in raw and "lr_ranges" not in raw:
        raw["lr_ranges"] = raw.pop("lr_range")
    return config_from_mapping(raw, source=f"--config {path}", typed=True)
