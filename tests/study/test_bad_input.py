"""Bad input: a one-line error naming the option, exit code 2, and nothing written to either store."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from study.run import main

CASES = {
    "unknown optimizer": (["--optimizers", "adam,lion"], "--optimizers"),
    "zero trials": (["--n-trials", "0"], "--n-trials"),
    "negative trials": (["--n-trials", "-3"], "--n-trials"),
    "non-numeric trials": (["--n-trials", "many"], "--n-trials"),
    "reversed lr range": (["--lr-range", "adam=1e-2:1e-5"], "--lr-range"),
    "lr range without colon": (["--lr-range", "adam=1e-3"], "--lr-range"),
    "lr range not numbers": (["--lr-range", "adam=a:b"], "--lr-range"),
    "lr range of unknown optimizer": (["--lr-range", "lion=1e-5:1e-2"], "--lr-range"),
    "unknown dataset": (["--dataset", "imagenet"], "--dataset"),
    "unknown sampler": (["--sampler", "grid"], "--sampler"),
    "subset larger than the split": (["--train-size", "100000"], "--train-size"),
    "bad batch sizes": (["--batch-sizes", "64,0"], "--batch-sizes"),
    "unreachable postgres storage": (["--storage", "postgresql://nobody@127.0.0.1:1/none"], "--storage"),
    "storage of unknown scheme": (["--storage", "redis://127.0.0.1:1"], "--storage"),
    "storage in a missing folder": (["--storage", "/nonexistent/dir/journal.log"], "--storage"),
    "unreachable tracking server": (["--tracking-uri", "http://127.0.0.1:1"], "--tracking-uri"),
    "file tracking store": (["--tracking-uri", "file:./mlruns"], "--tracking-uri"),
    "tracking db in a missing folder": (
        ["--tracking-uri", "sqlite:////nonexistent/dir/m.db"],
        "--tracking-uri",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_option_exits_2_with_one_line_and_writes_nothing(case, tmp_path, capsys, mnist_data_dir) -> None:
    extra, option = CASES[case]
    store = tmp_path / "stores"
    store.mkdir()
    args = [
        "--tracking-uri",
        f"sqlite:///{store}/mlflow.db",
        "--storage",
        str(store / "journal.log"),
        "--data-dir",
        str(mnist_data_dir),
        *extra,
    ]
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(main(args))
    assert exited.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert option in lines[0]
    assert captured.out == ""
    assert list(store.iterdir()) == []


def test_unknown_toml_key_is_rejected(tmp_path, capsys) -> None:
    config = tmp_path / "study.toml"
    config.write_text("n_trials = 2\nlearning_rate = 0.1\n")
    assert main(["--config", str(config), "--storage", str(tmp_path / "j.log")]) == 2
    err = capsys.readouterr().err.strip()
    assert "learning_rate" in err and len(err.splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_gpu_is_bad_input(tmp_path, capsys) -> None:
    assert main(["--device", "cuda", "--storage", str(tmp_path / "j.log")]) == 2
    assert "--device" in capsys.readouterr().err


def test_command_line_exit_code_and_single_line(tmp_path) -> None:
    """The real entry point, as a user runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "study.run", "--n-trials", "0", "--storage", str(tmp_path / "j.log")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "--n-trials" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_dataset_gives_the_data_error_and_nonzero_exit(tmp_path, capsys) -> None:
    empty = tmp_path / "no-data"
    empty.mkdir()
    store = tmp_path / "stores"
    store.mkdir()
    code = main(
        [
            "--data-dir",
            str(empty),
            "--tracking-uri",
            f"sqlite:///{store}/mlflow.db",
            "--storage",
            str(store / "journal.log"),
        ]
    )
    assert code != 0
    err = capsys.readouterr().err
    assert "MNIST" in err and "train-images-idx3-ubyte" in err
    assert list(store.iterdir()) == []
