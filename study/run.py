"""``python -m study.run``: Optuna searches optimizer, learning rate and batch size; MLflow records it all.

Run with no arguments for the embedded default study (MNIST, every registered optimizer), or see ``--help``.
Running again with the same ``--study-name`` continues the study and its MLflow parent run.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import optuna
import torch
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from models.data import ImageDataModule
from models.datasets import DatasetUnavailableError
from study.cli import build_parser, parse_config
from study.config import ConfigError, StudyConfig
from study.environment import resolve_device
from study.objective import quiet_lightning
from study.progress import Progress, format_duration
from study.protocols import StudyContext, run_protocol
from study.report import write_report
from study.report.dashboard import artifact_dir_for
from study.stores import check_storage, check_tracking_uri, open_storage
from study.summary import OptimizerSummary, format_table, summarize
from study.tracking import StudyTracker

__all__ = ["main"]

DEFAULT = StudyConfig()
REPORTS = Path("reports")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def check_config(config: StudyConfig) -> str:
    """Everything that can be checked without writing anything; returns the resolved device."""
    device = resolve_device(config.device)
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device", "cuda was asked for but no GPU is visible; accepted: auto, cpu")
    check_tracking_uri(config.tracking_uri, default=config.tracking_uri == DEFAULT.tracking_uri)
    check_storage(config.storage_url, default=config.storage is None)
    return device


def load_data(config: StudyConfig, device: str) -> ImageDataModule:
    """Decodes the dataset once for the whole study; each trial reuses it at its own batch size."""
    data = ImageDataModule(
        dataset=config.dataset,
        data_dir=config.data_dir,
        train_size=config.train_size,
        validate_on_test=config.validate_on_test,
        normalize=config.normalize,
        seed=config.seed,
        device=device,
    )
    data.prepare_data()
    try:
        data.setup("fit")
    except ValueError as err:  # the only size the split can reject is the requested subset
        raise ConfigError("--train-size", f"{err}; accepted: 1 up to the training split's size") from None
    return data


def ui_commands(config: StudyConfig, tracker: StudyTracker, study_id: int) -> list[str]:
    """The two commands (and addresses) that open this study in the MLflow UI and the Optuna dashboard."""
    bin_dir = Path(sys.executable).parent
    with contextlib.suppress(ValueError):  # a venv inside the project prints as a short relative path
        bin_dir = bin_dir.relative_to(Path.cwd())
    lines = []
    if config.tracking_uri.startswith(("http://", "https://")):
        lines.append(f"MLflow UI:        {config.tracking_uri.rstrip('/')}/{tracker.parent_url_path()}")
    else:
        lines.append(f"MLflow UI:        {bin_dir / 'mlflow'} ui --backend-store-uri {config.tracking_uri} --port 5000")
        lines.append(f"                  then open http://127.0.0.1:5000/{tracker.parent_url_path()}")
    artifacts = artifact_dir_for(config.storage_url)
    artifact_option = f" --artifact-dir {artifacts}" if artifacts else ""
    lines.append(f"Optuna dashboard: {bin_dir / 'optuna-dashboard'} {config.storage_url}{artifact_option} --port 8080")
    lines.append(f"                  then open http://127.0.0.1:8080/dashboard/studies/{study_id}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        config = parse_config(argv, parser)
        device = check_config(config)
    except ConfigError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    quiet_lightning()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        data = load_data(config, device)
    except DatasetUnavailableError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    except ConfigError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2

    print("configuration:", json.dumps({**config.to_dict(), "resolved_device": device}, indent=2), flush=True)
    storage = open_storage(config.storage_url)
    tracker = StudyTracker.open(config.tracking_uri, config.experiment, config.study_name, config.to_dict())
    progress = Progress(config.n_trials, config.timeout, config.max_epochs)
    ctx = StudyContext(config, storage, tracker, data, device, progress, log=lambda line: print(line, flush=True))
    previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt)
    status, started = "FINISHED", time.perf_counter()
    studies: list[optuna.Study] = []
    try:
        studies = run_protocol(ctx)
    except KeyboardInterrupt:
        status = "KILLED"
        print("interrupted: the running trial is recorded as FAIL in Optuna and MLflow", file=sys.stderr)
    except BaseException:
        status = "FAILED"  # the parent run must not read FINISHED after a crash
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        studies = studies or _studies_of(config.study_name, storage)
        trials = [t for s in studies for t in s.get_trials(deepcopy=False)]
        rows = summarize([t for t in trials if t.user_attrs.get("role") != "final"], config.optimizers)
        _finish_parent(trials, tracker, status, rows, time.perf_counter() - started)

    wall = time.perf_counter() - started
    print(
        f"\nstudy {config.study_name!r} ({config.protocol}): {len(trials)} trials in all, this run took "
        f"{format_duration(wall)}"
    )
    print(format_table(rows))
    print()
    study_id = storage.get_study_id_from_name(studies[0].study_name) if studies else 0
    print("\n".join(ui_commands(config, tracker, study_id)), flush=True)
    if config.report and status != "KILLED":
        _write_report(config)
    if status == "KILLED":
        return 130
    if not any(t.state == TrialState.COMPLETE for t in trials):
        print(f"{parser.prog}: no trial completed", file=sys.stderr)
        return 1
    return 0


def _write_report(config: StudyConfig) -> None:
    """The comparison report; a failure here is reported but does not change the study's exit code."""
    try:
        path = write_report(
            config.study_name, config.storage_url, config.tracking_uri, config.experiment, REPORTS / config.study_name
        )
    except Exception as err:  # noqa: BLE001 - the study's records are already complete
        print(f"report not written: {type(err).__name__}: {err}", file=sys.stderr)
        return
    print(f"report: {path} (also logged to the parent MLflow run under report/)", flush=True)


def _studies_of(name: str, storage: BaseStorage) -> list[optuna.Study]:
    """The study NAME and its sub-studies NAME.<suffix> (the tuned protocol's)."""
    names = [n for n in optuna.study.get_all_study_names(storage) if n == name or n.startswith(name + ".")]
    return [optuna.load_study(study_name=n, storage=storage) for n in sorted(names, key=lambda n: (n != name, n))]


def _finish_parent(
    trials: list[FrozenTrial], tracker: StudyTracker, status: str, rows: list[OptimizerSummary], wall: float
) -> None:
    metrics = {
        "trials/complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "trials/pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "trials/failed": sum(t.state == TrialState.FAIL for t in trials),
        "study/last_run_seconds": wall,
    }
    tags: dict[str, str] = {}
    summary: dict[str, object] = {"per_optimizer": [r.__dict__ for r in rows]}
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if complete:
        best = max(complete, key=lambda t: t.value or 0.0)
        metrics["best/val_acc"] = float(best.value or 0.0)
        for row in rows:
            if row.best_val_acc is not None:
                metrics[f"best/val_acc.{row.optimizer}"] = row.best_val_acc
        tags = {
            "best.trial_number": str(best.number),
            "best.optimizer": str(best.params.get("optimizer")),
            "best.batch_size": str(best.params.get("batch_size")),
            "best.lr": str(best.user_attrs.get("lr")),
            "best.mlflow_run_id": str(best.user_attrs.get("mlflow_run_id")),
        }
        summary["best_trial"] = {"number": best.number, "value": best.value, "params": best.params}
    tracker.finish(status, metrics, tags, summary)


if __name__ == "__main__":
    raise SystemExit(main())
