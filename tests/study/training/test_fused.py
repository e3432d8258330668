"""Fused trials: K trials trained as one stack follow the trajectories of the same K trials run one by one."""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

import pytest

from models.cnn import ArticleCNN
from models.data import ImageDataModule
from study.design.search_space import default_hyperparameters
from study.schema import TRAIN_ACC, TRAIN_LOSS, VAL_ACC, VAL_LOSS
from study.training.fused import train_fused
from study.training.train import TrialResult, TrialSpec, train

CURVES = (TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC)


@pytest.fixture(scope="module")
def data(mnist_data_dir: Path) -> ImageDataModule:
    module = ImageDataModule("mnist", data_dir=mnist_data_dir, train_size=256, val_size=512, seed=0)
    module.prepare_data()
    module.setup("fit")
    return module


@pytest.fixture
def no_dropout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ArticleCNN built without dropout: the one source of randomness a stack draws differently."""
    build = ArticleCNN.__init__

    def without_dropout(self: ArticleCNN, *args: object, **kwargs: object) -> None:
        build(self, *args, **kwargs)  # type: ignore[arg-type]
        self.dropout1.p = self.dropout2.p = 0.0

    monkeypatch.setattr(ArticleCNN, "__init__", without_dropout)


def specs(optimizer: str, lrs: list[float], **overrides: object) -> list[TrialSpec]:
    base = default_hyperparameters(optimizer, "torch")
    return [
        TrialSpec(
            optimizer=optimizer,
            hyperparameters={**base, "lr": lr},
            batch_size=32,
            seed=10 + k,
            max_epochs=3,
            **overrides,  # type: ignore[arg-type]
        )
        for k, lr in enumerate(lrs)
    ]


def assert_same_curves(fused: TrialResult, alone: TrialResult) -> None:
    """Equal to float32 rounding: ``train()`` reads its metrics back from Lightning's logger, which keeps them
    as float32 tensors, while a stack's are float64 (accuracies, ratios of counts, agree exactly)."""
    assert [r.epoch for r in fused.history] == [r.epoch for r in alone.history]
    for f, a in zip(fused.history, alone.history, strict=True):
        for key in CURVES:
            assert f.metrics[key] == pytest.approx(a.metrics[key], rel=1e-7, abs=1e-12), (key, f.epoch)
    assert fused.stop_reason == alone.stop_reason


@pytest.mark.parametrize(
    ("optimizer", "lrs"),
    [("adam", [1e-3, 3e-3, 3e-4]), ("momentum", [0.01, 0.05, 0.003]), ("adadelta", [1.0, 0.3, 2.0])],
)
def test_a_stack_follows_each_trial_run_alone_in_float64(
    data: ImageDataModule, no_dropout: None, optimizer: str, lrs: list[float]
) -> None:
    group = specs(optimizer, lrs, precision="64-true")
    fused = train_fused(group, data)
    for spec, result in zip(group, fused, strict=True):
        assert_same_curves(result, train(spec, data))


def test_a_stopped_slot_freezes_while_the_others_go_on(data: ImageDataModule, no_dropout: None) -> None:
    group = specs("sgd", [0.05, 1e4, 0.02], precision="64-true")  # slot 1 diverges
    group[2] = dataclasses.replace(group[2], test=True)
    hooks = [lambda r: "pruned" if r.epoch == 2 else None, None, None]
    fused = train_fused(group, data, hooks)
    assert [len(r.history) for r in fused] == [2, 1, 3]
    assert fused[0].stop_reason == "pruned"
    assert fused[1].stop_reason is not None and fused[1].stop_reason.startswith("diverged")
    assert fused[2].stop_reason is None and fused[2].test_acc is not None
    alone = train(group[2], data)
    assert_same_curves(fused[2], alone)
    assert fused[2].test_acc == pytest.approx(alone.test_acc, rel=1e-7)
    assert_same_curves(fused[0], train(group[0], data, on_epoch=hooks[0]))


def test_with_dropout_a_stack_gives_the_same_accuracies_as_trials_alone(data: ImageDataModule) -> None:
    """Dropout masks are drawn for the whole stack, so the numbers differ; their distribution does not."""
    group = specs("adam", [1e-3] * 6)
    fused = [r.history[-1].metrics[VAL_ACC] for r in train_fused(group, data)]
    alone = [train(s, data).history[-1].metrics[VAL_ACC] for s in group]
    spread = max(statistics.stdev(fused), statistics.stdev(alone), 0.005)
    assert abs(statistics.mean(fused) - statistics.mean(alone)) < 3 * spread, (fused, alone)
    assert fused != alone  # the masks really are drawn differently


def test_a_stack_refuses_trials_that_do_not_share_a_program(data: ImageDataModule) -> None:
    with pytest.raises(ValueError, match="share optimizer, batch size"):
        train_fused([*specs("adam", [1e-3]), *specs("sgd", [0.1])], data)
