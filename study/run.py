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
from optuna.trial import TrialState

from models.datasets import DatasetUnavailableError
from study.cli import build_parser, parse_config
from study.config import ConfigError, StudyConfig
from study.finish import finish_parent
from study.progress import format_duration
from study.protocols import run_protocol
from study.report import write_report
from study.report.dashboard import artifact_dir_for
from study.session import check_config, load_data, open_session
from study.stores import study_names
from study.summary import format_table
from study.tracking import StudyTracker
from study.train import quiet_lightning

__all__ = ["main"]

REPORTS = Path("reports")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


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
    session = open_session(config, device, data, log=lambda line: print(line, flush=True))
    previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt)
    status, started = "FINISHED", time.perf_counter()
    studies: list[optuna.Study] = []
    try:
        studies = run_protocol(session)
    except KeyboardInterrupt:
        status = "KILLED"
        print("interrupted: the running trial is recorded as FAIL in Optuna and MLflow", file=sys.stderr)
    except BaseException:
        status = "FAILED"  # the parent run must not read FINISHED after a crash
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        names = [s.study_name for s in studies] or study_names(session.storage, config.study_name)
        trials = [t for n in names for t in optuna.load_study(study_name=n, storage=session.storage).trials]
        rows = finish_parent(trials, config.optimizers, session.tracker, status, time.perf_counter() - started)

    wall = time.perf_counter() - started
    print(
        f"\nstudy {config.study_name!r} ({config.protocol}): {len(trials)} trials in all, this run took "
        f"{format_duration(wall)}"
    )
    print(format_table(rows))
    print()
    study_id = session.storage.get_study_id_from_name(names[0]) if names else 0
    print("\n".join(ui_commands(config, session.tracker, study_id)), flush=True)
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


if __name__ == "__main__":
    raise SystemExit(main())
