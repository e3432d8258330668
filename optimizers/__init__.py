"""Optimizers written from scratch as ``torch.optim.Optimizer`` subclasses, and a registry of them.

One file per algorithm (``sgd.py``, ``adagrad.py``, ``rmsprop.py``, ``adadelta.py``, ``adam.py``,
``adamw.py``, ``nadam.py``): the class gathers tensors, a module-level function does the arithmetic,
one tensor at a time (``adam``, the readable reference, taken with ``foreach=False``), and its twin
does the same for all of a param group's tensors at once with ``torch._foreach_*`` ops (``adam_foreach``,
the default). Shared pieces live in ``_base.py`` (step loop, choice of path, checks) and
``_primitives.py`` (moving averages, bias correction, weight decay, each with its multi-tensor twin);
``study/bench/optimizer_step.py`` times the two paths. ``stacked.py`` runs the same algorithms over K
models stacked along dimension 0, each slot with its own hyperparameters. ``registry.py`` maps short
names to classes, with PyTorch's defaults::

    from optimizers import build_optimizer

    optimizer = build_optimizer("momentum", model.parameters(), lr=0.05)
"""

from __future__ import annotations

from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .nadam import NAdam
from .registry import OPTIMIZER_NAMES, REGISTRY, OptimizerSpec, build_optimizer, get_spec
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "OPTIMIZER_NAMES",
    "REGISTRY",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "NAdam",
    "OptimizerSpec",
    "RMSprop",
    "build_optimizer",
    "get_spec",
]
