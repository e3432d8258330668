"""``python -m study.bench``: the smoke run reports every benchmark (what CI runs), and the command line is light."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from study.bench.plan import BENCHMARKS
from study.bench.runner import keras_skip_reason
from testsupport import PROJECT_ROOT


def test_the_benchmark_smoke_run_reports_every_benchmark(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "study.bench", "--smoke", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (saved,) = tmp_path.glob("bench-*.json")
    data = json.loads(saved.read_text())
    bm1 = data["BM-1"]["series"]
    ours = bm1["ours f32 bs 64"]
    assert ours["median"] > 0 and ours["alone"] > 0  # interleaved, and cross-checked alone in a fresh process
    assert ours["alone_check"]["paused_cpu_seconds"] == 0
    assert bm1["plain bs 64"]["median"] > 0 and bm1["gemm f32 GFLOP/s"]["median"] > 0
    assert bm1["ours f32 bs 64"]["extra"][0]["timed_steps"] >= 8  # what the trial logged, epochs 2 and later
    if keras_skip_reason():  # CI has no .venv-keras: the Keras arms are skipped, and say why
        assert ".venv-keras" in data["BM-1"]["skipped"]["keras"] and "keras f32 bs 64" not in bm1
    else:  # TensorFlow's inter-op pool picked by measuring both candidates
        assert bm1["keras f32 bs 64"]["median"] > 0 and bm1["keras f32 bs 64"]["alone"] > 0
        assert data["keras_threads"]["chosen"] in (0, 1) and len(data["keras_threads"]["samples_per_second"]) == 2
    bm2 = data["BM-2"]["series"]
    assert bm2["study trial ms/step"]["median"] > 0 and bm2["raw loop ms/step"]["median"] > 0
    assert (
        0
        < bm2["raw loop process start-up s"]["median"]
        < bm2["raw loop process start-up s"]["extra"][0]["process_seconds"]
    )
    assert bm2["study process start-up s"]["median"] > 0
    bm3 = data["BM-3"]["series"]
    assert bm3["study.run trials/min"]["median"] > 0 and bm3["peer trials/min"]["median"] > 0
    assert all(0 <= a <= 1 for a in bm3["study.run trials/min"]["extra"][0])
    assert data["BM-4"]["series"]["--workers 2 trials/min"]["median"] > 0
    bm5 = data["BM-5"]["series"]
    assert bm5["K=1 epoch-trials/min"]["median"] > 0 and bm5["K=2 epoch-trials/min"]["median"] > 0
    (run,) = data["BM-6"]["series"]["ours f32"]["extra"]  # one epoch of 512 images: 98.5 % is out of reach
    assert run["reached_epoch"] is None and data["BM-6"]["series"]["ours f32"]["missing"] == 1
    assert 0 < run["startup"] < run["epochs"][0]["seconds"] < run["seconds"] and 0 < run["epochs"][0]["val_acc"] < 1
    for name in BENCHMARKS:  # no arm ran while another was measured
        assert data[name]["isolation"]["measurements"] > 0 and data[name]["isolation"]["paused_cpu_seconds"] == 0
    assert isinstance(data["over_spread"], dict) and "avx" in " ".join(data["machine"]["cpu_flags"])
    markdown = (tmp_path / saved.name.replace(".json", ".md")).read_text()
    for heading in (*BENCHMARKS, "load average", "Isolation", "Spread", "alone", "start-up"):
        assert heading in markdown
    assert markdown in result.stdout
    assert math.isfinite(data["seconds"])


def _answer_light(argv: list[str]) -> subprocess.CompletedProcess[str]:
    code = f"import runpy, sys; sys.argv = ['x', *{argv!r}]\n"
    code += "try: runpy.run_module('study.bench', run_name='__main__')\nexcept SystemExit as e: print('exit', e.code)\n"
    code += "print('heavy', [m for m in ('torch', 'lightning', 'optuna', 'mlflow') if m in sys.modules])"
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)


def test_help_and_a_bad_option_answer_without_torch() -> None:
    """``--help`` and a bad option answer before torch, Lightning, Optuna or MLflow is imported."""
    shown = _answer_light(["--help"])
    assert "--only" in shown.stdout and "exit 0" in shown.stdout and "heavy []" in shown.stdout, shown.stderr
    refused = _answer_light(["--only", "BM-9"])
    assert "exit 2" in refused.stdout and "heavy []" in refused.stdout
    assert "--only: got 'BM-9'; accepted:" in refused.stderr
    bad_sizes = _answer_light(["--batch-sizes", "64,x"])
    assert "exit 2" in bad_sizes.stdout and "--batch-sizes: got '64,x'" in bad_sizes.stderr
