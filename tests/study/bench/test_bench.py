"""``python -m study.bench --smoke``: every benchmark runs end to end and reports its numbers (what CI runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
    assert data["BM-1"]["ours bs 64"]["median"] > 0 and data["BM-1"]["plain bs 64"]["median"] > 0
    assert data["BM-1"]["gemm GFLOP/s"]["median"] > 0
    assert data["BM-2"]["study trial ms/step"]["median"] > 0 and data["BM-2"]["raw loop ms/step"]["median"] > 0
    assert data["BM-3"]["study.run trials/min"]["median"] > 0 and data["BM-3"]["peer trials/min"]["median"] > 0
    assert all(0 <= a <= 1 for a in data["BM-3"]["study.run trials/min"]["accuracies"][0])
    assert data["BM-4"]["--workers 2 trials/min"]["median"] > 0
    assert data["BM-5"]["K=1 epoch-trials/min"]["median"] > 0 and data["BM-5"]["K=2 epoch-trials/min"]["median"] > 0
    markdown = (tmp_path / saved.name.replace(".json", ".md")).read_text()
    for heading in ("BM-1", "BM-2", "BM-3", "BM-4", "BM-5", "load average"):
        assert heading in markdown
    assert markdown in result.stdout
