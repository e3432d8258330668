"""What ``ScratchOptimizer`` holds once for every optimizer: one read of a group's hyperparameters per step,
handed to either path, and the Args entries every class docstring shares."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch

from optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, NAdam, RMSprop
from optimizers._base import ScratchOptimizer, _foreach_doc, _maximize_doc, _params_doc, shared_args_doc
from optimizers.adadelta import adadelta, adadelta_foreach
from optimizers.adafactor import Adafactor, adafactor, adafactor_foreach
from optimizers.adagrad import adagrad, adagrad_foreach
from optimizers.adam import adam, adam_foreach
from optimizers.adamax import Adamax, adamax, adamax_foreach
from optimizers.lion import Lion, lion, lion_foreach
from optimizers.muon import Muon, MuonWithAdamW
from optimizers.nadam import nadam, nadam_foreach
from optimizers.radam import RAdam, radam, radam_foreach
from optimizers.rmsprop import rmsprop, rmsprop_foreach
from optimizers.sgd import sgd, sgd_foreach

ALL = [SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW, NAdam, Lion, RAdam, Adamax, Adafactor]
DOCUMENTED = [*ALL, Muon, MuonWithAdamW]  # Muon's classes refuse the 1-D tensors the other tests here step
FUNCTIONS: dict[type[torch.optim.Optimizer], tuple[Callable[..., Any], Callable[..., Any]]] = {
    SGD: (sgd, sgd_foreach),
    Adagrad: (adagrad, adagrad_foreach),
    RMSprop: (rmsprop, rmsprop_foreach),
    Adadelta: (adadelta, adadelta_foreach),
    Adam: (adam, adam_foreach),
    AdamW: (adam, adam_foreach),
    NAdam: (nadam, nadam_foreach),
    Lion: (lion, lion_foreach),
    RAdam: (radam, radam_foreach),
    Adamax: (adamax, adamax_foreach),
    Adafactor: (adafactor, adafactor_foreach),
}


def _keyword_only(function: Callable[..., Any]) -> set[str]:
    parameters = inspect.signature(function).parameters.values()
    return {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


@pytest.mark.parametrize("cls", ALL)
def test_a_group_is_read_once_per_step_into_every_keyword_of_the_update_functions(
    cls: type[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both paths of a group get the very mapping read for it, which holds each keyword of the update function
    and of its multi-tensor twin but the step count."""
    single, multi = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    optimizer = cls([{"params": [single], "foreach": False}, {"params": [multi], "foreach": True, "lr": 0.5}])
    read = cls._hyperparameters
    reads: list[object] = []
    handed: list[object] = []

    def counted(self: ScratchOptimizer[Any], group: dict[str, Any]) -> object:
        reads.append(read(self, group))
        return reads[-1]

    monkeypatch.setattr(cls, "_hyperparameters", counted)
    monkeypatch.setattr(cls, "_update", lambda self, param, grad, state, values: handed.append(values))
    monkeypatch.setattr(cls, "_update_group", lambda self, params, grads, states, values: handed.append(values))
    (single + multi).sum().backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    assert len(reads) == 2 and [id(h) for h in handed] == [id(r) for r in reads]
    function, foreach = FUNCTIONS[cls]
    assert isinstance(reads[1], dict)
    assert set(reads[1]) == _keyword_only(function) - {"step"} == _keyword_only(foreach) - {"steps"}
    assert reads[1]["lr"] == 0.5


@pytest.mark.parametrize("cls", DOCUMENTED)
def test_every_docstring_carries_the_shared_args_and_documents_each_constructor_argument(
    cls: type[torch.optim.Optimizer],
) -> None:
    doc = inspect.getdoc(cls) or ""
    assert "{_" not in doc, "a placeholder was left unfilled"
    args = doc[doc.index("\nArgs:\n") :]
    for shared in (_params_doc, _maximize_doc, _foreach_doc):
        assert "\n    " + shared.replace("\n", "\n    ") in args
    documented = re.findall(r"^    (\w+):", args, flags=re.MULTILINE)
    assert documented == list(inspect.signature(cls.__init__).parameters)[1:]


def test_shared_args_doc_fills_placeholder_lines_only() -> None:
    prose = "Math :math:`\\frac{a}{b}`, {_foreach_doc} in a sentence.\n"
    filled = shared_args_doc(prose + "\n    Args:\n        {_maximize_doc}\n          {_foreach_doc}\n")
    foreach = _foreach_doc.replace("\n", "\n          ")
    assert filled == prose + f"\n    Args:\n        {_maximize_doc}\n          {foreach}\n"
    with pytest.raises(KeyError, match="_lr_doc"):
        shared_args_doc("    Args:\n        {_lr_doc}\n")
