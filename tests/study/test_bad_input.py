"""Bad input: a one-line error naming the option, the value and what is accepted; exit code 2; no traceback;
neither store created nor changed (byte for byte, when one already exists)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from study.run import main

# name -> (arguments, the option the one line must name). "{store}" stands for the store folder, "{toml}" for a
# TOML file holding the case's TOML text (see TOML), "{folder}" for an existing folder, "{readonly}" for a
# folder this user cannot write to.
CASES: dict[str, tuple[list[str], str]] = {
    "unknown optimizer": (["--optimizers", "adam,lamb"], "--optimizers"),
    "empty optimizer list": (["--optimizers", ""], "--optimizers"),
    "optimizer twice": (["--optimizers", "adam,adam"], "--optimizers"),
    "zero trials": (["--n-trials", "0"], "--n-trials"),
    "negative trials": (["--n-trials", "-3"], "--n-trials"),
    "non-numeric trials": (["--n-trials", "many"], "--n-trials"),
    "trials in words": (["--n-trials", "ten"], "--n-trials"),
    "fractional trials": (["--n-trials", "1.5"], "--n-trials"),
    "zero epochs": (["--max-epochs", "0"], "--max-epochs"),
    "epochs not a number": (["--max-epochs", "x"], "--max-epochs"),
    "zero timeout": (["--timeout", "0"], "--timeout"),
    "negative timeout": (["--timeout", "-5"], "--timeout"),
    "infinite timeout": (["--timeout", "inf"], "--timeout"),
    "nan timeout": (["--timeout", "nan"], "--timeout"),
    "timeout in words": (["--timeout", "soon"], "--timeout"),
    "reversed lr range": (["--lr-range", "adam=1e-2:1e-5"], "--lr-range"),
    "lr range without colon": (["--lr-range", "adam=1e-3"], "--lr-range"),
    "lr range not numbers": (["--lr-range", "adam=a:b"], "--lr-range"),
    "lr range from zero": (["--lr-range", "adam=0:1"], "--lr-range"),
    "lr range of unknown optimizer": (["--lr-range", "lamb=1e-5:1e-2"], "--lr-range"),
    "lr range given twice": (["--lr-range", "adam=1e-5:1e-2", "--lr-range", "adam=1e-4:1e-3"], "--lr-range"),
    "lr range of an optimizer not compared": (["--optimizers", "sgd", "--lr-range", "adam=1e-5:1e-2"], "--lr-range"),
    "fixed value of an optimizer not compared": (
        ["--protocol", "seed", "--optimizers", "sgd", "--fixed", "lr_adam=0.001"],
        "--fixed",
    ),
    "fixed value outside the seed protocol": (["--fixed", "lr_adam=0.001"], "--fixed"),
    "fixed value not a number": (["--protocol", "seed", "--fixed", "lr_adam=fast"], "--fixed"),
    "fixed value of no parameter": (["--protocol", "seed", "--fixed", "batch_adam=3"], "--fixed"),
    "unknown dataset": (["--dataset", "imagenet"], "--dataset"),
    "unknown sampler": (["--sampler", "grid"], "--sampler"),
    "unknown pruner": (["--pruner", "patient"], "--pruner"),
    "unknown defaults": (["--defaults", "tf"], "--defaults"),
    "unknown normalization": (["--normalize", "zscore"], "--normalize"),
    "unknown protocol": (["--protocol", "best"], "--protocol"),
    "unknown device": (["--device", "tpu"], "--device"),
    "unknown precision": (["--precision", "8-bit"], "--precision"),
    "float16 autocast on the CPU": (["--precision", "16-mixed", "--device", "cpu"], "--precision"),
    "zero training samples": (["--train-size", "0"], "--train-size"),
    "negative training samples": (["--train-size", "-1"], "--train-size"),
    "subset larger than the split": (["--train-size", "100000"], "--train-size"),
    "training samples in words": (["--train-size", "many"], "--train-size"),
    "a zero batch size": (["--batch-sizes", "64,0"], "--batch-sizes"),
    "a batch size twice": (["--batch-sizes", "64,64"], "--batch-sizes"),
    "a batch size not a number": (["--batch-sizes", "64,abc"], "--batch-sizes"),
    "no batch size": (["--batch-sizes", ""], "--batch-sizes"),
    "negative seed": (["--seed", "-1"], "--seed"),
    "seed beyond 32 bits": (["--seed", "4294967296"], "--seed"),
    "seed not a number": (["--seed", "x"], "--seed"),
    "negative split seed": (["--split-seed", "-1"], "--split-seed"),
    "zero seeds": (["--seeds", "0"], "--seeds"),
    "zero workers": (["--workers", "0"], "--workers"),
    "several workers on SQLite": (["--workers", "2", "--storage", "sqlite:///{store}/optuna.db"], "--workers"),
    "zero threads": (["--threads-per-worker", "0"], "--threads-per-worker"),
    "zero heartbeat": (["--heartbeat-seconds", "0"], "--heartbeat-seconds"),
    "study name with a quote": (["--study-name", "it's"], "--study-name"),
    "study name with a slash and a space": (["--study-name", "a/b c"], "--study-name"),
    "study name as an absolute path": (["--study-name", "/tmp/x"], "--study-name"),
    "study name with a dot": (["--study-name", "a.final"], "--study-name"),
    "empty study name": (["--study-name", ""], "--study-name"),
    "study name too long": (["--study-name", "x" * 101], "--study-name"),
    "empty experiment": (["--experiment", ""], "--experiment"),
    "unreachable postgres storage": (["--storage", "postgresql://nobody@127.0.0.1:1/none"], "--storage"),
    "storage of unknown scheme": (["--storage", "redis://127.0.0.1:1"], "--storage"),
    "storage in a missing folder": (["--storage", "/nonexistent/dir/journal.log"], "--storage"),
    "storage that is a folder": (["--storage", "{folder}"], "--storage"),
    "storage in a read-only folder": (["--storage", "{readonly}/journal.log"], "--storage"),
    "unreachable tracking server": (["--tracking-uri", "http://127.0.0.1:1"], "--tracking-uri"),
    "file tracking store": (["--tracking-uri", "file:./mlruns"], "--tracking-uri"),
    "tracking store of unknown scheme": (["--tracking-uri", "ftp://127.0.0.1/x"], "--tracking-uri"),
    "tracking db in a missing folder": (["--tracking-uri", "sqlite:////nonexistent/dir/m.db"], "--tracking-uri"),
    "tracking db that is a folder": (["--tracking-uri", "sqlite:///{folder}"], "--tracking-uri"),
    "tracking db in a read-only folder": (["--tracking-uri", "sqlite:///{readonly}/m.db"], "--tracking-uri"),
    "unknown option": (["--learning-rate", "0.1"], "--learning-rate"),
    "config file missing": (["--config", "{store}/missing.toml"], "--config"),
    "config file is a folder": (["--config", "{folder}"], "--config"),
    "config file not TOML": (["--config", "{toml}"], "--config"),
    "config with an unknown key": (["--config", "{toml}"], "learning_rate"),
    "config storage a number": (["--config", "{toml}"], "--storage"),
    "config study name a number": (["--config", "{toml}"], "--study-name"),
    "config timeout true": (["--config", "{toml}"], "--timeout"),
    "config trials in words": (["--config", "{toml}"], "--n-trials"),
    "config optimizers a number": (["--config", "{toml}"], "--optimizers"),
    "config batch size twice": (["--config", "{toml}"], "--batch-sizes"),
    "config lr range of one number": (["--config", "{toml}"], "--lr-range"),
    "config report as text": (["--config", "{toml}"], "--no-report"),
    "config trials as a string": (["--config", "{toml}"], "--n-trials"),
    "config batch sizes as a string": (["--config", "{toml}"], "--batch-sizes"),
    "in-memory storage": (["--storage", "sqlite://"], "--storage"),
    "in-memory sqlite storage": (["--storage", "sqlite:///:memory:"], "--storage"),
    "in-memory tracking store": (["--tracking-uri", "sqlite://"], "--tracking-uri"),
    "in-memory sqlite tracking store": (["--tracking-uri", "sqlite:///:memory:"], "--tracking-uri"),
    "more workers than cores": (["--workers", "1000"], "--workers"),
    "more threads than cores": (["--threads-per-worker", "1000"], "--threads-per-worker"),
    "a batch larger than the training set": (["--train-size", "100", "--batch-sizes", "64,128"], "--batch-sizes"),
    "heartbeat of a lifetime": (["--heartbeat-seconds", "1e12"], "--heartbeat-seconds"),
    "data folder missing": (["--data-dir", "{store}/nodata"], "--data-dir"),
    "data folder a file": (["--data-dir", "{toml}"], "--data-dir"),
    "data folder empty": (["--data-dir", "{folder}"], "--data-dir"),
    "a corrupt MNIST file": (["--data-dir", "{corrupt}"], "--data-dir"),
    "cifar10 offline": (["--dataset", "cifar10", "--data-dir", "{folder}"], "--data-dir"),
    "unknown schedule": (["--schedule", "step"], "--schedule"),
    "warm-up of every step": (["--warmup", "1"], "--warmup"),
    "negative warm-up": (["--warmup", "-0.1"], "--warmup"),
    "warm-up in words": (["--warmup", "some"], "--warmup"),
    "schedule for schedule-free AdamW": (
        ["--optimizers", "adam,schedulefree_adamw", "--schedule", "cosine"],
        "--schedule",
    ),
    "warm-up for schedule-free AdamW": (["--optimizers", "schedulefree_adamw", "--warmup", "0.1"], "--warmup"),
    "searched schedule for schedule-free AdamW": (
        ["--optimizers", "schedulefree_adamw", "--search-schedule"],
        "--search-schedule",
    ),
    "stacked trials of Muon": (["--optimizers", "adam,muon", "--fuse", "2"], "--fuse"),
    "lr range of Muon's AdamW side": (["--lr-range", "adamw_lr_muon=1e-4:1e-2"], "--lr-range"),
}
TOML = {
    "config file not TOML": "n_trials = = 3\n",
    "config with an unknown key": "n_trials = 2\nlearning_rate = 0.1\n",
    "config storage a number": "storage = 5\n",
    "config study name a number": "study_name = 7\n",
    "config timeout true": "timeout = true\n",
    "config trials in words": 'n_trials = "ten"\n',
    "config optimizers a number": "optimizers = 5\n",
    "config batch size twice": "batch_sizes = [64, 64]\n",
    "config lr range of one number": "[lr_range]\nadam = [1e-3]\n",
    "config report as text": 'report = "yes"\n',
    "config trials as a string": 'n_trials = "5"\n',
    "config batch sizes as a string": 'batch_sizes = "32,64"\n',
}


@contextmanager
def read_only_folder(base: Path) -> Iterator[Path]:
    """A folder this user cannot write to: a read-only mount for root (who ignores permissions), else 0o555."""
    folder = base / "readonly"
    folder.mkdir()
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], check=False)
        if mounted.returncode != 0:
            pytest.skip("cannot mount a read-only folder here")
        try:
            yield folder
        finally:
            subprocess.run(["umount", str(folder)], check=False)
    else:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)


def _digest(folder: Path, but: Path | None = None) -> dict[str, str]:
    """Every file and folder below ``folder`` (except below ``but``), files by their content."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
        for p in sorted(folder.rglob("*"))
        if but is None or (p != but and but not in p.parents)
    }


@pytest.fixture(scope="module")
def existing_store(tmp_path_factory: pytest.TempPathFactory, mnist_data_dir: Path) -> Path:
    """The stores of a finished tiny study: bad input must leave them byte-identical."""
    store = tmp_path_factory.mktemp("existing")
    code = main(
        [
            *("--tracking-uri", f"sqlite:///{store}/mlflow.db", "--storage", str(store / "journal.log")),
            *("--data-dir", str(mnist_data_dir), "--train-size", "128", "--n-trials", "1", "--max-epochs", "1"),
            *("--experiment", "tests", "--study-name", "tiny", "--no-report", "--optimizers", "adam"),
            *("--batch-sizes", "64"),
        ]
    )
    assert code == 0
    return store


@pytest.fixture(scope="module")
def corrupt_data(tmp_path_factory: pytest.TempPathFactory, mnist_data_dir: Path) -> Path:
    """MNIST's files with one of them cut short, as an interrupted copy leaves it."""
    root = tmp_path_factory.mktemp("corrupt")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in (mnist_data_dir / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(gz, raw / gz.name)
    labels = raw / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:1000])
    return root


@pytest.mark.parametrize("existing", [False, True], ids=["fresh", "existing"])
@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    case: str,
    existing: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mnist_data_dir: Path,
    existing_store: Path,
    corrupt_data: Path,
    offline: None,
) -> None:
    extra, option = CASES[case]
    store = tmp_path / "stores"
    if existing:
        shutil.copytree(existing_store, store)
    else:
        store.mkdir()
    folder = tmp_path / "a-folder"
    folder.mkdir()
    toml = tmp_path / "study.toml"
    toml.write_text(TOML.get(case, ""))
    cwd = tmp_path / "cwd"  # where a default store (mlruns/) would land
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    with read_only_folder(tmp_path) as readonly:
        before, data_before = _digest(tmp_path, but=readonly), _digest(corrupt_data)
        fill = {"{store}": str(store), "{folder}": str(folder), "{toml}": str(toml), "{readonly}": str(readonly)}
        fill["{corrupt}"] = str(corrupt_data)
        args = []
        for arg in extra:
            for key, value in fill.items():
                arg = arg.replace(key, value)
            args.append(arg)
        stores = ["--tracking-uri", f"sqlite:///{store}/mlflow.db", "--storage", str(store / "journal.log")]
        with pytest.raises(SystemExit) as exited:
            raise SystemExit(main([*stores, "--data-dir", str(mnist_data_dir), "--study-name", "tiny", *args]))
        after = _digest(tmp_path, but=readonly)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert option in lines[0] and "Traceback" not in captured.err
    assert "accepted" in lines[0] or "unrecognized" in lines[0] or "unknown option" in lines[0], lines[0]
    assert captured.out == ""
    assert after == before  # the stores byte for byte, the data folders, the working folder: nothing written
    assert _digest(corrupt_data) == data_before


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_gpu_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--device", "cuda", "--storage", str(tmp_path / "j.log")]) == 2
    assert "--device" in capsys.readouterr().err


def test_command_line_exit_code_and_single_line(tmp_path: Path) -> None:
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


def test_missing_dataset_gives_the_data_error_and_nonzero_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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


@pytest.mark.parametrize(
    "given",
    [
        ["--data-dir", "{tmp}/no-such-folder"],
        ["--data-dir", "{tmp}"],  # exists, but MNIST's files are not in it: left to the download, which is heavy
        ["--storage", "sqlite://"],
        ["--storage", "{tmp}/missing/journal.log"],
        ["--tracking-uri", "sqlite:///{tmp}/missing/mlflow.db"],
        ["--workers", "1000"],
        ["--train-size", "50", "--batch-sizes", "64"],
    ],
    ids=["missing data", "empty data", "in-memory storage", "storage folder", "tracking folder", "workers", "batch"],
)
def test_bad_input_is_refused_before_the_heavy_stack_loads(given: list[str], tmp_path: Path) -> None:
    """Option, file and store checks answer before torch, Lightning, Optuna or MLflow are imported (seconds)."""
    args = [a.replace("{tmp}", str(tmp_path)) for a in given]
    stores = ["--storage", str(tmp_path / "j.log"), "--tracking-uri", f"sqlite:///{tmp_path}/m.db"]
    code = (
        "import json, sys\nfrom study.run import main\n"
        f"code = main({json.dumps([*stores, *args])})\n"
        "print(json.dumps([code, [m for m in ('torch', 'lightning', 'optuna', 'mlflow') if m in sys.modules]]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    exit_code, heavy = json.loads(result.stdout.strip().splitlines()[-1])
    if args[:2] == ["--data-dir", str(tmp_path)]:
        assert exit_code == 2 and "download" in result.stderr  # the one case that needs torchvision to decide
        return
    assert exit_code == 2, result.stderr
    assert heavy == [], f"refused only after importing {heavy}: {result.stderr}"
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [("OPTUNA_STORAGE", "redis://127.0.0.1:1"), ("OPTUNA_STORAGE", "sqlite://"), ("MLFLOW_TRACKING_URI", "sqlite://")],
)
def test_a_bad_store_from_the_environment_names_the_variable(
    variable: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(variable, value)
    monkeypatch.chdir(tmp_path)
    assert main(["--n-trials", "1"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.count("\n") == 0 and line.startswith(f"python -m study.run: error: {variable}:"), line
    assert list(tmp_path.iterdir()) == []  # not even mlruns/
