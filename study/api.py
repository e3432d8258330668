"""``study.compare``: the same study from Python (a notebook, a script) as from the command line.

    from study import compare

    results = compare(model="examples/mlp.py:build", data="examples/mlp.py:data", n_trials=8, max_epochs=2)
    print(results.best, results.report)

Every option of ``python -m study.run`` is a keyword (``n_trials=8``, ``optimizers=["adam", "sgd"]``,
``lr_ranges={"adam": (1e-5, 1e-2)}``, ``model_args={"width": 32}``); ``model`` and ``data`` take
``"MODULE:CALLABLE"`` or the callable itself (one defined in an importable module or in a ``.py`` file: the study's
workers import it again, and its file is part of the study's definition). The engine is the command line's: the
same checks (a bad value raises ``StudyInputError``, whose text is the command line's one line, before anything is
written), the same stores, records, report and exported winner. ``quiet=True`` prints nothing.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.config import PROTOCOL_PRESETS, ConfigError, StudyConfig, config_from_mapping, environment_options
from study.config.cli import Command, command_line_of
from study.config.console import NORMAL, QUIET, setup_logging
from study.secrets import remember
from study.workers.interrupts import Interrupts
from study.workers.preflight import preflight

__all__ = ["Best", "Results", "StudyInputError", "compare"]


class StudyInputError(ConfigError):
    """Bad input to ``compare``: ``str(err)`` names the option, the value and what is accepted. Nothing was written."""


@dataclass(frozen=True)
class Best:
    """The study's best trial (in the protocol's main study) and the configuration it trained with."""

    optimizer: str
    lr: float | None
    batch_size: int | None
    value: float  # the objective's metric at its best epoch
    trial: int
    study: str


@dataclass(frozen=True)
class Results:
    """What a study answered: its best trial, a row per optimizer, and where the report and the winner went."""

    study_name: str
    metric: str
    exit_code: int  # 0, 1 (no trial completed), 130/143 (interrupted): as the command line's
    best: Best | None
    optimizers: list[Mapping[str, Any]] = field(default_factory=list)  # per optimizer: counts, best value, lr, batch
    report: Path | None = None
    best_toml: Path | None = None
    checkpoint: Path | None = None


def _reference(option: str, given: str | Callable[..., Any] | None) -> str | None:
    """``MODULE:CALLABLE`` for a callable: its module if importable, else its file."""
    if given is None or isinstance(given, str):
        return given
    name = getattr(given, "__qualname__", "")
    module = getattr(given, "__module__", "")
    if module and module != "__main__" and "<locals>" not in name:
        return f"{module}:{name}"
    source = inspect.getsourcefile(given)
    if source is None or not Path(source).is_file() or "<locals>" in name:
        raise StudyInputError(
            option,
            f"got {given!r}, which the study's workers cannot import again (defined in a notebook cell or inside a "
            "function); accepted: a callable defined at the top of a .py file, or 'MODULE:CALLABLE'",
        )
    return f"{source}:{name}"


@contextlib.contextmanager
def _silenced(quiet: bool) -> Iterator[None]:
    if not quiet:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _config(options: Mapping[str, Any]) -> StudyConfig:
    try:
        given = config_from_mapping(options, source="compare()", typed=True)
        protocol = given.get("protocol", StudyConfig.protocol)
        return StudyConfig(**{**PROTOCOL_PRESETS.get(protocol, {}), **environment_options(os.environ), **given})
    except ConfigError as err:
        raise StudyInputError(err.option, str(err).partition(": ")[2]) from None


def compare(
    model: str | Callable[..., Any] | None = None,
    data: str | Callable[..., Any] | None = None,
    *,
    quiet: bool = False,
    **options: Any,
) -> Results:
    """Runs (or continues) a study and returns its results; see the module docstring."""
    values = dict(options)
    for option, given in (("model", model), ("data", data)):
        reference = _reference(f"--{option}", given)
        if reference is not None:
            values[option] = reference
    config = _config(values)
    remember(config.storage, config.tracking_uri, config.artifact_location)
    try:
        preflight(config)
    except ConfigError as err:
        raise StudyInputError(err.option, str(err).partition(": ")[2]) from None
    setup_logging(QUIET if quiet else NORMAL)
    from study.orchestrate import execute  # the heavy stack: seconds to import
    from study.workers.finish import searched_summary

    command = Command(config, QUIET if quiet else NORMAL, {})
    interrupts = Interrupts()
    on_main_thread = threading.current_thread() is threading.main_thread()  # signals can be handled there only
    if on_main_thread:
        interrupts.install()
    try:
        with _silenced(quiet):
            finished = execute(command, command_line_of(config), "compare()", interrupts)
    except ConfigError as err:
        raise StudyInputError(err.option, str(err).partition(": ")[2]) from None
    finally:
        if on_main_thread:
            interrupts.restore()
    rows = searched_summary(finished.trials, config.optimizers, config.objective)
    exported = finished.exported
    return Results(
        study_name=config.study_name,
        metric=config.metric,
        exit_code=finished.exit_code,
        best=_best(finished.trials, config),
        optimizers=[dict(row.__dict__) for row in rows],
        report=finished.report,
        best_toml=exported.config if exported else None,
        checkpoint=exported.checkpoint if exported else None,
    )


def _best(trials: list[Any], config: StudyConfig) -> Best | None:
    from study.schema import (
        BATCH_SIZE,
        FINAL_ROLE,
        FINAL_SUFFIX,
        OPTIMIZER,
        ROLE,
        TUNED,
        best_trial,
        lr_param,
        sub_study,
    )

    main = [t for t in trials if (t.user_attrs.get(ROLE) == FINAL_ROLE) == (config.protocol == TUNED)]
    trial = best_trial(main, config.objective)
    if trial is None or trial.value is None:
        return None
    optimizer = str(trial.params.get(OPTIMIZER))
    lr = trial.params.get(lr_param(optimizer))
    batch = trial.params.get(BATCH_SIZE)
    study = config.study_name if config.protocol != TUNED else sub_study(config.study_name, FINAL_SUFFIX)
    return Best(optimizer, lr, int(batch) if batch is not None else None, float(trial.value), trial.number, study)
