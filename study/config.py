"""The study's configuration: one frozen dataclass, filled from defaults, a TOML file and the command line.

Precedence is defaults < ``--config study.toml`` < command-line options. Every value is checked here, so a
bad option ends the run before anything is written to either store.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from optimizers.registry import CONVENTIONS, OPTIMIZER_NAMES, get_spec

__all__ = [
    "DATASETS",
    "DEVICES",
    "PRECISIONS",
    "PROTOCOLS",
    "PROTOCOL_PRESETS",
    "PRUNERS",
    "SAMPLERS",
    "ConfigError",
    "StudyConfig",
    "config_from_mapping",
]

DATASETS = ("mnist", "fashion-mnist", "cifar10")
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "hyperband", "none")
DEVICES = ("auto", "cpu", "cuda")
PROTOCOLS = ("search", "seed", "tuned")
# The article's six optimizers, in its table's order ("SGD with momentum" is our `momentum`).
ARTICLE_OPTIMIZERS = ("adadelta", "adagrad", "adam", "rmsprop", "momentum", "sgd")
# `--protocol seed` reruns the article: Keras defaults, batch 64, 10 epochs, validated on the test set.
PROTOCOL_PRESETS: dict[str, dict[str, Any]] = {
    "seed": {
        "optimizers": ARTICLE_OPTIMIZERS,
        "defaults": "keras",
        "batch_sizes": (64,),
        "max_epochs": 10,
        "validate_on_test": True,
        "pruner": "none",
        "timeout": None,
        "seeds": 1,
    },
    # A timeout could stop one optimizer's sub-study short and break the equal budget: none unless asked for.
    "tuned": {"timeout": None},
}
PRECISIONS = ("32-true", "64-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true")
NORMALIZATIONS = ("unit", "standard")


class ConfigError(ValueError):
    """A bad option: ``str(err)`` is the one-line message shown to the user."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


@dataclass(frozen=True)
class StudyConfig:
    # search: one adaptive Optuna search over every optimizer; seed: the article's defaults once per
    # optimizer; tuned: an equal trial budget per optimizer, then its best config retrained with --seeds seeds.
    protocol: str = "search"
    # Optuna study name; the MLflow parent run carries it too, so rerunning it continues both.
    study_name: str = "mnist-optimizers"
    # Trials to run in this invocation (search); with --protocol tuned, the trial budget of each optimizer.
    n_trials: int = 30
    # Stop starting new trials after this many seconds (None: no limit); a running trial finishes.
    timeout: float | None = 720.0
    # Training epochs per trial.
    max_epochs: int = 3
    # Dataset: mnist, fashion-mnist or cifar10.
    dataset: str = "mnist"
    # Folder holding <Dataset>/raw/ files (None: $OPTIMIZER_STUDY_DATA_DIR, else data/).
    data_dir: str | None = None
    # Train on the first N samples of the training split (None: all of it).
    train_size: int | None = None
    # Validate on the official test set, as the article did (the whole training set then trains).
    validate_on_test: bool = False
    # Input scaling: unit (x/255, the article's Keras preprocessing) or standard (mean/std).
    normalize: str = "unit"
    # Registry names searched over (default: every registered optimizer).
    optimizers: tuple[str, ...] = OPTIMIZER_NAMES
    # Batch sizes searched over.
    batch_sizes: tuple[int, ...] = (32, 64, 128, 256)
    # Per-optimizer learning-rate range overrides, name -> (low, high), searched log-uniformly.
    lr_ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # Which defaults fill the hyperparameters not searched: torch (PyTorch's) or keras (tf.keras 2.x).
    defaults: str = "torch"
    # Also search momentum (SGD family, RMSprop) and beta1/beta2 (Adam family).
    search_extras: bool = False
    # Optuna sampler: tpe or random.
    sampler: str = "tpe"
    # Optuna pruner: median, hyperband or none.
    pruner: str = "median"
    # Base seed: sampler seed, and each trial trains with seed + trial number.
    seed: int = 0
    # Seeds per optimizer for the final retraining (tuned) or the default-settings runs (seed).
    seeds: int = 3
    # Training device: auto (cuda when available), cpu or cuda.
    device: str = "auto"
    # Lightning precision, e.g. 32-true or bf16-mixed.
    precision: str = "32-true"
    # Optuna storage URL (None: a journal file under mlruns/, safe for several local processes).
    storage: str | None = None
    # MLflow tracking URI; any URI works, http:// included.
    tracking_uri: str = "sqlite:///mlruns/mlflow.db"
    # MLflow experiment name.
    experiment: str = "optimizer-study"
    # Show Lightning's per-trial progress bar.
    progress_bar: bool = False
    # Write the comparison report at the end (python -m study.report).
    report: bool = True

    def __post_init__(self) -> None:
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["optimizers"] = list(self.optimizers)
        out["batch_sizes"] = list(self.batch_sizes)
        out["lr_ranges"] = {k: list(v) for k, v in self.lr_ranges.items()}
        return out

    def lr_range(self, optimizer: str) -> tuple[float, float]:
        """The log-uniform learning-rate range searched for one optimizer."""
        return self.lr_ranges.get(optimizer, get_spec(optimizer).lr_range)

    @property
    def storage_url(self) -> str:
        return self.storage or "mlruns/optuna-journal.log"


FIELDS = {f.name: f for f in dataclasses.fields(StudyConfig)}


def _choice(option: str, value: object, accepted: tuple[str, ...]) -> None:
    if value not in accepted:
        raise ConfigError(option, f"got {value!r}; accepted: {', '.join(accepted)}")


def _validate(c: StudyConfig) -> None:
    if not c.study_name or not c.study_name.strip():
        raise ConfigError("--study-name", "must not be empty")
    _choice("--protocol", c.protocol, PROTOCOLS)
    if c.seeds < 1:
        raise ConfigError("--seeds", f"got {c.seeds}; accepted: a whole number >= 1")
    if c.n_trials < 1:
        raise ConfigError("--n-trials", f"got {c.n_trials}; accepted: a whole number >= 1")
    if c.timeout is not None and not (c.timeout > 0 and math.isfinite(c.timeout)):
        raise ConfigError("--timeout", f"got {c.timeout}; accepted: seconds > 0, or 'none'")
    if c.max_epochs < 1:
        raise ConfigError("--max-epochs", f"got {c.max_epochs}; accepted: a whole number >= 1")
    _choice("--dataset", c.dataset, DATASETS)
    if c.train_size is not None and c.train_size < 1:
        raise ConfigError("--train-size", f"got {c.train_size}; accepted: a whole number >= 1")
    _choice("--normalize", c.normalize, NORMALIZATIONS)
    if not c.optimizers:
        raise ConfigError("--optimizers", f"empty; accepted: {', '.join(OPTIMIZER_NAMES)}")
    for name in c.optimizers:
        _choice("--optimizers", name, OPTIMIZER_NAMES)
    if len(set(c.optimizers)) != len(c.optimizers):
        raise ConfigError("--optimizers", "lists an optimizer twice")
    if not c.batch_sizes or any(b < 1 for b in c.batch_sizes):
        raise ConfigError("--batch-sizes", f"got {list(c.batch_sizes)}; accepted: whole numbers >= 1")
    for name, (low, high) in c.lr_ranges.items():
        _choice("--lr-range", name, OPTIMIZER_NAMES)
        if not (0 < low < high and math.isfinite(high)):
            raise ConfigError("--lr-range", f"{name}={low}:{high}; accepted: NAME=LOW:HIGH with 0 < LOW < HIGH")
    _choice("--defaults", c.defaults, CONVENTIONS)
    _choice("--sampler", c.sampler, SAMPLERS)
    _choice("--pruner", c.pruner, PRUNERS)
    _choice("--device", c.device, DEVICES)
    _choice("--precision", c.precision, PRECISIONS)
    if not c.tracking_uri:
        raise ConfigError("--tracking-uri", "must not be empty")
    if not c.experiment:
        raise ConfigError("--experiment", "must not be empty")


def config_from_mapping(values: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """Checks and converts raw values (TOML or parsed CLI) into StudyConfig keyword arguments."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        option = "--" + name.replace("_", "-")
        if name not in FIELDS:
            accepted = ", ".join(sorted(k.replace("_", "-") for k in FIELDS))
            raise ConfigError(source, f"unknown option {key!r}; accepted: {accepted}")
        out[name] = _convert(name, option, value)
    return out


def _convert(name: str, option: str, value: Any) -> Any:
    try:
        if name in ("optimizers",):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(s).strip() for s in items if str(s).strip())
        if name == "batch_sizes":
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(int(s) for s in items if str(s).strip())
        if name == "lr_ranges":
            return _lr_ranges(value)
        if name == "timeout":
            if value is None or (isinstance(value, str) and value.lower() in ("none", "0", "")):
                return None
            return float(value)
        if name in ("n_trials", "max_epochs", "seed", "seeds"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if name == "train_size":
            return None if value in (None, "none", "all", 0, "0") else int(value)
        if name in ("validate_on_test", "search_extras", "progress_bar", "report"):
            if isinstance(value, bool):
                return value
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(option, f"cannot read {value!r}") from None
    return value


def _lr_ranges(value: Any) -> dict[str, tuple[float, float]]:
    """Accepts {"adam": [1e-5, 1e-2]} (TOML) or ["adam=1e-5:1e-2", ...] (command line)."""
    if isinstance(value, Mapping):
        pairs = {str(k): tuple(v) for k, v in value.items()}
    else:
        pairs = {}
        for item in value:
            name, _, rng = str(item).partition("=")
            low, _, high = rng.partition(":")
            if not name or not low or not high:
                raise ConfigError("--lr-range", f"{item!r}; accepted: NAME=LOW:HIGH, e.g. adam=1e-5:1e-2")
            pairs[name.strip()] = (low, high)
    out: dict[str, tuple[float, float]] = {}
    for name, rng in pairs.items():
        if len(rng) != 2:
            raise ConfigError("--lr-range", f"{name}: needs two numbers LOW:HIGH")
        try:
            out[name] = (float(rng[0]), float(rng[1]))
        except (TypeError, ValueError):
            raise ConfigError("--lr-range", f"{name}={rng[0]}:{rng[1]}: not numbers") from None
    return out


def read_toml(path: str) -> dict[str, Any]:
    """Reads a study TOML file: top-level keys named like the options (dashes or underscores)."""
    try:
        with Path(path).open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("--config", f"no such file: {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("--config", f"{path} is not valid TOML ({err})") from None
    if "lr_range" in raw and "lr_ranges" not in raw:
        raw["lr_ranges"] = raw.pop("lr_range")
    return config_from_mapping(raw, source=f"--config {path}")
