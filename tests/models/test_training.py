"""Training end to end on real MNIST: every registry optimizer, overfitting, the article's first epoch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F

from models.classifier import ImageClassifier
from models.cnn import ArticleCNN
from models.data import ImageDataModule
from models.train_eval_switch import TrainEvalSwitch
from optimizers.muon import muon_adamw_param_groups
from optimizers.registry import OPTIMIZER_NAMES, build_optimizer
from study.design.search_space import default_hyperparameters

KERAS_ADAM_EPS = 1e-7  # the article's Adam: tf.keras' defaults (lr 1e-3 as torch, epsilon 1e-7)


def subset(real_data_dir: Path, n: int, batch_size: int, seed: int = 0) -> ImageDataModule:
    dm = ImageDataModule("mnist", data_dir=real_data_dir, train_size=n, batch_size=batch_size, seed=seed)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def eval_loss_and_acc(net: torch.nn.Module, dm: ImageDataModule) -> tuple[float, float]:
    """Mean loss and accuracy of ``net`` (eval mode) over the training split, in order."""
    loader = dm.train_dataloader()
    loader.sampler = None
    was_training = net.training
    net.eval()
    with torch.no_grad():
        logits, labels = zip(*((net(x), y) for x, y in loader), strict=True)
    net.train(was_training)  # Lightning keeps a module's mode: fit must not start with dropout off
    logits_all, labels_all = torch.cat(logits), torch.cat(labels)
    acc = (logits_all.argmax(1) == labels_all).float().mean().item()
    return F.cross_entropy(logits_all, labels_all).item(), acc


def test_fast_dev_run_smoke(real_data_dir: Path, make_trainer: Callable[..., L.Trainer]) -> None:
    dm = subset(real_data_dir, 256, 32)
    net = ArticleCNN()
    before = [p.detach().clone() for p in net.parameters()]
    model = ImageClassifier(net, lambda params: build_optimizer("adam", params))
    trainer = make_trainer(fast_dev_run=2)
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 2  # two optimizer steps, then validation on two batches
    assert all(not torch.equal(b, p) for b, p in zip(before, net.parameters(), strict=True))
    assert {"train/loss", "val/loss", "val/acc"} <= set(trainer.callback_metrics)
    assert 0.0 < float(trainer.callback_metrics["val/loss"]) < 10.0


@pytest.mark.parametrize("convention", ["torch", "keras"])
@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_every_registry_optimizer_trains(
    real_data_dir: Path, make_trainer: Callable[..., L.Trainer], name: str, convention: str
) -> None:
    torch.manual_seed(0)
    dm = subset(real_data_dir, 256, 32)
    net = ArticleCNN()
    before = [p.detach().clone() for p in net.parameters()]
    loss_before, _ = eval_loss_and_acc(net, dm)
    hyperparameters = default_hyperparameters(name, convention)  # the two default sets a study trains with
    # Muon's hybrid takes the network's parameters split in two groups (the output layer to AdamW, as a study does)
    groups = muon_adamw_param_groups(net.named_parameters(), ["fc2"])[0] if name == "muon" else None
    model = ImageClassifier(net, lambda params: build_optimizer(name, groups or params, **hyperparameters))
    trainer = make_trainer(max_epochs=2, limit_val_batches=0, callbacks=[TrainEvalSwitch()])  # Schedule-Free's modes
    trainer.fit(model, datamodule=dm)  # 16 steps
    assert all(not torch.equal(b, p) for b, p in zip(before, net.parameters(), strict=True))
    loss_after, _ = eval_loss_and_acc(net, dm)
    assert loss_after < loss_before, (loss_before, loss_after)


def test_overfits_256_images(real_data_dir: Path, make_trainer: Callable[..., L.Trainer]) -> None:
    torch.manual_seed(0)
    dm = subset(real_data_dir, 256, 32)
    net = ArticleCNN()
    model = ImageClassifier(net, lambda params: build_optimizer("adam", params, eps=KERAS_ADAM_EPS))
    make_trainer(max_epochs=15, limit_val_batches=0).fit(model, datamodule=dm)
    _, acc = eval_loss_and_acc(net, dm)
    assert acc >= 0.99


def test_same_seed_same_run(real_data_dir: Path, make_trainer: Callable[..., L.Trainer]) -> None:
    def run() -> list[torch.Tensor]:
        L.seed_everything(7, verbose=False)
        net = ArticleCNN()
        model = ImageClassifier(net, lambda params: build_optimizer("momentum", params))
        make_trainer(max_epochs=2, limit_val_batches=0).fit(model, datamodule=subset(real_data_dir, 128, 32))
        return [p.detach().clone() for p in net.parameters()]

    assert all(torch.equal(a, b) for a, b in zip(run(), run(), strict=True))


@pytest.mark.slow  # a full MNIST epoch: about 30 s on 2 cores
def test_article_first_epoch_reaches_97_5(real_data_dir: Path, make_trainer: Callable[..., L.Trainer]) -> None:
    """The article's first epoch: batch 64, Adam at Keras' defaults, Keras init, x / 255, all 60k images
    (938 steps), validated on the 10k test set as the article did: >= 97.5% (the article: 97.72%).

    Over seeds 0-4 this setting gives 97.78% +- 0.11% (min 97.61%) on the 2-core Xeon here. With a 55k/5k
    split instead, seeds 0-7 give 97.37% +- 0.21%: the held-out 5k validation images are harder than the test set.
    """
    L.seed_everything(1, verbose=False)
    dm = ImageDataModule("mnist", data_dir=real_data_dir, batch_size=64, validate_on_test=True)
    model = ImageClassifier(ArticleCNN(init="keras"), lambda p: build_optimizer("adam", p, eps=KERAS_ADAM_EPS))
    trainer = make_trainer(max_epochs=1, num_sanity_val_steps=0)
    trainer.fit(model, datamodule=dm)
    assert dm.num_train_samples == 60000 and trainer.global_step == 938
    val_acc = trainer.callback_metrics["val/acc"].item()
    assert val_acc >= 0.975, val_acc
