"""Optimizers written from scratch as ``torch.optim.Optimizer`` subclasses, and a registry of them.

One file per algorithm (``sgd.py``, ``adagrad.py``, ``rmsprop.py``, ``adadelta.py``, ``adam.py``,
``adamw.py``, ``nadam.py``, ``radam.py``, ``adamax.py``, ``adafactor.py``, ``lion.py``, ``muon.py``,
``schedulefree_adamw.py``, ``prodigy.py``): the class gathers tensors, a module-level function does the
arithmetic, one tensor at a time (``adam``, the readable reference, taken with ``foreach=False``), and its twin
does the same for all of a param group's tensors at once with ``torch._foreach_*`` ops (``adam_foreach``,
the default). Shared pieces live in ``_base.py`` (step loop, choice of path, checks) and
``_primitives.py`` (moving averages, bias correction, weight decay, each with its multi-tensor twin);
``study/bench/optimizer_step.py`` times the two paths. ``muon.py`` also holds :class:`MuonWithAdamW`, Muon for
a network's hidden matrices beside AdamW for the rest, and ``muon_adamw_param_groups``, which splits a model's
parameters between them; ``train_eval.py`` switches optimizers that have a train and an eval mode
(:class:`AdamWScheduleFree`) where a training loop must. ``stacked.py`` runs the first seven algorithms over
K models stacked along dimension 0, each slot with its own hyperparameters. ``registry.py`` maps short
names to classes, with the reference implementations' defaults::

    from optimizers import build_optimizer

    optimizer = build_optimizer("momentum", model.parameters(), lr=0.05)
"""

from __future__ import annotations

from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .lion import Lion
from .muon import Muon, MuonWithAdamW
from .nadam import NAdam
from .prodigy import Prodigy
from .radam import RAdam
from .registry import OPTIMIZER_NAMES, REGISTRY, OptimizerSpec, build_optimizer, get_spec
from .rmsprop import RMSprop
from .schedulefree_adamw import AdamWScheduleFree
from .sgd import SGD

__all__ = [
    "OPTIMIZER_NAMES",
    "REGISTRY",
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "AdamWScheduleFree",
    "Adamax",
    "Lion",
    "Muon",
    "MuonWithAdamW",
    "NAdam",
    "OptimizerSpec",
    "Prodigy",
    "RAdam",
    "RMSprop",
    "build_optimizer",
    "get_spec",
]
