"""A study is one experiment: the options that define its trials, recorded when it is created, and the check that
refuses a process joining it with others.

Every field marked ``defines`` (protocol, dataset, split, train size, normalisation, epochs, optimizers, their
lr ranges and fixed values, batch sizes, the defaults' convention, the extras, sampler and seed, pruner, seeds,
precision) changes what a trial means: trials run with other values are another experiment, and mixing them in
one study would make its comparison a lie. The definition is kept as MLflow keeps params (flat strings, nested
mappings as dotted keys), so the one written to the Optuna study and the one in the parent run's ``config.*``
params compare alike. What may change from one run to the next: the budget, the workers and their threads, the
heartbeat, the timeout, the device, compiling and fusing, the data folder, the report, the verbosity and the
stores' addresses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from study.config.errors import ConfigError
from study.config.fields import FIELDS, StudyConfig, flag_of, option_of

__all__ = [
    "DEFINING",
    "IDENTITY",
    "RERUNNABLE",
    "definition",
    "differences",
    "flatten_params",
    "refuse_other_definition",
]

DEFINING = tuple(name for name in FIELDS if option_of(name).defines)
# Where the study lives and what it is called: the same study is found by them, so they are not "changed" options.
IDENTITY = ("study_name", "storage", "tracking_uri", "artifact_location", "experiment")
RERUNNABLE = tuple(name for name in FIELDS if not option_of(name).defines and name not in IDENTITY)
_MAX_SHOWN = 60  # characters of a value shown in the refusal


def flatten_params(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """MLflow params are strings: nested mappings become dotted keys, sequences their repr."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.update(flatten_params(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = str(value)[:6000]
    return out


CODE = "code"  # the definition's entries for the task's own files: code.model, code.data (their SHA-256)


def definition(config: StudyConfig, code: Mapping[str, str] | None = None) -> dict[str, str]:
    """The options that define the study's trials, flattened as MLflow params (``lr_ranges.adam``, ...), and a
    digest of the files of a task of the user's (``code``: ``{"model": ..., "data": ...}``)."""
    values = config.to_dict()
    out = flatten_params({name: values[name] for name in DEFINING})
    out.update(flatten_params({CODE: dict(code or {})}))
    return out


def differences(recorded: Mapping[str, str], given: Mapping[str, str]) -> list[tuple[str, str | None, str | None]]:
    """``(field, recorded value, given value)`` for each defining option that differs (None: not set)."""
    out = []
    order = (*DEFINING, CODE)
    for key in sorted(set(recorded) | set(given), key=lambda k: (order.index(k.split(".")[0]), k)):
        if recorded.get(key) != given.get(key):
            out.append((key, recorded.get(key), given.get(key)))
    return out


def _shown(value: str | None) -> str:
    if value is None:
        return "(none)"
    return repr(value if len(value) <= _MAX_SHOWN else value[: _MAX_SHOWN - 3] + "...")


def refuse_other_definition(
    study_name: str,
    recorded: Mapping[str, str],
    config: StudyConfig,
    code: Mapping[str, str] | None = None,
    *,
    only_recorded: bool = False,
) -> None:
    """Raises ConfigError, one line naming every differing option with the recorded and the given value, when
    ``config`` does not define the same trials as study ``study_name`` was created with. ``only_recorded``: the
    record predates some options (a study from an earlier version): compare those it holds."""
    recorded = {k: v for k, v in recorded.items() if k.split(".")[0] in (*DEFINING, CODE)}
    given = definition(config, code)
    if only_recorded:
        given = {k: v for k, v in given.items() if k in recorded}
    diff = differences(recorded, given)
    if not diff:
        return
    flags = list(dict.fromkeys(_flag(key) for key, _, _ in diff))
    items = "; ".join(
        f"{_flag(key)}{_entry(key)} got {_shown(given)}, recorded {_shown(old)}" for key, old, given in diff
    )
    rerunnable = ", ".join(flag_of(name) for name in RERUNNABLE)
    raise ConfigError(
        ", ".join(flags),
        f"study {study_name!r} was created with other values ({items}); accepted: the recorded values, or a new "
        f"--study-name for a new experiment (between runs of one study only {rerunnable} may change)",
    )


def _flag(key: str) -> str:
    """The option a definition entry comes from: ``--lr-range`` for ``lr_ranges.adam``, ``--model`` for
    ``code.model`` (its file)."""
    head, _, rest = key.partition(".")
    return flag_of(rest if head == CODE else head)


def _entry(key: str) -> str:
    """``[adam]`` of ``lr_ranges.adam``: which entry of a mapping option differs; `` (its file)`` for code."""
    head, dot, rest = key.partition(".")
    if head == CODE:
        return " (its file's SHA-256)"
    return f"[{rest}]" if dot else ""
