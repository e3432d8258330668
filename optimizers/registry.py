"""Short names for the optimizers: a name -> class map, with each class's defaults read from its signature.

Sixteen names cover fourteen classes: ``momentum`` and ``nesterov`` are :class:`SGD` with a preset
(``momentum=0.9, lr=0.01``, and ``nesterov=True``), since both libraries default to ``momentum=0``.
Everything else a name builds with is the class's own constructor default, so the registry cannot drift
from the classes; those defaults are the reference implementation's (``torch.optim``'s, and for ``lion``,
``schedulefree_adamw`` and ``prodigy`` those of ``lion_pytorch``, ``schedulefree`` and ``prodigyopt``).
Search settings (learning-rate ranges, other libraries' defaults) are not an optimizer's business: they
live with the search, in ``study``.

Three names ask more of their caller than a list of parameters:

* ``muon`` builds :class:`~optimizers.muon.MuonWithAdamW`, Muon for the hidden weight matrices and
  convolution kernels and AdamW for the rest (biases, the output layer): every param group says which with
  ``"use_muon"``, and :func:`~optimizers.muon.muon_adamw_param_groups` builds them from
  ``model.named_parameters()``. ``adamw_lr`` is the AdamW side's learning rate.
* ``schedulefree_adamw`` builds :class:`~optimizers.schedulefree_adamw.AdamWScheduleFree`, which starts in
  eval mode: ``.train()`` before stepping, ``.eval()`` before evaluating or saving
  (:mod:`optimizers.train_eval` says where a training loop switches).
* ``prodigy`` builds :class:`~optimizers.prodigy.Prodigy`, whose one step-size estimate is shared by all param
  groups: each group's ``lr`` must be the largest group's or 0.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .lion import Lion
from .muon import MuonWithAdamW
from .nadam import NAdam
from .prodigy import Prodigy
from .radam import RAdam
from .rmsprop import RMSprop
from .schedulefree_adamw import AdamWScheduleFree
from .sgd import SGD

__all__ = ["OPTIMIZER_NAMES", "REGISTRY", "OptimizerSpec", "build_optimizer", "get_spec"]


def _signature_defaults(cls: type[torch.optim.Optimizer]) -> dict[str, Any]:
    """Every keyword of ``cls.__init__`` except ``params``, with its default value."""
    parameters = inspect.signature(cls.__init__).parameters
    return {
        name: p.default
        for name, p in parameters.items()
        if name not in ("self", "params") and p.default is not inspect.Parameter.empty
    }


@dataclass(frozen=True)
class OptimizerSpec:
    """One registry entry: a class and the constructor values its name presets."""

    name: str  # registry name, e.g. "momentum"
    cls: type[torch.optim.Optimizer]  # the class built by ``build_optimizer``
    description: str  # one line, e.g. "SGD with heavy-ball momentum 0.9"
    preset: Mapping[str, Any] = field(default_factory=dict)  # values that differ from the class defaults

    def __post_init__(self) -> None:
        unknown = set(self.preset) - set(_signature_defaults(self.cls))
        if unknown:
            raise ValueError(f"{self.name}: preset names unknown keywords {sorted(unknown)}")
        object.__setattr__(self, "preset", MappingProxyType(dict(self.preset)))

    def defaults(self) -> dict[str, Any]:
        """A fresh dict of every constructor keyword (``lr`` included): the class defaults, then the preset."""
        return {**_signature_defaults(self.cls), **self.preset}


_SPECS = (
    OptimizerSpec("sgd", SGD, "plain SGD, no momentum"),
    OptimizerSpec("momentum", SGD, "SGD with heavy-ball momentum 0.9", {"lr": 0.01, "momentum": 0.9}),
    OptimizerSpec("nesterov", SGD, "SGD with Nesterov momentum 0.9", {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    OptimizerSpec("adagrad", Adagrad, "Adagrad: steps scaled by accumulated squared gradients"),
    OptimizerSpec("rmsprop", RMSprop, "RMSprop: steps scaled by a moving average of squared gradients"),
    OptimizerSpec("adadelta", Adadelta, "Adadelta: unit-corrected steps, natural lr near 1"),
    OptimizerSpec("adam", Adam, "Adam: bias-corrected moving averages of the gradient and its square"),
    OptimizerSpec("adamw", AdamW, "AdamW: Adam with decoupled weight decay"),
    OptimizerSpec("nadam", NAdam, "NAdam: Adam with Nesterov momentum"),
    OptimizerSpec("radam", RAdam, "RAdam: Adam with momentum steps first, then a rectified adaptive step"),
    OptimizerSpec("adamax", Adamax, "Adamax: Adam with an exponentially weighted infinity norm for the second moment"),
    OptimizerSpec("adafactor", Adafactor, "Adafactor: factored second moment, steps relative to each tensor's scale"),
    OptimizerSpec("lion", Lion, "Lion: the sign of a momentum-gradient blend, one step size for every coordinate"),
    OptimizerSpec(
        "muon",
        MuonWithAdamW,
        "Muon + AdamW, the hybrid a whole network can use: Muon for hidden matrices and kernels, AdamW for the rest",
    ),
    OptimizerSpec(
        "schedulefree_adamw",
        AdamWScheduleFree,
        "Schedule-Free AdamW: averaged iterates instead of an lr schedule; .train() to step, .eval() to evaluate",
    ),
    OptimizerSpec("prodigy", Prodigy, "Prodigy: Adam with its step size estimated on the fly (lr a multiplier, 1.0)"),
)

REGISTRY: Mapping[str, OptimizerSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
OPTIMIZER_NAMES: tuple[str, ...] = tuple(REGISTRY)


def get_spec(name: str) -> OptimizerSpec:
    """The registry entry for ``name``; ``ValueError`` listing the accepted names if there is none."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown optimizer {name!r}; accepted: {', '.join(OPTIMIZER_NAMES)}") from None


def build_optimizer(
    name: str, params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], **overrides: Any
) -> torch.optim.Optimizer:
    """Construct the optimizer registered as ``name`` over ``params``.

    Args:
        name: a registry name, one of :data:`OPTIMIZER_NAMES`.
        params: parameters or param groups, as for any ``torch.optim.Optimizer`` (``muon`` takes groups marked
            ``"use_muon"``, see the module docstring).
        **overrides: hyperparameters replacing the defaults, e.g. ``lr=3e-4``. A key the optimizer
            does not take raises ``ValueError`` naming it and the accepted keys.
    """
    spec = get_spec(name)
    kwargs = spec.defaults()
    unknown = [key for key in overrides if key not in kwargs]
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {', '.join(map(repr, unknown))} for optimizer {name!r}; "
            f"accepted: {', '.join(kwargs)}"
        )
    kwargs.update(overrides)
    return spec.cls(params, **kwargs)
