"""A study run, once its options are parsed: check, join, work, close, summarise, report.

The steps: check the options and the data (nothing written), join the study under its lock (stores, parent
run, budget, repairs), work (in this process, or in N supervised workers), close the parent run if nobody is
at work any more, print the summary and write the report. ``study.run`` parses the command line first and
imports this module (torch, Lightning, Optuna, MLflow: seconds) only for a valid configuration.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import optuna
import torch
from optuna.trial import TrialState

from study.config import ConfigError, StudyConfig
from study.config.cli import EVENTS_ENV, Command
from study.config.console import LOG, bin_dir, header, quiet_libraries
from study.design.tasks import Task, load_task
from study.records.failures import StoreError, writes_to
from study.records.store_checks import without_credentials
from study.report.build import write_report
from study.report.dashboard import artifact_dir_for, main_study
from study.report.folder import report_folder
from study.schema import OPTIMIZER
from study.secrets import mask_url, redact
from study.training.train import quiet_lightning
from study.workers.events import Events, JsonLines
from study.workers.export import Exported, export_best
from study.workers.finish import Closing, close_parent, searched_summary
from study.workers.interrupts import Interrupts
from study.workers.progress import Progress, format_duration
from study.workers.session import Session, check_config, join
from study.workers.summary import budget_line, format_table
from study.workers.supervisor import default_threads, supervise
from study.workers.worker import Worker, WorkerResult

__all__ = ["Finished", "execute", "run_study"]


def ui_commands(config: StudyConfig, session: Session) -> list[str]:
    """The commands that open this study's UIs: the launcher for both, then each UI's own command and address."""
    folder = bin_dir()
    tracker = session.tracker
    stores = f"--storage {mask_url(config.storage_url)} --tracking-uri {mask_url(config.tracking_uri)}"
    lines = [
        f"Both UIs:         {folder / 'python'} -m study.ui --study-name {config.study_name} {stores} "
        f"--experiment {config.experiment}",
        "or one at a time:",
    ]
    if config.tracking_uri.startswith(("http://", "https://")):
        address = without_credentials(config.tracking_uri).rstrip("/")  # the browser asks for them
        lines.append(f"MLflow UI:        {address}/{tracker.parent_url_path()}")
    else:
        tracking = mask_url(config.tracking_uri)
        lines.append(f"MLflow UI:        {folder / 'mlflow'} ui --backend-store-uri {tracking} --port 5000")
        lines.append(f"                  then open http://127.0.0.1:5000/{tracker.parent_url_path()}")
    artifacts = artifact_dir_for(config.storage_url)
    artifact_option = f" --artifact-dir {artifacts}" if artifacts else ""
    opened = main_study(tuple(p.name for p in session.parts), config.study_name)  # the one holding the note
    study_id = session.storage.get_study_id_from_name(opened)
    storage = mask_url(config.storage_url)  # a password stays out: PGPASSWORD or ~/.pgpass supply it
    lines.append(f"Optuna dashboard: {folder / 'optuna-dashboard'} {storage}{artifact_option} --port 8080")
    lines.append(f"                  then open http://127.0.0.1:8080/dashboard/studies/{study_id}")
    return lines


@dataclass(frozen=True)
class Finished:
    """What a run leaves: its exit code, the study's trials, the exported winner and the report (when written)."""

    exit_code: int
    trials: list[optuna.trial.FrozenTrial] = field(default_factory=list)
    exported: Exported | None = None
    report: Path | None = None


def run_study(command: Command, argv: Sequence[str], prog: str, interrupts: Interrupts) -> int:
    """Everything after the options parsed and checked (``study.run.main``, which also handles Ctrl-C): returns
    the exit code; bad input is one line and 2, a store refusing a write one line and 1."""
    config = command.config
    try:
        return execute(command, argv, prog, interrupts).exit_code
    except ConfigError as err:
        return _refuse(prog, command.named(err), 2)
    except StoreError as err:  # a store turned unwritable mid-study: one line, what and where
        url = config.tracking_uri if err.option == "--tracking-uri" else config.storage_url
        cause = str(err).partition(": ")[2]
        stopped = "the study stopped, its running trials recorded as far as the stores allowed"
        refused = f"{err.option} {mask_url(url)} refused a write ({cause})"
        return _refuse(prog, RuntimeError(f"{refused}; {stopped}: the next run repairs the rest"), 1)


def execute(command: Command, argv: Sequence[str], prog: str, interrupts: Interrupts) -> Finished:
    """Prepares, joins, works, closes, exports and reports (``run_study`` prints its errors, ``study.compare``
    raises them). Raises ``ConfigError`` for bad input (nothing written) and ``StoreError`` for a store that refused
    a write mid-study."""
    config = command.config
    _quiet_libraries()  # before the task check: its one-step Trainer would print Lightning's banners and hints
    device, task = _prepare(config)
    as_worker = os.environ.get(EVENTS_ENV) == "jsonl"
    progress = Progress(config.study_name, 0, config.timeout, config.max_epochs, objective=config.objective)
    events: Events = JsonLines() if as_worker else progress
    started = time.perf_counter()
    joined_at = datetime.now()  # Optuna's trial times are naive local times
    session: Session | None = None
    try:
        with interrupts.held():  # joining writes both stores: a signal waits until they are in step
            session = join(config, log=events.note, code=task.code)
    except KeyboardInterrupt:  # a signal while joining: the study is joined, and nothing of it ran
        if session is not None:
            with interrupts.held(), writes_to("--tracking-uri"):
                close_parent(session, time.perf_counter() - started, interrupted=True, timed_out=False, crashed=False)
        return Finished(interrupts.exit_code)
    result, closing = _work_and_close(config, argv, session, task, device, events, progress, interrupts, started)
    trials = session.trials()
    if not as_worker:
        _print_results(config, session, trials, result, time.perf_counter() - started)
    # the report is written once: by the worker that closed the study, or by the supervisor of --workers N
    mine = closing.by_me or config.workers > 1
    exported, report = None, None
    if config.report and closing.status is not None and mine and not result.interrupted:
        exported = _export(config, session, task, device, report_folder(config))
        report = _write_report(config)
    return Finished(_exit_code(prog, trials, result, interrupts, as_worker, joined_at), trials, exported, report)


def _prepare(config: StudyConfig) -> tuple[str, Task]:
    """Everything checked that can be checked without writing: the options against this machine, the task (the
    data's files, the user's model and data on a real batch)."""
    device = check_config(config)
    return device, load_task(config, device)


def _refuse(prog: str, err: Exception, code: int) -> int:
    print(redact(f"{prog}: error: {err}"), file=sys.stderr)
    return code


def _quiet_libraries() -> None:
    quiet_libraries()
    if not LOG.isEnabledFor(logging.DEBUG):  # -v keeps every library's lines
        quiet_lightning()
        optuna.logging.set_verbosity(optuna.logging.WARNING)


def _work_and_close(
    config: StudyConfig,
    argv: Sequence[str],
    session: Session,
    task: Task,
    device: str,
    events: Events,
    progress: Progress,
    interrupts: Interrupts,
    started: float,
) -> tuple[WorkerResult, Closing]:
    """This process's share of the study (one worker here, or N supervised worker processes), then the parent run
    closed if nobody else is at work, whatever happened (an interrupt, a crash)."""
    result, crashed = WorkerResult(), False
    supervised = config.workers > 1
    threads = config.threads_per_worker or (default_threads(config.workers) if supervised else torch.get_num_threads())
    try:
        if isinstance(events, Progress):  # not a supervised worker, whose supervisor prints the header
            for line in header(config, device, threads, task.data.num_train_samples, task.data.num_val_samples):
                LOG.info(line)
        progress.n_trials = session.queued
        if supervised:
            codes = supervise(argv, config.workers, threads, events, interrupts)
            result.interrupted = interrupts.received is not None or any(c in (130, 143) for c in codes)
        else:
            if config.threads_per_worker:
                torch.set_num_threads(config.threads_per_worker)
            parts, studies, tracker = session.parts, session.studies, session.tracker
            worker = Worker(parts, studies, tracker, task, device, events, interrupts, config.heartbeat_seconds)
            result = worker.run(config.timeout)
    except KeyboardInterrupt:
        result.interrupted = True
    except BaseException:
        crashed = True  # the parent run must not read FINISHED after a crash
        raise
    finally:
        with interrupts.held():
            wall = time.perf_counter() - started
            flags = {"interrupted": result.interrupted, "timed_out": result.timed_out, "crashed": crashed}
            try:
                with writes_to("--tracking-uri"):
                    closing = close_parent(session, wall, **flags)
            except StoreError:
                if not crashed:
                    raise
                closing = Closing(None, by_me=False)  # the crash is what the user must see; the next run closes it
    return result, closing


def _print_results(
    config: StudyConfig, session: Session, trials: Sequence[optuna.trial.FrozenTrial], result: WorkerResult, wall: float
) -> None:
    """The summary table, what a timeout cost, and the commands that open the UIs."""
    took = format_duration(wall)
    print(f"\nstudy {config.study_name!r} ({config.protocol}): {budget_line(trials)}; this run took {took}")
    print(format_table(searched_summary(trials, config.optimizers, config.objective), config.objective))
    if result.timed_out:
        print(timeout_sentence(config, trials))
    print()
    print("\n".join(ui_commands(config, session)), flush=True)


def _exit_code(
    prog: str,
    trials: Sequence[optuna.trial.FrozenTrial],
    result: WorkerResult,
    interrupts: Interrupts,
    as_worker: bool,
    since: datetime,
) -> int:
    """130/143 after an interrupt; 1 when no trial of the study completed, or every trial this run ran failed; else
    0 (a pruned trial is a search's normal outcome)."""
    if result.interrupted:
        if not as_worker:
            print("interrupted: the running trials are recorded as FAIL in Optuna and MLflow", file=sys.stderr)
        return interrupts.exit_code
    mine = [t for t in trials if t.datetime_start is not None and t.datetime_start >= since and t.state.is_finished()]
    if not any(t.state == TrialState.COMPLETE for t in trials) or (
        mine and all(t.state == TrialState.FAIL for t in mine)
    ):
        failed = sum(t.state == TrialState.FAIL for t in mine)
        pruned = sum(t.state == TrialState.PRUNED for t in mine)
        print(f"{prog}: no trial completed ({failed} failed, {pruned} pruned in this run)", file=sys.stderr)
        return 1
    return 0


def timeout_sentence(config: StudyConfig, trials: Sequence[optuna.trial.FrozenTrial]) -> str:
    """What a --timeout cost the study: the queued trials it did not run and the optimizers never tried."""
    waiting = sum(t.state == TrialState.WAITING for t in trials)
    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    tried = {t.params.get(OPTIMIZER) for t in trials if t.state in finished}
    untried = [name for name in config.optimizers if name not in tried]
    never = f"; never tried: {', '.join(untried)}" if untried else "; every optimizer was tried at least once"
    return f"--timeout {config.timeout:g} s stopped the study with {waiting} queued trials not run{never}"


def _export(config: StudyConfig, session: Session, task: Task, device: str, folder: Path) -> Exported | None:
    """The best configuration as best.toml, retrained once for its weights; a failure is reported, not fatal."""
    try:
        exported = export_best(config, session.parts, session.studies, session.tracker, task, device, folder)
    except Exception as err:  # noqa: BLE001 - the study's records are already complete
        print(redact(f"best configuration not exported: {type(err).__name__}: {err}"), file=sys.stderr)
        return None
    if exported is not None:
        print(f"best: {exported.trial}, {config.metric} {exported.value:.4f}; retrain it with", flush=True)
        print(f"      {bin_dir() / 'python'} -m study.run --config {exported.config}", flush=True)
        print(f"      weights: {exported.checkpoint}" + (f" and {exported.model_uri}" if exported.model_uri else ""))
    return exported


def _write_report(config: StudyConfig) -> Path | None:
    """The comparison report; a failure here is reported but does not change the study's exit code."""
    try:
        path = write_report(
            config.study_name,
            config.storage_url,
            config.tracking_uri,
            config.experiment,
            report_folder(config),
        )
    except Exception as err:  # noqa: BLE001 - the study's records are already complete
        print(f"report not written: {type(err).__name__}: {err}", file=sys.stderr)
        return None
    print(f"report: {path} (also logged to the parent MLflow run under report/)", flush=True)
    return path
