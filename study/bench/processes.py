"""Fresh processes timed from their start, as a user feels them: a study, the raw loop, the article's Keras code.

Each runs to its end through ``Arms.run`` (every live arm paused), which notes the wall clock (``time.time()``) just
before starting it: the origin of its ``Timeline``. Where the first training step and each epoch's end fell:

- ``python -m study.run`` (a fresh study in a temporary folder): read back from the trial's own records. Its MLflow
  run logs every epoch's ``val/acc`` and ``time/cumulative_seconds`` (seconds since the fit started, the clock of
  its ``whole_trial/seconds_to_*`` milestones) with the wall-clock time it logged them; the fit started at the earliest
  (log time - cumulative seconds), and epoch k ended at that start + its cumulative seconds.
- ``python -m study.bench.raw`` and ``keras_arm.py tta``: the process prints the wall clock of its first step (and,
  for Keras, of each epoch's end with its validation accuracy).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from study.bench.isolation import Check
from study.bench.runner import KERAS_PYTHON, KERAS_SCRIPT, Arms, Finished, torch_env
from study.schema import CUMULATIVE_SECONDS, VAL_ACC

__all__ = ["Timeline", "keras_run", "raw_run", "study_run"]


@dataclass(frozen=True)
class Timeline:
    """A fresh process's run, in wall seconds from the moment it was started."""

    startup: float  # to its first training step
    seconds: float  # to its exit
    epochs: tuple[tuple[float, float], ...]  # (seconds to the end of the epoch's validation, its accuracy)
    check: Check

    def to_target(self, target: float) -> tuple[int, float] | None:
        """The first epoch (1-based) whose validation accuracy reached ``target``, and its seconds; None if none."""
        return next(((k + 1, s) for k, (s, acc) in enumerate(self.epochs) if acc >= target), None)

    def as_dict(self) -> dict[str, Any]:
        epochs = [{"epoch": k + 1, "seconds": s, "val_acc": acc} for k, (s, acc) in enumerate(self.epochs)]
        return {"startup": self.startup, "seconds": self.seconds, "epochs": epochs, "check": self.check.as_dict()}


def _last_json(finished: Finished) -> dict[str, Any]:
    lines = [line for line in finished.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the process printed no result: {finished.stdout[-500:]!r}")
    reply: dict[str, Any] = json.loads(lines[-1])
    return reply


def _trial_curve(tracking_uri: str) -> tuple[float, list[tuple[float, float]]]:
    """The fit's start (wall clock) and each epoch's (cumulative seconds, validation accuracy) of the one trial run
    of the store."""
    from mlflow.tracking import MlflowClient  # only the runs read back need MLflow, after the options were read

    client = MlflowClient(tracking_uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "bench"]
    runs = [r for r in client.search_runs([experiment.experiment_id]) if VAL_ACC in r.data.metrics]
    if len(runs) != 1:
        raise RuntimeError(f"expected one trial run with {VAL_ACC} in {tracking_uri}, found {len(runs)}")
    run_id = runs[0].info.run_id
    clock = {m.step: m for m in client.get_metric_history(run_id, CUMULATIVE_SECONDS)}
    accuracy = {m.step: m.value for m in client.get_metric_history(run_id, VAL_ACC)}
    fit_start = min(m.timestamp / 1000 - m.value for m in clock.values())
    return fit_start, [(clock[e].value, accuracy[e]) for e in sorted(clock)]


def study_run(arms: Arms, args: Callable[[str], list[str]], threads: int) -> Timeline:
    """``python -m study.run`` with ``threads`` torch threads on a fresh study: ``args(folder)`` gives its options,
    stores in ``folder`` (a temporary folder) included."""
    with tempfile.TemporaryDirectory(prefix="bench-process-", ignore_cleanup_errors=True) as folder:
        command = [sys.executable, "-m", "study.run", *args(folder)]
        finished = arms.run(command, torch_env(threads))
        fit_start, curve = _trial_curve(f"sqlite:///{folder}/mlflow.db")
    origin = finished.started
    epochs = tuple((fit_start + seconds - origin, acc) for seconds, acc in curve)
    return Timeline(fit_start - origin, finished.seconds, epochs, finished.check)


def raw_run(arms: Arms, threads: int, data_dir: str | None, batch_size: int, train_size: int, epochs: int) -> Timeline:
    """``python -m study.bench.raw``: the raw loop of the same work as a one-trial study, in a fresh process."""
    command = [sys.executable, "-m", "study.bench.raw", "--batch-size", str(batch_size)]
    command += ["--train-size", str(train_size), "--epochs", str(epochs)]
    command += ["--data-dir", data_dir] if data_dir else []
    finished = arms.run(command, torch_env(threads))
    first_step = float(_last_json(finished)["first_step"])
    return Timeline(first_step - finished.started, finished.seconds, (), finished.check)


def keras_run(
    arms: Arms, threads: int, inter_op: int, data_dir: str, split: Path, settings: dict[str, Any], bf16: bool
) -> Timeline:
    """``keras_arm.py tta``: the article's Keras code trained on the study's split in a fresh TensorFlow process,
    validated after every epoch, stopped at the target. ``settings``: batch_size, epochs, lr, seed, target,
    train_size (None: the whole split)."""
    command = [str(KERAS_PYTHON), str(KERAS_SCRIPT), "tta", "--threads", str(threads), "--inter-op", str(inter_op)]
    command += ["--data-dir", data_dir]
    command += ["--split", str(split), "--batch-size", str(settings["batch_size"]), "--epochs", str(settings["epochs"])]
    command += ["--lr", str(settings["lr"]), "--seed", str(settings["seed"]), "--target", str(settings["target"])]
    command += ["--train-size", str(settings["train_size"])] if settings["train_size"] else []
    command += ["--bf16"] if bf16 else []
    finished = arms.run(command)
    reply = _last_json(finished)
    origin = finished.started
    epochs = tuple((float(e["time"]) - origin, float(e["val_acc"])) for e in reply["epochs"])
    return Timeline(float(reply["first_step"]) - origin, finished.seconds, epochs, finished.check)
