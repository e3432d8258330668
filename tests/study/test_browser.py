"""The two UIs as a person sees them: pages rendered by a real (headless) Chromium, JavaScript included."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from study.run import main
from testsupport import free_port, wait_for_http

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed: `make test` installs it")


def rendered_dom(url: str, profile: Path) -> str:
    """The DOM after the page's scripts ran (Chromium's virtual time lets the single-page apps fetch and render)."""
    result = subprocess.run(
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
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.stdout


@contextmanager
def serve(command: list[str], probe_path: str) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([*command, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + probe_path, proc, timeout=120)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_both_uis_show_the_study(tiny, tmp_path) -> None:
    assert main(tiny.args(**{"--n-trials": "2"})) == 0
    parent, children = tiny.runs()
    bin_dir = Path(sys.executable).parent

    dashboard = [str(bin_dir / "optuna-dashboard"), str(tiny.tmp / "journal.log")]
    with serve(dashboard, "/api/studies") as url:
        dom = rendered_dom(f"{url}/dashboard/studies/0", tmp_path / "profile-dashboard")
    assert "tiny" in dom and "History" in dom

    mlflow_ui = [str(bin_dir / "mlflow"), "ui", "--backend-store-uri", tiny.tracking_uri]
    with serve(mlflow_ui, "/health") as url:
        dom = rendered_dom(f"{url}/#/experiments/{parent.info.experiment_id}/runs/{parent.info.run_id}", tmp_path / "p")
    assert "study-tiny" in dom
    assert any(child.info.run_name in dom for child in children)
