"""What the terminal shows: the study's lines go through ``logging``; ``-q`` hides them, ``-v`` adds the libraries'.

The results (the summary table, the best configuration, the commands that open the UIs) are printed whatever
the verbosity: they are the answer, not chatter. Errors go to stderr as one line each.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from study.schema import SEED_PROTOCOL, TUNED
from study.secrets import mask_url

if TYPE_CHECKING:
    from study.config import StudyConfig

__all__ = ["LOG", "QUIET", "VERBOSE", "bin_dir", "header", "plural", "quiet_libraries", "setup_logging"]

LOG = logging.getLogger("study")
QUIET, NORMAL, VERBOSE = -1, 0, 1
# Libraries that talk at INFO (MLflow's migrations, Lightning's banners, Optuna's per-trial lines): WARNING and up
# reach the terminal unless -v asks for everything.
LIBRARIES = (
    *("mlflow", "alembic", "optuna", "torch"),
    *("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric"),
)


# Loggers that print a traceback for an error their library raises anyway (which the study reports in one line).
RERAISED = ("mlflow.store.db.utils",)


class _Stdout(logging.Handler):
    """Writes to whatever ``sys.stdout`` is at the time (pytest's capture swaps it between tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stdout, flush=True)


def bin_dir() -> Path:
    """Where this Python's commands are, as a printed command must name them to work when copied."""
    folder = Path(sys.executable).parent
    with contextlib.suppress(ValueError):  # a venv inside the project prints as a short relative path
        folder = folder.relative_to(Path.cwd())
    return folder


def setup_logging(verbosity: int) -> None:
    LOG.handlers[:] = [_Stdout()]
    LOG.propagate = False
    LOG.setLevel({QUIET: logging.WARNING, VERBOSE: logging.DEBUG}.get(verbosity, logging.INFO))
    quiet_libraries()


def quiet_libraries() -> None:
    """The libraries' INFO lines off unless -v. Called again once the stack is imported: MLflow sets its own
    logger's level when imported."""
    verbose = LOG.isEnabledFor(logging.DEBUG)
    level = logging.INFO if verbose else logging.WARNING
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(level)
    for name in RERAISED:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.CRITICAL)


def plural(n: int, word: str) -> str:
    """``1 seed``, ``3 seeds``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _budget(config: StudyConfig) -> str:
    epochs = f"{plural(config.max_epochs, 'epoch')} each"
    optimizers, seeds = plural(len(config.optimizers), "optimizer"), plural(config.seeds, "seed")
    if config.protocol == SEED_PROTOCOL:
        return f"{optimizers} x {seeds} at fixed settings, {epochs}"
    if config.protocol == TUNED:
        return (
            f"{plural(config.n_trials, 'trial')} per optimizer ({len(config.optimizers)}), then each best "
            f"retrained with {seeds}, {epochs}"
        )
    return f"{plural(config.n_trials, 'trial')} over {optimizers}, {epochs}"


def header(config: StudyConfig, device: str, threads: int, train: int, validation: int) -> list[str]:
    """The few lines a run opens with (the whole configuration is in the MLflow parent run's params)."""
    timeout = f"stops starting trials after {config.timeout:g} s" if config.timeout else "no timeout"
    sizes = ",".join(map(str, config.batch_sizes))
    workers = f"{config.workers} workers" if config.workers > 1 else "1 worker"
    validated_on = "the test set" if config.validate_on_test else f"split seed {config.split_seed}"
    data = f"{config.dataset}, {train} training / {validation} validation images ({validated_on})"
    if config.data is not None:  # your data: its own split, whatever its samples are
        data = f"{config.data}, {train} training / {validation} validation samples (as it splits them)"
    return [
        f"study {config.study_name!r} ({config.protocol}): {_budget(config)}; batch sizes {sizes}; {timeout}",
        f"data:    {data}",
        f"stores:  Optuna {mask_url(config.storage_url)}, MLflow {mask_url(config.tracking_uri)} "
        f"(experiment {config.experiment!r})",
        f"device:  {device}, {workers} x {threads} thread{'s' if threads != 1 else ''}",
    ]
