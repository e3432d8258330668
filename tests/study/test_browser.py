"""The two UIs as a person sees them: opened by ``python -m study.ui``, rendered by a real (headless) Chromium,
JavaScript included, and photographed.

``UI_SCREENSHOTS_DIR=docs pytest tests/study/test_browser.py`` refreshes the README's screenshots
``docs/mlflow-ui.png`` and ``docs/optuna-dashboard.png`` (otherwise they go to the test's temporary folder).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from study.records.tracking import TRAINING_VIEW
from study.run import main
from study.schema import FINAL_PREFIX, VAL_ACC
from testsupport import free_port

if TYPE_CHECKING:
    from study.conftest import TinyStudy

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed: `make test` installs it")

LAUNCH_TIMEOUT_S = 180  # the launcher waits up to 120 s for each server, after its own imports
MIN_SCREENSHOT_BYTES = 20_000  # a blank page or a lone spinner compresses to far less


def chromium(url: str, profile: Path, *action: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on one page; virtual time lets the single-page apps fetch and render before ``action``."""
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=20000",
            *action,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def rendered_dom(url: str, profile: Path) -> str:
    """The DOM after the page's scripts ran."""
    return chromium(url, profile, "--dump-dom").stdout


def _text(dom: str) -> str:
    """A page's words, tags dropped and whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom)).replace("&nbsp;", "")


def screenshot(url: str, profile: Path, png: Path) -> Path:
    png.unlink(missing_ok=True)  # an old picture must not pass for a new one
    result = chromium(url, profile, f"--screenshot={png}", "--window-size=1400,900", "--hide-scrollbars")
    assert png.is_file(), result.stderr[-2000:]
    return png


@contextmanager
def both_uis(args: list[str], cwd: Path) -> Iterator[dict[str, str]]:
    """``python -m study.ui ARGS`` on free ports; yields the printed addresses by label, stops it with Ctrl-C."""
    ports = ["--mlflow-port", str(free_port()), "--dashboard-port", str(free_port())]
    proc = subprocess.Popen(
        [sys.executable, "-m", "study.ui", *args, *ports],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        text=True,
    )
    timer = threading.Timer(LAUNCH_TIMEOUT_S, proc.send_signal, [signal.SIGINT])  # ends the read below if stuck
    timer.start()
    try:
        assert proc.stdout is not None
        urls = {}
        for line in proc.stdout:
            if line.startswith("Ctrl-C"):
                break
            label, _, url = line.partition(":")
            urls[label] = url.strip()
        timer.cancel()
        assert set(urls) == {"MLflow UI", "Optuna dashboard"}, f"launcher exited with {proc.poll()}: {urls}"
        yield urls
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    assert code == 130, "Ctrl-C must stop the launcher with exit code 130"


def test_both_uis_show_the_study(tiny: TinyStudy, tmp_path: Path) -> None:
    assert main(tiny.args(**{"--n-trials": "4", "--max-epochs": "2", "--optimizers": "adam,sgd,rmsprop"})) == 0
    parent, children = tiny.runs()
    shots = Path(os.environ.get("UI_SCREENSHOTS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    stores = ["--storage", str(tiny.tmp / "journal.log"), "--tracking-uri", tiny.tracking_uri]

    with both_uis(["--study-name", "tiny", *stores, "--experiment", "tests"], tmp_path) as urls:
        dashboard, mlflow_ui = urls["Optuna dashboard"], urls["MLflow UI"]
        dashboard_dom = rendered_dom(dashboard, tmp_path / "profile-dashboard")
        mlflow_dom = rendered_dom(mlflow_ui, tmp_path / "profile-mlflow")
        runs_table = mlflow_ui.split("/runs/")[0] + TRAINING_VIEW  # the experiment's runs, the study's nested
        table_dom = rendered_dom(runs_table, tmp_path / "profile-table")
        base = mlflow_ui.split("#")[0]
        trial_charts = f"{base}#/experiments/{parent.info.experiment_id}/runs/{children[0].info.run_id}/model-metrics"
        trial_dom = rendered_dom(trial_charts + TRAINING_VIEW, tmp_path / "profile-trial")
        ids = quote(json.dumps([child.info.run_id for child in children]))
        compare = f"{base}#/compare-runs?runs={ids}&experiments={quote(json.dumps([parent.info.experiment_id]))}"
        compare_text = _text(rendered_dom(compare, tmp_path / "profile-compare"))
        pictures = [
            screenshot(dashboard, tmp_path / "profile-dashboard", shots / "optuna-dashboard.png"),
            screenshot(runs_table, tmp_path / "profile-table", shots / "mlflow-ui.png"),
        ]

    assert "tiny" in dashboard_dom and "History" in dashboard_dom
    assert mlflow_ui.endswith(f"#/experiments/{parent.info.experiment_id}/runs/{parent.info.run_id}{TRAINING_VIEW}")
    assert "study-tiny" in mlflow_dom
    assert any(child.info.run_name in mlflow_dom for child in children)
    for dom in (mlflow_dom, table_dom):  # the model-training view: its side navigation, not the GenAI one
        assert "Model registry" in dom and "Evaluation runs" not in dom
    assert "study-tiny" in table_dom and "matching runs" in table_dom
    # a trial's page: its per-epoch curves' sections first, the single-point end-of-trial section after them
    sections = re.findall(r">(time|train|val|system|test|final|whole_trial)<", trial_dom)
    assert sections[:4] == ["time", "train", "val", FINAL_PREFIX.rstrip("/")], sections
    # Compare's parallel coordinates open on the objective
    assert f"Metrics: {VAL_ACC}" in compare_text, compare_text[:2000]
    for png in pictures:
        assert png.stat().st_size > MIN_SCREENSHOT_BYTES, f"{png}: {png.stat().st_size} bytes, likely blank"
