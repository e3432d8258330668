"""How the study's trials were defined and how they ran: every setting the report states, read from its records.

A study records its definition when it is created (``study.config.definition``): the options that define its
trials, as flat strings (``max_epochs = "10"``, ``batch_sizes = "[64]"``, ``lr_ranges.adam = "[1e-05, 0.01]"``) on
every Optuna study of it, the same values as the MLflow parent run's ``config.*`` params. ``Definition`` reads them
back under the configuration's own field names. ``Setting`` is what the report says: each value from the trials'
records where they hold it (what ran), else from the definition (what was asked), else unknown; never a constant
of a protocol, which a user's options may have changed (``--protocol seed --max-epochs 1``).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from study.report.records import StudyData, by_optimizer
from study.schema import (
    COMPLETE,
    DATASET,
    DEFAULTS,
    MAX_EPOCHS,
    PRUNED,
    SEED_PROTOCOL,
    TRAIN_SAMPLES,
    VALIDATE_ON_TEST,
)

__all__ = ["Definition", "Setting", "setting_of"]

_READ = "read"  # a field's metadata: how its one recorded string is read
_ENTRIES = "entries"  # a mapping field's: how each of its dotted entries (``fixed.lr_adam``) is read


def _literal(text: str | None) -> Any:
    """The Python value a recorded string spells (``"[64]"``, ``"True"``, ``"None"``), else the string itself."""
    if text is None:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _text(text: str | None) -> str | None:
    value = _literal(text)
    return None if value is None else str(value)


def _int(text: str | None) -> int | None:
    value = _literal(text)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool(text: str | None) -> bool | None:
    value = _literal(text)
    return value if isinstance(value, bool) else None


def _float(text: str | None) -> float | None:
    value = _literal(text)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _texts(text: str | None) -> tuple[str, ...] | None:
    value = _literal(text)
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else None


def _ints(text: str | None) -> tuple[int, ...] | None:
    value = _literal(text)
    if not isinstance(value, list | tuple) or not all(isinstance(v, int) for v in value):
        return None
    return tuple(value)


def _range(text: str | None) -> tuple[float, float] | None:
    value = _literal(text)
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        return float(value[0]), float(value[1])
    return None


def _read(read: Callable[[str | None], Any]) -> Any:
    return field(default=None, metadata={_READ: read})


def _entries(read: Callable[[str | None], Any]) -> Any:
    return field(default_factory=dict, metadata={_ENTRIES: read})


@dataclass(frozen=True)
class Definition:
    """The recorded definition, typed. Each field is named as the ``StudyConfig`` field it records (a test holds
    them to ``study.config.definition.DEFINING``); None: not recorded (a study from before definitions were)."""

    protocol: str | None = _read(_text)
    dataset: str | None = _read(_text)
    max_epochs: int | None = _read(_int)
    train_size: int | None = _read(_int)  # None also when the whole training split trains
    validate_on_test: bool | None = _read(_bool)
    optimizers: tuple[str, ...] | None = _read(_texts)
    batch_sizes: tuple[int, ...] | None = _read(_ints)
    defaults: str | None = _read(_text)
    sampler: str | None = _read(_text)
    pruner: str | None = _read(_text)
    seed: int | None = _read(_int)
    split_seed: int | None = _read(_int)
    seeds: int | None = _read(_int)
    metric: str | None = _read(_text)  # what a trial's value is: its best epoch's value of this metric
    lr_ranges: Mapping[str, tuple[float, float] | None] = _entries(_range)
    fixed: Mapping[str, float | None] = _entries(_float)

    @classmethod
    def read(cls, flat: Mapping[str, str]) -> Definition:
        """The definition in ``flat``, the form ``study.config.definition.definition`` records."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if _ENTRIES in f.metadata:
                prefix = f.name + "."
                entries = {k.removeprefix(prefix): v for k, v in flat.items() if k.startswith(prefix)}
                values[f.name] = {k: f.metadata[_ENTRIES](v) for k, v in entries.items()}
            else:
                values[f.name] = f.metadata[_READ](flat.get(f.name))
        return cls(**values)


@dataclass(frozen=True)
class Setting:
    """What the report states about how the trials ran."""

    protocol: str
    optimizers: tuple[str, ...]  # those the study asked for (the definition), else those that ran
    dataset: str | None
    train_samples: tuple[int, ...]  # training images per epoch, as the trials' runs recorded them (one value, usually)
    validate_on_test: bool | None
    split_seed: int | None
    max_epochs: int | None  # epochs per trial (a pruner may stop a searched trial before): asked, else as trained
    batch_sizes: tuple[int, ...]  # searched, or the seed protocol's fixed one as its trials ran it
    defaults: str | None  # the convention of the hyperparameters not searched
    fixed: Mapping[str, float | None]  # values pinned by --fixed (a best.toml's)
    sampler: str | None
    pruner: str | None
    base_seed: int | None  # --seed: a searched trial trains with base seed + its number
    seeds_asked: int | None  # --seeds: per optimizer, for the repeated configurations
    seeds: Mapping[str, tuple[int, ...]]  # optimizer -> the seeds its completed repeated trials ran (seed, tuned)
    search_trials: Mapping[str, int]  # optimizer -> its searched trials that ran to an end (completed or pruned)

    @property
    def shared_seeds(self) -> tuple[int, ...] | None:
        """The seeds when every optimizer ran the same ones (a paired design); None when they differ or none ran."""
        found = set(self.seeds.values())
        return found.pop() if len(found) == 1 else None


def _distinct(values: Sequence[str | None]) -> list[str]:
    return sorted({v for v in values if v is not None})


def _one(values: Sequence[str | None]) -> str | None:
    """The value the trials agree on; None when none recorded it or they differ (the definition answers then)."""
    found = _distinct(values)
    return found[0] if len(found) == 1 else None


def _observed_ints(values: Sequence[str | None]) -> tuple[int, ...]:
    return tuple(sorted({n for v in values if (n := _int(v)) is not None}))


def _trained(data: StudyData) -> int | None:
    """The epochs the completed trials trained (what a study that recorded no epochs ran: none was pruned)."""
    return max((t.epochs for t in data.main_trials if t.state == COMPLETE and t.epochs), default=None)


def setting_of(data: StudyData) -> Setting:
    """The settings of ``data``: the trials' own records first, then the study's recorded definition."""
    d = Definition.read(data.definition)
    params = [t.params for t in data.trials if t.params]
    on_test = _bool(_one([p.get(VALIDATE_ON_TEST) for p in params]))
    epochs = _int(_one([p.get(MAX_EPOCHS) for p in params]))
    repeats = [t for t in data.repeat_trials if t.state == COMPLETE]
    if data.protocol == SEED_PROTOCOL and repeats:  # one fixed configuration: the batch it ran with
        batches = tuple(sorted({t.batch_size for t in repeats if t.batch_size is not None}))
    else:
        batches = d.batch_sizes or tuple(sorted({t.batch_size for t in data.search_trials if t.batch_size}))
    ended = (COMPLETE, PRUNED)
    searched = by_optimizer(data.search_trials)
    return Setting(
        protocol=data.protocol,
        optimizers=d.optimizers or tuple(by_optimizer(data.trials)),
        dataset=_one([p.get(DATASET) for p in params]) or d.dataset,
        train_samples=_observed_ints([p.get(TRAIN_SAMPLES) for p in params]),
        validate_on_test=on_test if on_test is not None else d.validate_on_test,
        split_seed=d.split_seed,
        max_epochs=epochs if epochs is not None else d.max_epochs if d.max_epochs is not None else _trained(data),
        batch_sizes=batches,
        defaults=_one([p.get(DEFAULTS) for p in params]) or d.defaults,
        fixed=d.fixed,
        sampler=d.sampler,
        pruner=d.pruner,
        base_seed=d.seed,
        seeds_asked=d.seeds,
        seeds={n: tuple(sorted({t.seed for t in ts if t.seed is not None})) for n, ts in by_optimizer(repeats).items()},
        search_trials={name: sum(t.state in ended for t in ts) for name, ts in searched.items()},
    )
