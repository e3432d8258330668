"""The ``foreach`` flag: which path a group takes, and the multi-tensor path's splitting by device and dtype.

Numerical agreement of the two paths, option by option, is in ``test_parity.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
import torch

from optimizers import OPTIMIZER_NAMES, SGD, Adadelta, Adagrad, Adam, AdamW, NAdam, RMSprop, get_spec
from optimizers._base import by_device_and_dtype, use_foreach
from optimizers.adafactor import Adafactor
from optimizers.adamax import Adamax
from optimizers.lion import Lion
from optimizers.radam import RAdam
from optimizers.train_eval import to_eval, to_train

if TYPE_CHECKING:
    from optimizers.conftest import Problem

Build = Callable[..., torch.optim.Optimizer]  # the ready_optimizer fixture

ALL = [SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW, NAdam, Lion, RAdam, Adamax, Adafactor]


@pytest.mark.parametrize("cls", ALL)
def test_each_group_takes_the_path_its_flag_asks_for(
    cls: Callable[..., torch.optim.Optimizer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``None`` (the default) takes the multi-tensor path for CPU tensors, ``False`` the single-tensor one."""
    default, single, multi = (torch.ones(3, requires_grad=True) for _ in range(3))
    optimizer = cls(
        [{"params": [default]}, {"params": [single], "foreach": False}, {"params": [multi], "foreach": True}]
    )
    calls: list[tuple[str, list[torch.Tensor]]] = []
    monkeypatch.setattr(cls, "_update", lambda self, param, *args: calls.append(("single", [param])))
    monkeypatch.setattr(cls, "_update_group", lambda self, params, *args: calls.append(("multi", params)))
    (default + single + multi).sum().backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    assert [(path, [id(p) for p in params]) for path, params in calls] == [
        ("multi", [id(default)]),
        ("single", [id(single)]),
        ("multi", [id(multi)]),
    ]


def test_use_foreach() -> None:
    cpu = torch.zeros(2)
    assert use_foreach(None, [cpu, torch.nn.Parameter(torch.zeros(2))])
    assert use_foreach(None, [])
    assert not use_foreach(False, [cpu])
    assert not use_foreach(None, [cpu, torch.zeros(2, device="meta")]), "only CPU and CUDA tensors by default"
    assert not use_foreach(None, [cpu, torch.zeros(2).to_sparse()]), "only dense tensors by default"

    class Subclass(torch.Tensor):
        pass

    assert not use_foreach(None, [cpu, torch.zeros(2).as_subclass(Subclass)]), "only plain tensors by default"
    assert use_foreach(True, [torch.zeros(2, device="meta")]), "an explicit True is obeyed"


def test_by_device_and_dtype_keeps_order_within_each_split() -> None:
    a, b, c = torch.zeros(1), torch.zeros(1, dtype=torch.float64), torch.zeros(2)
    splits = by_device_and_dtype([a, b, c], [a + 1, b + 1, c + 1])
    assert [[id(p) for p in params] for params, _ in splits] == [[id(a), id(c)], [id(b)]]
    assert [[g.shape for g in grads] for _, grads in splits] == [[(1,), (2,)], [(1,)]]


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_group_of_mixed_dtypes_matches_the_single_tensor_path(name: str, ready_optimizer: Build) -> None:
    """One group holding float32 and float64 tensors: the multi-tensor path splits it and still agrees exactly (for
    muon the tensors, all matrices, make its Muon group; schedulefree_adamw is compared in eval mode)."""
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 2, generator=generator, dtype=dtype) for dtype in (torch.float32, torch.float64)] * 2
    runs = []
    for foreach in (True, False):
        params = [p.clone().requires_grad_() for p in start]
        optimizer = ready_optimizer(name, params, foreach=foreach, lr=0.01)
        for _ in range(20):
            optimizer.zero_grad()
            loss = sum(((p.double() - 1) ** 2).sum() * (i + 1) for i, p in enumerate(params))
            assert isinstance(loss, torch.Tensor)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        to_eval([optimizer])
        runs.append((params, optimizer))
    (multi_params, multi), (single_params, single) = runs
    for mine, theirs in zip(multi_params, single_params, strict=True):
        assert mine.dtype == theirs.dtype and torch.isfinite(mine).all()
        assert torch.equal(mine, theirs)
        for key, value in multi.state[mine].items():
            assert torch.equal(value, single.state[theirs][key]), key


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_state_dict_saved_without_the_flag_loads(
    name: str, problem_factory: Callable[..., Problem], ready_optimizer: Build
) -> None:
    """Files saved before ``foreach`` existed lack the key; a loaded group gets torch's default, None."""
    problem = problem_factory(torch.float32)
    optimizer = ready_optimizer(name, problem.groups_for(name))
    problem.run(optimizer, 2)
    state_dict = optimizer.state_dict()
    for group in state_dict["param_groups"]:
        del group["foreach"]
    resumed = ready_optimizer(name, problem.groups_for(name), foreach=False)
    resumed.load_state_dict(state_dict)
    assert [group["foreach"] for group in resumed.param_groups] == [None, None]
    problem.run(resumed, 1, start=2)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_cuda_multi_tensor_path_matches_torch(
    name: str,
    problem_factory: Callable[..., Problem],
    reference_class: Callable[[type[torch.optim.Optimizer]], type[torch.optim.Optimizer]],
    check_same_run: Callable[..., None],
    other_lr: Callable[[str, float], float],
) -> None:
    """On CUDA the ``_foreach_`` ops are fused kernels, so agreement is to a tolerance; ``step`` stays on the CPU.
    The second group runs at half the rate (prodigy's, frozen at 0: conftest.second_group_lr)."""
    spec = get_spec(name)
    kwargs = spec.defaults()
    second = {"lr": other_lr(name, kwargs["lr"] / 2)}
    problem = problem_factory(torch.float64, device="cuda", bias_skips_every=3)
    reference_problem = problem.clone()
    ours = spec.cls(problem.groups_for(name, second), **kwargs)
    reference = reference_class(spec.cls)(reference_problem.groups_for(name, second), **{**kwargs, "foreach": False})
    to_train([ours, reference])
    problem.run(ours, 100)
    reference_problem.run(reference, 100)
    to_eval([ours, reference])
    check_same_run(ours, problem.params, reference, reference_problem.params, rtol=1e-10, atol=1e-12)
    assert all(state["step"].device.type == "cpu" for state in ours.state.values() if "step" in state)
