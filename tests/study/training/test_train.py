"""``train()`` on its own: no Optuna, no MLflow, real MNIST files, tiny data."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import torch

import study.training.train
from models.data import ImageDataModule
from study.design.search_space import default_hyperparameters
from study.schema import CUMULATIVE_SECONDS, FINAL_BEST_VAL_ACC, FINAL_TEST_ACC, TRAIN_LOSS, VAL_ACC, VAL_LOSS
from study.training.train import EpochRecord, TrialSpec, train


@pytest.fixture(scope="module")
def data(mnist_data_dir: Path) -> ImageDataModule:
    module = ImageDataModule("mnist", data_dir=mnist_data_dir, train_size=256, seed=0)
    module.prepare_data()
    module.setup("fit")
    return module


def spec(optimizer: str = "adam", **overrides: object) -> TrialSpec:
    values: dict[str, object] = {
        "optimizer": optimizer,
        "hyperparameters": default_hyperparameters(optimizer, "torch"),
        "batch_size": 64,
        "seed": 3,
        "max_epochs": 2,
    }
    values.update(overrides)
    return TrialSpec(**values)  # type: ignore[arg-type]


def test_a_run_returns_every_epoch_and_its_clock(data: ImageDataModule) -> None:
    seen: list[EpochRecord] = []
    result = train(spec(), data, on_epoch=seen.append)
    assert [r.epoch for r in result.history] == [1, 2] and list(result.history) == seen
    for record in result.history:
        assert {VAL_ACC, VAL_LOSS, TRAIN_LOSS, CUMULATIVE_SECONDS} <= set(record.metrics)
        assert record.metrics[CUMULATIVE_SECONDS] == record.seconds
    assert 0 < result.history[0].seconds < result.history[1].seconds <= result.fit_seconds
    assert result.stop_reason is None and result.test_acc is None
    assert result.final_metrics()[FINAL_BEST_VAL_ACC] == result.best_value == max(r.val_acc for r in seen)


def test_the_same_seed_gives_the_same_run(data: ImageDataModule) -> None:
    first, second = train(spec(), data), train(spec(), data)
    assert [r.metrics[VAL_LOSS] for r in first.history] == [r.metrics[VAL_LOSS] for r in second.history]
    other = train(spec(seed=4), data)
    assert [r.metrics[VAL_LOSS] for r in other.history] != [r.metrics[VAL_LOSS] for r in first.history]


def test_the_hook_can_stop_training(data: ImageDataModule) -> None:
    result = train(spec(max_epochs=3), data, on_epoch=lambda record: "enough" if record.epoch == 1 else None)
    assert [r.epoch for r in result.history] == [1]
    assert result.stop_reason == "enough"


def test_divergence_stops_training_with_its_reason(data: ImageDataModule) -> None:
    hyperparameters = {**default_hyperparameters("sgd", "torch"), "lr": 1e4}
    result = train(spec("sgd", hyperparameters=hyperparameters, max_epochs=3), data)
    assert result.stop_reason is not None and result.stop_reason.startswith("diverged: val/loss")
    assert len(result.history) == 1


def test_a_final_run_is_tested_once(data: ImageDataModule) -> None:
    result = train(spec(max_epochs=1, test=True), data)
    assert result.test_acc is not None and 0.0 <= result.test_acc <= 1.0
    assert result.final_metrics()[FINAL_TEST_ACC] == result.test_acc


def test_train_knows_neither_optuna_nor_mlflow() -> None:
    tree = ast.parse(inspect.getsource(study.training.train))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.split(".")[0] in ("optuna", "mlflow") for name in imported), imported


def _first_batches(data: ImageDataModule, seed: int, monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The labels of each epoch's first training batch that ``train()`` feeds the network."""
    from models.classifier import ImageClassifier

    seen: list[list[int]] = []
    step = ImageClassifier._step

    def spy(self: ImageClassifier, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        if stage == "train" and (
            not seen or self.trainer.is_last_batch is False and len(seen) < self.current_epoch + 1
        ):
            seen.append(batch[1][:16].tolist())
        return step(self, batch, stage)

    monkeypatch.setattr(ImageClassifier, "_step", spy)
    train(spec(seed=seed), data)
    monkeypatch.undo()
    return seen


def test_each_trial_seed_orders_the_data_of_every_epoch(data: ImageDataModule, monkeypatch: pytest.MonkeyPatch) -> None:
    one = _first_batches(data, 1, monkeypatch)
    assert len(one) == 2 and one[0] != one[1]  # every epoch reshuffles
    assert _first_batches(data, 1, monkeypatch) == one  # the same seed, the same order
    assert _first_batches(data, 10000, monkeypatch)[0] != one[0]  # another seed, another order


@pytest.mark.slow  # compiling the network takes 20-40 s on this CPU
def test_a_compiled_network_trains_and_saves_under_the_eager_names(data: ImageDataModule, tmp_path: Path) -> None:
    eager = train(spec(), data, checkpoint=tmp_path / "eager.ckpt")
    compiled = train(spec(compile="default"), data, checkpoint=tmp_path / "compiled.ckpt")
    assert compiled.best_value > 0.2 and abs(compiled.best_value - eager.best_value) < 0.1
    names = [set(torch.load(tmp_path / f, weights_only=True)["state_dict"]) for f in ("eager.ckpt", "compiled.ckpt")]
    assert names[0] == names[1]
