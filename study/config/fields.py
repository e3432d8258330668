"""The study's options: one frozen dataclass whose fields carry their own help, parser and accepted values.

Every value is checked when a ``StudyConfig`` is made (a preset or ``dataclasses.replace`` included): a bad one
raises :class:`ConfigError`, whose text is the one line the user sees (the option, the value, what is accepted).
The command line (``study.config.cli``) is generated from the fields, so a new option is one field. A field
marked ``defines`` changes what a trial means: it is fixed when the study is created (``study.config.definition``).

This module imports neither torch nor Optuna nor MLflow: ``--help`` and bad input answer at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from study.config import parsers
from study.config.errors import ConfigError
from study.schema import (
    CONSTANT_SCHEDULE,
    CONVENTIONS,
    DEFAULT_OPTIMIZERS,
    GRACE_BEATS,
    PROTOCOLS,
    SCHEDULES,
    SEARCH,
    SEARCHABLE,
    SEED_PROTOCOL,
    STACKABLE,
    VAL_ACC,
    VAL_LOSS,
    Objective,
    param_optimizer,
)
from study.secrets import mask_url

__all__ = [
    "COMPILE_MODES",
    "DATASETS",
    "DEFAULT_STORAGE",
    "DEVICES",
    "FIELDS",
    "FUSE_AUTO",
    "MAX_FUSE",
    "MAX_SEED",
    "NORMALIZATIONS",
    "PRECISIONS",
    "PRUNERS",
    "SAMPLERS",
    "Option",
    "StudyConfig",
    "flag_of",
    "option_of",
    "parse_value",
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
DEFAULT_STORAGE = "mlruns/optuna-journal.log"  # a journal file: safe for several local processes
AUTO_DIRECTION = "auto"
DIRECTIONS = (AUTO_DIRECTION, "maximize", "minimize")
MAX_HEARTBEAT_SECONDS = 600.0  # a dead worker's trial is retried within GRACE_BEATS x this: 50 minutes at most
# Optimizers whose method replaces a learning-rate schedule: Schedule-Free AdamW (Defazio et al. 2024).
UNSCHEDULED = ("schedulefree_adamw",)


def _fuse(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() == FUSE_AUTO:
        return FUSE_AUTO
    return str(parsers.whole(1, MAX_FUSE)(value))


@dataclass(frozen=True)
class Option:
    """How one field is given, read and explained: the single home of its help text and accepted values."""

    help: str
    parse: Callable[[Any], Any]
    accepted: str  # what the error line says is accepted
    metavar: str | None = None
    flag: str | None = None  # the command-line spelling when it is not --<field-name>, e.g. --no-report
    repeatable: bool = False  # given once per item on the command line (--lr-range)
    defines: bool = False  # changes what a trial means: fixed when the study is created


def _option(help: str, parse: Callable[[Any], Any], accepted: str, **kw: Any) -> dict[str, Option]:
    return {"option": Option(help, parse, accepted, **kw)}


def _choices(help: str, choices: tuple[str, ...], **kw: Any) -> dict[str, Option]:
    return _option(help, parsers.choice(choices), ", ".join(choices), metavar="{" + ",".join(choices) + "}", **kw)


def _count(help: str, **kw: Any) -> dict[str, Option]:
    return _option(help, parsers.whole(1), "a whole number >= 1", metavar="N", **kw)


def _seed(help: str, **kw: Any) -> dict[str, Option]:
    return _option(help, parsers.whole(0, MAX_SEED), f"a whole number from 0 to {MAX_SEED}", metavar="N", **kw)


def _switch(help: str, flag: str | None = None, **kw: Any) -> dict[str, Option]:
    return _option(help, parsers.flag, "true or false", flag=flag, **kw)


@dataclass(frozen=True)
class StudyConfig:
    protocol: str = field(
        default=SEARCH,
        metadata=_choices(
            "search: one adaptive search over every optimizer; seed: the article's defaults once per optimizer; "
            "tuned: an equal budget per optimizer, then its best configuration retrained with --seeds seeds",
            PROTOCOLS,
            defines=True,
        ),
    )
    study_name: str = field(
        default="mnist-optimizers",
        metadata=_option(
            "the study's name: its Optuna study and its MLflow parent run (run a name again to continue that study)",
            parsers.study_name,
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
            parsers.seconds_or_none,
            "seconds > 0, or 'none'",
            metavar="SECONDS",
        ),
    )
    max_epochs: int = field(default=3, metadata=_count("training epochs per trial", defines=True))
    dataset: str = field(
        default="mnist",
        metadata=_choices(
            "the dataset trained and validated on (unless --data gives your own)", DATASETS, defines=True
        ),
    )
    model: str | None = field(
        default=None,
        metadata=_option(
            "your network: MODULE:CALLABLE, a module to import or a path to a .py file and a callable in it, returning "
            "an nn.Module (trained as a classifier) or a LightningModule (its own loss and metrics), called with "
            "input_shape and num_classes when it takes them (default: the article's CNN)",
            parsers.reference,
            "MODULE:CALLABLE, e.g. examples/resnet.py:build or mypackage.nets:build",
            metavar="MODULE:CALLABLE",
            defines=True,
        ),
    )
    model_args: Mapping[str, Any] = field(
        default_factory=dict,
        metadata=_option(
            "a keyword argument of --model's callable, KEY=VALUE (repeatable; a TOML [model_args] table)",
            parsers.keyword_args,
            "KEY=VALUE once per KEY, KEY a Python name",
            metavar="KEY=VALUE",
            flag="--model-arg",
            repeatable=True,
            defines=True,
        ),
    )
    data: str | None = field(
        default=None,
        metadata=_option(
            "your data: MODULE:CALLABLE returning a LightningDataModule or datasets (train, validation[, test]), "
            "called with batch_size, seed and data_dir when it takes them (default: --dataset)",
            parsers.reference,
            "MODULE:CALLABLE, e.g. examples/fashion.py:data",
            metavar="MODULE:CALLABLE",
            defines=True,
        ),
    )
    data_args: Mapping[str, Any] = field(
        default_factory=dict,
        metadata=_option(
            "a keyword argument of --data's callable, KEY=VALUE (repeatable; a TOML [data_args] table)",
            parsers.keyword_args,
            "KEY=VALUE once per KEY, KEY a Python name",
            metavar="KEY=VALUE",
            flag="--data-arg",
            repeatable=True,
            defines=True,
        ),
    )
    metric: str = field(
        default=VAL_ACC,
        metadata=_option(
            "what a trial is scored by: a metric the model logs at the end of each validation, its best epoch "
            f"counting (default {VAL_ACC}; {VAL_LOSS} and other losses are minimized)",
            parsers.metric_name,
            "a logged metric's name, such as val/acc or val/loss",
            metavar="NAME",
            defines=True,
        ),
    )
    direction: str = field(
        default=AUTO_DIRECTION,
        metadata=_choices(
            "maximize or minimize --metric; auto: minimize a name ending in loss, maximize any other",
            DIRECTIONS,
            defines=True,
        ),
    )
    data_dir: str | None = field(
        default=None,
        metadata=_option(
            "folder holding <Dataset>/raw/ (default $OPTIMIZER_STUDY_DATA_DIR, else data/)",
            parsers.optional_text,
            "a folder path",
            metavar="DIR",
        ),
    )
    train_size: int | None = field(
        default=None,
        metadata=_option(
            "train on the first N samples of the training split, or 'all'",
            parsers.size_or_all,
            "a whole number >= 1, or 'all'",
            metavar="N",
            defines=True,
        ),
    )
    validate_on_test: bool = field(
        default=False,
        metadata=_switch(
            "validate on the official test set, as the article did (the whole training set then trains)", defines=True
        ),
    )
    normalize: str = field(
        default="unit",
        metadata=_choices(
            "input scaling: unit (x/255, the article's Keras preprocessing) or standard (mean/std)",
            NORMALIZATIONS,
            defines=True,
        ),
    )
    optimizers: tuple[str, ...] = field(
        default=DEFAULT_OPTIMIZERS,
        metadata=_option(
            f"comma-separated optimizers to compare, among {', '.join(SEARCHABLE)} (default: the "
            f"{len(DEFAULT_OPTIMIZERS)} of the article's era, {DEFAULT_OPTIMIZERS[0]} to {DEFAULT_OPTIMIZERS[-1]})",
            parsers.names(SEARCHABLE),
            f"distinct names among {', '.join(SEARCHABLE)}",
            metavar="NAMES",
            defines=True,
        ),
    )
    batch_sizes: tuple[int, ...] = field(
        default=(32, 64, 128, 256),
        metadata=_option(
            "comma-separated batch sizes to search (default 32,64,128,256)",
            parsers.whole_list,
            "distinct whole numbers >= 1, e.g. 32,64,128",
            metavar="SIZES",
            defines=True,
        ),
    )
    lr_ranges: Mapping[str, tuple[float, float]] = field(
        default_factory=dict,
        metadata=_option(
            "override an optimizer's log-uniform lr range, e.g. adam=1e-5:1e-2 (repeatable)",
            parsers.lr_ranges,
            "NAME=LOW:HIGH with 0 < LOW < HIGH, once per optimizer",
            metavar="NAME=LOW:HIGH",
            flag="--lr-range",
            repeatable=True,
            defines=True,
        ),
    )
    fixed: Mapping[str, float] = field(
        default_factory=dict,
        metadata=_option(
            "values the seed protocol trains with instead of the defaults, by Optuna parameter name, e.g. "
            "lr_adam=0.001 (repeatable; what a study's best.toml pins)",
            parsers.pinned_values,
            "NAME=VALUE, NAME a searched parameter of a compared optimizer (lr_adam, momentum_momentum, ...)",
            metavar="PARAM=VALUE",
            flag="--fixed",
            repeatable=True,
            defines=True,
        ),
    )
    defaults: str = field(
        default="torch",
        metadata=_choices(
            "defaults of the hyperparameters not searched: torch (PyTorch's) or keras (tf.keras 2.x)",
            CONVENTIONS,
            defines=True,
        ),
    )
    search_extras: bool = field(
        default=False,
        metadata=_switch("also search momentum (SGD family) and beta1/beta2 (Adam family)", defines=True),
    )
    schedule: str = field(
        default=CONSTANT_SCHEDULE,
        metadata=_choices(
            "the learning-rate schedule over each trial's steps: constant (the article's), cosine, linear or wsd "
            "(warm-up, stable, then a linear decay over the last fifth)",
            SCHEDULES,
            defines=True,
        ),
    )
    warmup: float = field(
        default=0.0,
        metadata=_option(
            "the fraction of each trial's steps over which the learning rate warms up linearly from 0",
            parsers.fraction,
            "a number from 0 up to (not including) 1",
            metavar="FRACTION",
            defines=True,
        ),
    )
    search_schedule: bool = field(
        default=False,
        metadata=_switch(
            "also search the schedule (cosine, linear, wsd or constant) and its warm-up (0 to 0.3 of the steps)",
            defines=True,
        ),
    )
    sampler: str = field(
        default="tpe",
        metadata=_choices(
            "Optuna sampler: tpe, random, qmc (scrambled Sobol: even cover of a small budget) or gp (Gaussian process)",
            SAMPLERS,
            defines=True,
        ),
    )
    pruner: str = field(
        default="median",
        metadata=_choices("Optuna pruner", PRUNERS, defines=True),
    )
    seed: int = field(
        default=0,
        metadata=_seed("base seed: the sampler's seed, and each trial trains with seed + trial number", defines=True),
    )
    split_seed: int = field(
        default=0,
        metadata=_seed(
            "seed of the train/validation split, fixed for a study (--seed moves the sampler, never the data)",
            defines=True,
        ),
    )
    seeds: int = field(
        default=3,
        metadata=_count(
            "seeds per optimizer for the seed protocol's runs and the tuned protocol's final retraining", defines=True
        ),
    )
    device: str = field(
        default="auto",
        metadata=_choices("training device: auto (cuda when a GPU is visible), cpu or cuda", DEVICES),
    )
    precision: str = field(
        default="32-true",
        metadata=_choices("Lightning precision", PRECISIONS, defines=True),
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
            parsers.optional_text,
            "a journal file path, sqlite:///FILE, postgresql://... or mysql://...",
            metavar="URL",
        ),
    )
    tracking_uri: str = field(
        default="sqlite:///mlruns/mlflow.db",
        metadata=_option(
            "MLflow tracking URI: sqlite:///FILE, http(s):// of an MLflow server, or a database URL (default "
            "$MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db)",
            parsers.text,
            "sqlite:///FILE, http(s)://HOST:PORT or postgresql://...",
            metavar="URI",
        ),
    )
    artifact_location: str | None = field(
        default=None,
        metadata=_option(
            "where a new MLflow experiment keeps its artifacts (default: beside a SQLite store; an MLflow "
            "server's own artifact root); required for a new experiment in a database such as PostgreSQL",
            parsers.optional_text,
            "a URI such as file:///shared/artifacts or s3://bucket/path",
            metavar="URI",
        ),
    )
    experiment: str = field(
        default="optimizer-study",
        metadata=_option("MLflow experiment name", parsers.text, "a non-empty name", metavar="NAME"),
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
            parsers.optional_whole,
            "a whole number >= 1",
            metavar="N",
        ),
    )
    heartbeat_seconds: float = field(
        default=10.0,
        metadata=_option(
            f"a running trial refreshes its heartbeat this often; one silent for {GRACE_BEATS} beats is failed and "
            "retried by another worker",
            parsers.positive_seconds_up_to(MAX_HEARTBEAT_SECONDS),
            f"seconds > 0, at most {MAX_HEARTBEAT_SECONDS:g} (a silent trial is retried after {GRACE_BEATS} beats)",
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
        pinned = sorted(name for name in self.fixed if param_optimizer(name) not in self.optimizers)
        if pinned:
            raise ConfigError(
                "--fixed", f"got {', '.join(pinned)}; accepted: parameters of {', '.join(self.optimizers)}"
            )
        if self.fixed and self.protocol != SEED_PROTOCOL:
            raise ConfigError("--fixed", f"got values with --protocol {self.protocol}; accepted with --protocol seed")
        for args, owner in ((self.model_args, "model"), (self.data_args, "data")):
            if args and getattr(self, owner) is None:
                raise ConfigError(
                    flag_of(f"{owner}_args"), f"got {dict(args)} without --{owner}; accepted: with --{owner}"
                )
        scheduled = self.schedule != CONSTANT_SCHEDULE or self.warmup > 0 or self.search_schedule
        unscheduled = [name for name in self.optimizers if name in UNSCHEDULED]
        if scheduled and unscheduled:
            option = "--search-schedule" if self.search_schedule else "--schedule" if self.warmup == 0 else "--warmup"
            raise ConfigError(
                option,
                f"got a schedule ({self.schedule}, warm-up {self.warmup:g}) with {', '.join(unscheduled)}, whose "
                "averaging replaces a schedule (Defazio et al. 2024); "
                "accepted: --schedule constant and --warmup 0 with it, or compare it in a study of its own",
            )
        unstacked = [name for name in self.optimizers if name not in STACKABLE]
        if self.fuse not in (FUSE_AUTO, "1") and unstacked:
            raise ConfigError(
                "--fuse",
                f"got {self.fuse} with {', '.join(unstacked)}, which has no stacked form (its state is per matrix or "
                "global, or not written for a stack); accepted: auto or 1, or --optimizers among "
                + ", ".join(STACKABLE),
            )
        if self.model is not None and self.fuse not in (FUSE_AUTO, "1"):
            raise ConfigError(
                "--fuse",
                f"got {self.fuse} with --model; accepted: auto or 1 (a stack is built from the article's CNN only)",
            )

    @property
    def maximize(self) -> bool:
        """Whether a larger ``metric`` is better."""
        if self.direction == AUTO_DIRECTION:
            return not self.metric.endswith("loss")
        return self.direction == "maximize"

    @property
    def objective(self) -> Objective:
        """What a trial is scored by: ``metric`` at its best epoch, maximized or minimized."""
        return Objective(self.metric, self.maximize)

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
        out["model_args"] = dict(self.model_args)
        out["data_args"] = dict(self.data_args)
        return out

    @property
    def storage_url(self) -> str:
        return self.storage or DEFAULT_STORAGE


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(StudyConfig)}


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
    except (TypeError, ValueError, OverflowError) as err:
        shown = value if not isinstance(value, list) or not option.repeatable else " ".join(map(str, value))
        hint = f" ({err})" if isinstance(err, parsers.Hint) else ""
        raise ConfigError(flag_of(name), f"got {shown!r}{hint}; accepted: {option.accepted}") from None
