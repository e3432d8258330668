"""Your model, your data: a task written in a folder outside the package, run by the command line (with two
workers) and by ``study.compare``, and every way its code can be wrong refused in one line before a store exists."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from study.run import main
from testsupport import stores_disagree

if TYPE_CHECKING:
    from study.conftest import TinyStudy

TASK = '''
"""A user's task: an MLP on MNIST images, and MNIST as datasets, in files of their own."""
import torch
from torch import nn
from torch.utils.data import TensorDataset
from torchvision.datasets import MNIST
import lightning as L


def data(seed, data_dir, train_size=512):
    raw = MNIST(data_dir, train=True, download=False)
    images, labels = raw.data.unsqueeze(1).float() / 255.0, raw.targets
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    train, val = order[1000 : 1000 + train_size], order[:1000]
    return TensorDataset(images[train], labels[train]), TensorDataset(images[val], labels[val])


def build(input_shape, num_classes, hidden=32):
    return nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(input_shape).prod()), hidden), nn.ReLU(),
                         nn.Linear(hidden, num_classes))


class Lit(L.LightningModule):
    """A LightningModule of the user's: its own steps and metric names."""

    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.net = build(input_shape, num_classes)

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, index):
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, index):
        x, y = batch
        self.log("val_accuracy", (self.net(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        raise AssertionError("the study hands the optimizer in")


def lightning(input_shape, num_classes):
    return Lit(input_shape, num_classes)


def raising(input_shape, num_classes):
    raise ValueError("no network for this data, on purpose")


def number(input_shape, num_classes):
    return 42


def seven(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 7))


class NoValidation(L.LightningDataModule):
    batch_size = 32

    def train_dataloader(self):
        return torch.utils.data.DataLoader(TensorDataset(torch.zeros(8, 1, 28, 28), torch.zeros(8).long()))


def no_validation(seed):
    return NoValidation()


def text(seed):
    return "not data"
'''


@pytest.fixture
def task(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"  # outside the package, as a user's project would be
    folder.mkdir()
    (folder / "task.py").write_text(textwrap.dedent(TASK))
    (folder / "broken.py").write_text("raise RuntimeError('broken on import, on purpose')\n")
    return folder


def _args(tiny: TinyStudy, task: Path, *extra: str, model: str = "build", data: str = "data") -> list[str]:
    return [
        *tiny.args(**{"--n-trials": "3", "--optimizers": "adam,sgd"}),
        *("--model", f"{task}/task.py:{model}", "--data", f"{task}/task.py:{data}"),
        *extra,
    ]


def _digest(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_user_task_with_two_workers_agrees_exports_and_retrains(
    tiny: TinyStudy, task: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # reports/ lands here
    args = [a for a in _args(tiny, task, "--workers", "2", "--n-trials", "4") if a != "--no-report"]
    assert main(args) == 0
    assert stores_disagree(str(tiny.tmp / "journal.log"), tiny.tracking_uri, "tests", "tiny") == []
    study = tiny.load()
    assert len(study.trials) == 4 and len({t.number for t in study.trials}) == 4
    _, children = tiny.runs()
    assert len(children) == 4  # one run per trial: none twice
    assert all(r.data.params["model"] == f"{task}/task.py:build" for r in children)
    assert all(r.data.params["dataset"] == f"{task}/task.py:data" for r in children)
    out = capsys.readouterr().out
    reports = list(tmp_path.glob("reports/*/report.md"))
    assert len(reports) == 1, out
    best_toml = reports[0].parent / "best.toml"
    text = best_toml.read_text()
    assert f'model = "{task}/task.py:build"' in text and f'data = "{task}/task.py:data"' in text
    best = max((t for t in study.trials if t.value is not None), key=lambda t: t.value or 0.0)
    stores = ["--storage", str(tmp_path / "again.log"), "--tracking-uri", f"sqlite:///{tmp_path}/again.db"]
    assert main(["--config", str(best_toml), *stores, "--data-dir", str(tiny.data_dir), "--no-report"]) == 0
    (retrained,) = tiny.load(study="tiny-best", storage=str(tmp_path / "again.log")).trials
    assert retrained.value == best.value  # the same seed, the same task, the same value


def test_a_lightning_module_of_the_users_keeps_its_steps_and_gets_our_optimizer(tiny: TinyStudy, task: Path) -> None:
    args = _args(tiny, task, "--metric", "val_accuracy", model="lightning")
    assert main(args) == 0
    trials = tiny.load().trials
    assert all(t.state.name == "COMPLETE" and 0.0 < (t.value or 0.0) <= 1.0 for t in trials)
    _, children = tiny.runs()
    assert all("val_accuracy" in r.data.metrics for r in children)


def test_the_python_api_runs_the_same_study_quietly(
    tiny: TinyStudy, task: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from study import compare

    results = compare(
        model=f"{task}/task.py:build",
        data=f"{task}/task.py:data",
        study_name="api",
        storage=str(tiny.tmp / "journal.log"),
        tracking_uri=tiny.tracking_uri,
        experiment="tests",
        data_dir=str(tiny.data_dir),
        n_trials=2,
        max_epochs=1,
        optimizers=["adam", "sgd"],
        batch_sizes=[64],
        report=False,
        quiet=True,
    )
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert results.exit_code == 0 and results.best is not None and results.metric == "val/acc"
    assert results.best.optimizer in ("adam", "sgd") and 0.0 < results.best.value <= 1.0
    assert {row["optimizer"] for row in results.optimizers} == {"adam", "sgd"}
    assert stores_disagree(str(tiny.tmp / "journal.log"), tiny.tracking_uri, "tests", "api") == []


def test_the_python_api_raises_a_typed_error_and_writes_nothing(tiny: TinyStudy, task: Path) -> None:
    from study import compare
    from study.api import StudyInputError

    with pytest.raises(StudyInputError, match="--n-trials: got 0"):
        compare(model=f"{task}/task.py:build", n_trials=0, storage=str(tiny.tmp / "j.log"), quiet=True)
    with pytest.raises(StudyInputError, match="no network for this data"):
        compare(
            model=f"{task}/task.py:raising",
            data=f"{task}/task.py:data",
            storage=str(tiny.tmp / "j.log"),
            tracking_uri=tiny.tracking_uri,
            data_dir=str(tiny.data_dir),
            quiet=True,
        )
    assert [p.name for p in tiny.tmp.iterdir()] == [task.name]  # no store: only the task's own folder


# name -> (extra arguments, model callable, data callable, what the one line must say)
BAD: dict[str, tuple[list[str], str, str, str]] = {
    "module not found": (["--model", "no_such_module_xyz:build"], "build", "data", "No module named"),
    "module that raises on import": (["--model", "{task}/broken.py:build"], "build", "data", "broken on import"),
    "attribute missing": ([], "buld", "data", "has no buld"),
    "callable that raises": ([], "raising", "data", "no network for this data, on purpose"),
    "model of the wrong type": ([], "number", "data", "returned int"),
    "outputs that do not fit the classes": ([], "seven", "data", "logits of shape (batch, 10)"),
    "data module without a validation set": ([], "build", "no_validation", "no validation set"),
    "data of the wrong type": ([], "build", "text", "returned str"),
    "an argument the callable does not take": (["--model-arg", "depth=3"], "build", "data", "does not take"),
    "a metric the model does not log": (["--metric", "val/f1"], "build", "data", "does not log"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_task_code_is_one_line_exit_2_and_nothing_written(
    case: str,
    tiny: TinyStudy,
    task: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    extra, model, data, says = BAD[case]
    extra = [e.replace("{task}", str(task)) for e in extra]
    monkeypatch.chdir(tmp_path)
    before = _digest(tmp_path)
    assert main([*_args(tiny, task, model=model, data=data), *extra]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert says in lines[0] and ("--model" in lines[0] or "--data" in lines[0] or "--metric" in lines[0]), lines[0]
    after = {k: v for k, v in _digest(tmp_path).items() if "__pycache__" not in k}
    assert after == {k: v for k, v in before.items() if "__pycache__" not in k}
