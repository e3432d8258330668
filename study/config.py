"""The study's configuration: one frozen dataclass whose fields carry their own help, parser and accepted values.

Precedence is defaults < protocol preset < ``--config study.toml`` < command-line options. Every value is
checked here, before anything is opened or written: a bad one raises :class:`ConfigError`, whose text is the
one line the user sees (the option, the value, what is accepted). The command line (``study.cli``) is
generated from the fields, so a new option is one field.

This module imports neither torch nor Optuna nor MLflow: ``--help`` and bad input answer at once.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.schema import GRACE_BEATS, PROTOCOLS, SEED_PROTOCOL, TUNED
from study.search_space import CONVENTIONS, LR_RANGES, SEARCHABLE
from study.secrets import mask_url

__all__ = [
    "DATASETS",
    "DEVICES",
    "FIELDS",
    "PRECISIONS",
    "PROTOCOL_PRESETS",
    "ConfigError",
    "Option",
    "StudyConfig",
    "config_from_mapping",
    "read_toml",
]

DATASETS = ("mnist", "fashion-mnist", "cifar10")
SAMPLERS = ("tpe", "random", "qmc", "gp")
PRUNERS = ("median", "hyperband", "none")
DEVICES = ("auto", "cpu", "cuda")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")
FUSE_AUTO = "auto"
MAX_FUSE = 64
PRECISIONS = ("32-true", "64-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true")
NORMALIZATIONS = ("unit", "standard")
MAX_SEED = 2**32 - 1  # numpy's and Lightning's seeds are 32-bit
# The article's six optimizers, in its table's order ("SGD with momentum" is our `momentum`).
ARTICLE_OPTIMIZERS = ("adadelta", "adagrad", "adam", "rmsprop", "momentum", "sgd")


class ConfigError(ValueError):
    """A bad option: ``str(err)`` is the one-line message shown to the user."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


# ---------------------------------------------------------------- parsers: raw value -> typed value
# Each takes a command-line string or a TOML value and raises ValueError when it cannot be read; the caller
# turns that into a ConfigError naming the option, the value and the field's ``accepted`` text.


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    return value


STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


def _study_name(value: Any) -> str:
    """A name that is safe as a file name and inside filter strings: it names folders, runs and sub-studies
    (``NAME.adam``: the dot is the study's own separator)."""
    if not isinstance(value, str) or not STUDY_NAME.fullmatch(value):
        raise ValueError
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError
        return str(value)

    return parse


def _whole(minimum: int, maximum: float = math.inf) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError
        number = int(value)
        if not minimum <= number <= maximum:
            raise ValueError
        return number

    return parse


def _fuse(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() == FUSE_AUTO:
        return FUSE_AUTO
    return str(_whole(1, MAX_FUSE)(value))


def _seconds_or_none(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError
    seconds = float(value)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError
    return seconds


def _positive_seconds(value: Any) -> float:
    seconds = _seconds_or_none(value)
    if seconds is None:
        raise ValueError
    return seconds


def _optional_whole(value: Any) -> int | None:
    return None if value is None else _whole(1)(value)


def _size_or_all(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return None
    return _whole(1)(value)


def _items(value: Any) -> list[Any]:
    """A comma-separated string (command line) or a list (TOML)."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",")]
    if isinstance(value, list | tuple):
        return list(value)
    raise ValueError


def _names(choices: tuple[str, ...]) -> Callable[[Any], tuple[str, ...]]:
    def parse(value: Any) -> tuple[str, ...]:
        names = _items(value)
        if not names or any(n not in choices for n in names) or len(set(names)) != len(names):
            raise ValueError
        return tuple(str(n) for n in names)

    return parse


def _whole_list(value: Any) -> tuple[int, ...]:
    numbers = [_whole(1)(item) for item in _items(value)]
    if not numbers or len(set(numbers)) != len(numbers):
        raise ValueError
    return tuple(numbers)


def _lr_ranges(value: Any) -> dict[str, tuple[float, float]]:
    """``{"adam": [1e-5, 1e-2]}`` (TOML) or ``["adam=1e-5:1e-2", ...]`` (command line)."""
    if isinstance(value, Mapping):
        pairs = [(str(name), rng) for name, rng in value.items()]
    elif isinstance(value, list | tuple):
        pairs = []
        for item in value:
            name, _, rng = str(item).partition("=")
            pairs.append((name.strip(), rng.split(":")))
    else:
        raise ValueError
    out: dict[str, tuple[float, float]] = {}
    for name, rng in pairs:
        if name not in SEARCHABLE or name in out or not isinstance(rng, list | tuple) or len(rng) != 2:
            raise ValueError
        if any(isinstance(v, bool) or not isinstance(v, int | float | str) for v in rng):
            raise ValueError
        low, high = float(rng[0]), float(rng[1])
        if not (0 < low < high and math.isfinite(high)):
            raise ValueError
        out[name] = (low, high)
    return out


def _fixed_params(value: Any) -> dict[str, float]:
    """``{"lr_adam": 0.001}`` (TOML) or ``["lr_adam=0.001", ...]`` (command line)."""
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        pairs = [tuple(str(item).split("=", 1)) for item in value]  # type: ignore[misc]
    else:
        raise ValueError
    out: dict[str, float] = {}
    for pair in pairs:
        if len(pair) != 2 or isinstance(pair[1], bool) or not isinstance(pair[1], int | float | str):
            raise ValueError
        name, number = str(pair[0]).strip(), float(pair[1])
        optimizer = name.rpartition("_")[2]
        if optimizer not in SEARCHABLE or not name.startswith(("lr_", "momentum_", "beta1_", "one_minus_beta2_")):
            raise ValueError
        if not math.isfinite(number) or number <= 0 or name in out:
            raise ValueError
        out[name] = number
    return out


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError
    return value


@dataclass(frozen=True)
class Option:
    """How one field is given, read and explained: the single home of its help text and accepted values."""

    help: str
    parse: Callable[[Any], Any]
    accepted: str  # what the error line says is accepted
    metavar: str | None = None
    flag: str | None = None  # the command-line spelling when it is not --<field-name>, e.g. --no-report
    repeatable: bool = False  # given once per item on the command line (--lr-range)


def _option(help: str, parse: Callable[[Any], Any], accepted: str, **kw: Any) -> dict[str, Option]:
    return {"option": Option(help, parse, accepted, **kw)}


def _choices(help: str, choices: tuple[str, ...]) -> dict[str, Option]:
    return _option(help, _choice(choices), ", ".join(choices), metavar="{" + ",".join(choices) + "}")


def _count(help: str) -> dict[str, Option]:
    return _option(help, _whole(1), "a whole number >= 1", metavar="N")


def _seed(help: str) -> dict[str, Option]:
    return _option(help, _whole(0, MAX_SEED), f"a whole number from 0 to {MAX_SEED}", metavar="N")


def _switch(help: str, flag: str | None = None) -> dict[str, Option]:
    return _option(help, _flag, "true or false", flag=flag)


@dataclass(frozen=True)
class StudyConfig:
    protocol: str = field(
        default="search",
        metadata=_choices(
            "search: one adaptive search over every optimizer; seed: the article's defaults once per optimizer; "
            "tuned: an equal budget per optimizer, then its best configuration retrained with --seeds seeds",
            PROTOCOLS,
        ),
    )
    study_name: str = field(
        default="mnist-optimizers",
        metadata=_option(
            "Optuna study name (the MLflow parent run carries it); rerun it to continue the study",
            _study_name,
            "1 to 100 letters, digits, '-' or '_', starting with a letter or digit",
            metavar="NAME",
        ),
    )
    n_trials: int = field(
        default=30,
        metadata=_count(
            "the study's trial budget, shared by every worker that joins it (with --protocol tuned, each "
            "optimizer's); rerun with a larger one to add trials"
        ),
    )
    timeout: float | None = field(
        default=None,  # the budget is trials: a deadline would cut the study short on a slower or busier machine
        metadata=_option(
            "stop starting trials after SECONDS (a running trial finishes), or 'none' (the default)",
            _seconds_or_none,
            "seconds > 0, or 'none'",
            metavar="SECONDS",
        ),
    )
    max_epochs: int = field(default=3, metadata=_count("training epochs per trial"))
    dataset: str = field(
        default="mnist",
        metadata=_choices("dataset", DATASETS),
    )
    data_dir: str | None = field(
        default=None,
        metadata=_option(
            "folder holding <Dataset>/raw/ (default $OPTIMIZER_STUDY_DATA_DIR, else data/)",
            _optional_text,
            "a folder path",
            metavar="DIR",
        ),
    )
    train_size: int | None = field(
        default=None,
        metadata=_option(
            "train on the first N samples of the training split, or 'all'",
            _size_or_all,
            "a whole number >= 1, or 'all'",
            metavar="N",
        ),
    )
    validate_on_test: bool = field(
        default=False,
        metadata=_switch("validate on the official test set, as the article did (the whole training set then trains)"),
    )
    normalize: str = field(
        default="unit",
        metadata=_choices(
            "input scaling: unit (x/255, the article's Keras preprocessing) or standard (mean/std)", NORMALIZATIONS
        ),
    )
    optimizers: tuple[str, ...] = field(
        default=SEARCHABLE,
        metadata=_option(
            f"comma-separated optimizers to compare (default all: {','.join(SEARCHABLE)})",
            _names(SEARCHABLE),
            f"distinct names among {', '.join(SEARCHABLE)}",
            metavar="NAMES",
        ),
    )
    batch_sizes: tuple[int, ...] = field(
        default=(32, 64, 128, 256),
        metadata=_option(
            "comma-separated batch sizes to search (default 32,64,128,256)",
            _whole_list,
            "distinct whole numbers >= 1, e.g. 32,64,128",
            metavar="SIZES",
        ),
    )
    lr_ranges: Mapping[str, tuple[float, float]] = field(
        default_factory=dict,
        metadata=_option(
            "override an optimizer's log-uniform lr range, e.g. adam=1e-5:1e-2 (repeatable)",
            _lr_ranges,
            "NAME=LOW:HIGH with 0 < LOW < HIGH, once per optimizer",
            metavar="NAME=LOW:HIGH",
            flag="--lr-range",
            repeatable=True,
        ),
    )
    fixed: Mapping[str, float] = field(
        default_factory=dict,
        metadata=_option(
            "values the seed protocol trains with instead of the defaults, by Optuna parameter name, e.g. "
            "lr_adam=0.001 (repeatable; what a study's best.toml pins)",
            _fixed_params,
            "NAME=VALUE, NAME a searched parameter of a compared optimizer (lr_adam, momentum_momentum, ...)",
            metavar="PARAM=VALUE",
            flag="--fixed",
            repeatable=True,
        ),
    )
    defaults: str = field(
        default="torch",
        metadata=_choices(
            "defaults of the hyperparameters not searched: torch (PyTorch's) or keras (tf.keras 2.x)", CONVENTIONS
        ),
    )
    search_extras: bool = field(
        default=False,
        metadata=_switch("also search momentum (SGD family) and beta1/beta2 (Adam family)"),
    )
    sampler: str = field(
        default="tpe",
        metadata=_choices(
            "Optuna sampler: tpe, random, qmc (scrambled Sobol: even cover of a small budget) or gp (Gaussian process)",
            SAMPLERS,
        ),
    )
    pruner: str = field(
        default="median",
        metadata=_choices("Optuna pruner", PRUNERS),
    )
    seed: int = field(
        default=0, metadata=_seed("base seed: the sampler's seed, and each trial trains with seed + trial number")
    )
    split_seed: int = field(
        default=0,
        metadata=_seed(
            "seed of the train/validation split, fixed for a study (--seed moves the sampler, never the data)"
        ),
    )
    seeds: int = field(
        default=3,
        metadata=_count("seeds per optimizer for the seed protocol's runs and the tuned protocol's final retraining"),
    )
    device: str = field(
        default="auto",
        metadata=_choices("training device: auto (cuda when a GPU is visible), cpu or cuda", DEVICES),
    )
    precision: str = field(
        default="32-true",
        metadata=_choices("Lightning precision", PRECISIONS),
    )
    compile: str = field(
        default="none",
        metadata=_choices(
            "torch.compile the network: reduce-overhead adds CUDA graphs on a GPU (on this CPU compiling is slower: "
            "see the README's benchmark)",
            COMPILE_MODES,
        ),
    )
    fuse: str = field(
        default=FUSE_AUTO,
        metadata=_option(
            "trials claimed together and trained as one stack of networks when they share optimizer and batch "
            "size; auto: 1 on a CPU (where the benchmark shows stacking does not pay), 8 on a GPU (unmeasured)",
            _fuse,
            f"auto or a whole number from 1 to {MAX_FUSE}",
            metavar="K",
        ),
    )
    storage: str | None = field(
        default=None,
        metadata=_option(
            "Optuna storage URL (default $OPTUNA_STORAGE, else a journal file mlruns/optuna-journal.log, safe for "
            "several local processes)",
            _optional_text,
            "a journal file path, sqlite:///FILE, postgresql://... or mysql://...",
            metavar="URL",
        ),
    )
    tracking_uri: str = field(
        default="sqlite:///mlruns/mlflow.db",
        metadata=_option(
            "MLflow tracking URI: sqlite:///FILE, http(s):// of an MLflow server, or a database URL (default "
            "$MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db)",
            _text,
            "sqlite:///FILE, http(s)://HOST:PORT or postgresql://...",
            metavar="URI",
        ),
    )
    artifact_location: str | None = field(
        default=None,
        metadata=_option(
            "where a new MLflow experiment keeps its artifacts (default: beside a SQLite store; an MLflow "
            "server's own artifact root); required for a new experiment in a database such as PostgreSQL",
            _optional_text,
            "a URI such as file:///shared/artifacts or s3://bucket/path",
            metavar="URI",
        ),
    )
    experiment: str = field(
        default="optimizer-study",
        metadata=_option("MLflow experiment name", _text, "a non-empty name", metavar="NAME"),
    )
    workers: int = field(
        default=1,
        metadata=_count(
            "worker processes on this machine, each training one trial at a time (more processes, on this or other "
            "machines, may join the same study: see the README)"
        ),
    )
    threads_per_worker: int | None = field(
        default=None,
        metadata=_option(
            "torch threads of each worker (default: all cores for one worker, cores / N for --workers N)",
            _optional_whole,
            "a whole number >= 1",
            metavar="N",
        ),
    )
    heartbeat_seconds: float = field(
        default=10.0,
        metadata=_option(
            f"a running trial refreshes its heartbeat this often; one silent for {GRACE_BEATS} beats is failed and "
            "retried by another worker",
            _positive_seconds,
            "seconds > 0",
            metavar="SECONDS",
        ),
    )
    progress_bar: bool = field(default=False, metadata=_switch("show Lightning's progress bar in each trial"))
    report: bool = field(
        default=True,
        metadata=_switch("write the comparison report at the end (--no-report skips it)", flag="--no-report"),
    )

    def __post_init__(self) -> None:
        for name in FIELDS:  # a preset or dataclasses.replace must hold to the same rules as the command line
            parse_value(name, getattr(self, name))
        unused = sorted(set(self.lr_ranges) - set(self.optimizers))
        if unused:
            raise ConfigError(
                "--lr-range",
                f"got a range for {', '.join(unused)}, which --optimizers does not include; "
                f"accepted: ranges for {', '.join(self.optimizers)}",
            )
        pinned = sorted(name for name in self.fixed if name.rpartition("_")[2] not in self.optimizers)
        if pinned:
            raise ConfigError(
                "--fixed", f"got {', '.join(pinned)}; accepted: parameters of {', '.join(self.optimizers)}"
            )
        if self.fixed and self.protocol != SEED_PROTOCOL:
            raise ConfigError("--fixed", f"got values with --protocol {self.protocol}; accepted with --protocol seed")

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain data, store URLs with their secrets masked: this is what is shown and recorded."""
        out = dataclasses.asdict(self)
        for key in ("storage", "tracking_uri", "artifact_location"):
            if out[key] is not None:
                out[key] = mask_url(out[key])
        out["optimizers"] = list(self.optimizers)
        out["batch_sizes"] = list(self.batch_sizes)
        out["lr_ranges"] = {k: list(v) for k, v in self.lr_ranges.items()}
        out["fixed"] = dict(self.fixed)
        return out

    def lr_range(self, optimizer: str) -> tuple[float, float]:
        """The log-uniform learning-rate range searched for one optimizer."""
        return self.lr_ranges.get(optimizer, LR_RANGES[optimizer])

    @property
    def storage_url(self) -> str:
        return self.storage or "mlruns/optuna-journal.log"


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(StudyConfig)}

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
PROTOCOL_PRESETS: dict[str, dict[str, Any]] = {
    SEED_PROTOCOL: {
        "optimizers": ARTICLE_OPTIMIZERS,
        "defaults": "keras",
        "batch_sizes": (64,),
        "max_epochs": 10,
        "validate_on_test": True,
        "pruner": "none",
        "seeds": 1,
    },
    # A tuned sub-study has a handful of trials over lr x batch size: scrambled Sobol points found better
    # configurations than random or GP startup for equal trials (python -m study.bench.samplers; README).
    TUNED: {"sampler": "qmc"},
}


def option_of(name: str) -> Option:
    option = FIELDS[name].metadata["option"]
    assert isinstance(option, Option)
    return option


def flag_of(name: str) -> str:
    """How the user spells the field on the command line, e.g. ``--n-trials``."""
    return option_of(name).flag or "--" + name.replace("_", "-")


def parse_value(name: str, value: Any) -> Any:
    """One raw value (a command-line string or a TOML value) of field ``name``, parsed and checked."""
    option = option_of(name)
    try:
        return option.parse(value)
    except (TypeError, ValueError, OverflowError):
        shown = value if not isinstance(value, list) or not option.repeatable else " ".join(map(str, value))
        raise ConfigError(flag_of(name), f"got {shown!r}; accepted: {option.accepted}") from None


def config_from_mapping(values: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """Checks and converts raw values (TOML or parsed command line) into StudyConfig keyword arguments."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in FIELDS:
            accepted = ", ".join(sorted(k.replace("_", "-") for k in FIELDS))
            raise ConfigError(source, f"unknown option {key!r}; accepted: {accepted}")
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
    return config_from_mapping(raw, source=f"--config {path}")
