from __future__ import annotations

from pathlib import Path

import pytest

from study.bench.input_pipeline import main


def test_benchmark_runs_and_reports(mnist_data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--steps", "4", "--warmup", "1", "--repeats", "1", "--batch-size", "16", "--device", "cpu"]
    assert main([*argv, "--data-dir", str(mnist_data_dir)]) == 0
    out = capsys.readouterr().out
    assert "machine:" in out and "cores" in out and "torch" in out
    assert "fast path" in out and "plain DataLoader" in out and "ratio fast/plain" in out


def test_benchmark_without_data_exits_nonzero(
    offline: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(tmp_path), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "MNIST is not available" in err and "Traceback" not in err


def test_bad_arguments_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["--steps", "5", "--warmup", "5"])
    assert info.value.code == 2
