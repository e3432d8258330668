"""Lion, Muon and the Muon + AdamW hybrid beyond the shared tables.

Parity with ``lion_pytorch.Lion`` and ``torch.optim.Muon`` option by option (float64 and float32, both of our
paths), the two paths against each other, the Args docstrings and the common validation rows are in
``test_parity.py``, ``test_base.py``, ``test_foreach.py`` and ``test_validation.py``. Here: Muon on convolution
kernels, its refusal of 1-D parameters, bfloat16, every validation message with its value, state-dict round
trips, Muon's convergence (Lion's and the hybrid's are ``test_convergence.py``'s), and the hybrid: the split of a
CNN's parameters and each side against its torch reference.

Muon's Newton–Schulz iteration runs in bfloat16 in torch and here alike, with the same casts and operations
in the same order, so the comparisons with torch below are exact (``torch.equal``), not to a tolerance: a
tolerance that reflects bfloat16 would be about 1e-2 relative, too loose to catch a wrong cast.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.cnn import ArticleCNN
from optimizers.lion import Lion
from optimizers.muon import Muon, MuonSplit, MuonWithAdamW, muon_adamw_param_groups

if TYPE_CHECKING:
    from optimizers.conftest import Problem

FOREACH = [pytest.param(None, id="foreach=None"), pytest.param(False, id="foreach=False")]


def _step(optimizer: torch.optim.Optimizer, loss: Callable[[], Tensor]) -> None:
    optimizer.zero_grad()
    loss().backward()  # type: ignore[no-untyped-call]
    optimizer.step()


# --- Muon on convolution kernels --------------------------------------------------------------------------------

KERNELS = [
    pytest.param((32, 1, 3, 3), id="conv2d-32x1x3x3-tall"),  # the project's CNN: a 32 x 9 matrix, transposed in NS
    pytest.param((4, 6, 3, 3), id="conv2d-4x6x3x3-wide"),
    pytest.param((6, 2, 5), id="conv1d-6x2x5"),
]


def _conv_loss(kernel: Tensor, images: Tensor) -> Tensor:
    """A loss through a convolution: for 4-D kernels the input is channels-last, as ``ArticleCNN`` runs on the
    CPU, so the kernel's gradient is channels-last too and the reshape to a matrix must follow the logical order."""
    if kernel.ndim == 4:
        out = F.conv2d(images.to(memory_format=torch.channels_last), kernel)
    else:
        out = F.conv1d(images, kernel)
    return out.tanh().pow(2).mean()


@pytest.mark.parametrize("foreach", FOREACH)
@pytest.mark.parametrize("adjust_lr_fn", [None, "match_rms_adamw", "spectral_unclamped"])
@pytest.mark.parametrize("shape", KERNELS)
def test_kernel_steps_as_torch_muon_on_the_kernel_flattened_by_hand(
    shape: tuple[int, ...], adjust_lr_fn: str | None, foreach: bool | None
) -> None:
    """A kernel (out, in, k...) takes exactly the step torch.optim.Muon takes on its (out, in*k...) matrix."""
    generator = torch.Generator().manual_seed(0)
    kernel = torch.randn(*shape, generator=generator).requires_grad_()
    images = torch.randn(3, shape[1], *[7] * (len(shape) - 2), generator=generator)
    flat = kernel.detach().reshape(shape[0], -1).clone().requires_grad_()
    kwargs: dict[str, Any] = {"lr": 0.02, "weight_decay": 0.1, "adjust_lr_fn": adjust_lr_fn}
    ours = Muon([kernel], foreach=foreach, **kwargs)
    reference = torch.optim.Muon([flat], **kwargs)
    for _ in range(10):
        _step(ours, partial(_conv_loss, kernel, images))
        _step(reference, lambda: _conv_loss(flat.view(shape), images))
    assert torch.equal(kernel.detach().reshape(shape[0], -1), flat.detach())
    buffer = ours.state[kernel]["momentum_buffer"]
    assert buffer.shape == kernel.shape
    assert torch.equal(buffer.reshape(shape[0], -1), reference.state[flat]["momentum_buffer"])


@pytest.mark.parametrize("shape", KERNELS)
def test_kernel_paths_agree_bit_for_bit(shape: tuple[int, ...]) -> None:
    generator = torch.Generator().manual_seed(1)
    start = torch.randn(*shape, generator=generator)
    images = torch.randn(3, shape[1], *[7] * (len(shape) - 2), generator=generator)
    kernels = [start.clone().requires_grad_() for _ in range(2)]
    optimizers = [Muon([kernel], lr=0.02, foreach=flag) for kernel, flag in zip(kernels, (True, False), strict=True)]
    for _ in range(10):
        for kernel, optimizer in zip(kernels, optimizers, strict=True):
            _step(optimizer, partial(_conv_loss, kernel, images))
    assert torch.equal(kernels[0], kernels[1])


# --- Muon: shapes it refuses, bfloat16 ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3,), ()], ids=["1-D", "0-D"])
def test_muon_refuses_parameters_of_fewer_than_two_dimensions(shape: tuple[int, ...]) -> None:
    matrix, small = torch.zeros(2, 2, requires_grad=True), torch.zeros(shape, requires_grad=True)
    with pytest.raises(ValueError) as raised:
        Muon([matrix, small])
    message = str(raised.value)
    assert f"not a parameter of shape {shape}" in message
    assert "biases" in message and "output layer" in message and "AdamW" in message
    optimizer = Muon([matrix])
    with pytest.raises(ValueError, match="not a parameter of shape"):
        optimizer.add_param_group({"params": (p for p in [small])})
    assert len(optimizer.param_groups) == 1, "a refused group must not be added"
    with pytest.raises(ValueError, match="not a parameter of shape"):
        MuonWithAdamW([{"params": [small], "use_muon": True}])


def test_muon_accepts_a_one_shot_iterable_and_named_parameters() -> None:
    first, second = torch.zeros(2, 2, requires_grad=True), torch.zeros(3, 2, requires_grad=True)
    assert Muon(p for p in [first, second]).param_groups[0]["params"] == [first, second]
    optimizer = Muon([("first", first), ("second", second)])
    assert optimizer.param_groups[0]["param_names"] == ["first", "second"]


def test_muon_bfloat16_buffer_is_the_moving_average() -> None:
    """Deviation: for a bfloat16 parameter without Nesterov, torch 2.14 divides the momentum buffer itself by its
    norm (its ``.bfloat16()`` copy is then the buffer). Here the buffer stays the moving average of gradients."""
    weight = torch.zeros(6, 3, dtype=torch.bfloat16, requires_grad=True)
    optimizer = Muon([weight], momentum=0.5, nesterov=False)
    weight.grad = torch.ones(6, 3, dtype=torch.bfloat16)
    optimizer.step()
    assert torch.equal(optimizer.state[weight]["momentum_buffer"], torch.full((6, 3), 0.5, dtype=torch.bfloat16))
    assert not torch.equal(weight.detach(), torch.zeros(6, 3, dtype=torch.bfloat16))


def test_muon_bfloat16_with_nesterov_matches_torch() -> None:
    """Through the single-tensor path: on bfloat16 CPU tensors torch 2.14's ``_foreach_mul_`` by a Python number
    rounds differently from ``mul_`` (by up to an ulp), so the multi-tensor path's weight decay is not torch's
    to the last bit there."""
    generator = torch.Generator().manual_seed(2)
    start, inputs = torch.randn(6, 4, generator=generator), torch.randn(5, 6, generator=generator)
    weights = [start.bfloat16().requires_grad_() for _ in range(2)]
    runs = [Muon([weights[0]], lr=0.02, foreach=False), torch.optim.Muon([weights[1]], lr=0.02)]

    def loss(weight: Tensor) -> Tensor:
        return (inputs.bfloat16() @ weight).sin().sum()

    for _ in range(5):
        for weight, optimizer in zip(weights, runs, strict=True):
            _step(optimizer, partial(loss, weight))
    assert torch.equal(weights[0], weights[1])


# --- Validation: every message names the hyperparameter and its value -------------------------------------------

MATRIX_PARAMS = [torch.zeros(2, 2, requires_grad=True)]

# (kwargs, text the message must contain), for Muon and for the hybrid's Muon side
MUON_INVALID: list[tuple[dict[str, Any], str]] = [
    ({"lr": -0.02}, "Invalid lr value: -0.02"),
    ({"lr": math.nan}, "Invalid lr value: nan"),
    ({"weight_decay": -0.1}, "Invalid weight_decay value: -0.1"),
    ({"momentum": 1.0}, "Invalid momentum value: 1.0"),
    ({"momentum": -0.5}, "Invalid momentum value: -0.5"),
    ({"nesterov": 1}, "Invalid nesterov value: 1"),
    ({"ns_coefficients": (3.4, -4.8)}, "Invalid ns_coefficients value: (3.4, -4.8)"),
    ({"ns_coefficients": "abc"}, "Invalid ns_coefficients value: 'abc'"),
    ({"ns_coefficients": (3.4, math.inf, 2.0)}, "Invalid ns_coefficients[1] value: inf"),
    ({"eps": -1e-7}, "Invalid eps value: -1e-07"),
    ({"ns_steps": 100}, "Invalid ns_steps value: 100"),
    ({"ns_steps": -1}, "Invalid ns_steps value: -1"),
    ({"ns_steps": 5.0}, "Invalid ns_steps value: 5.0"),
    ({"ns_steps": True}, "Invalid ns_steps value: True"),
    ({"adjust_lr_fn": "rms"}, "Invalid adjust_lr_fn value: 'rms'"),
    ({"adjust_lr_fn": ["original"]}, "Invalid adjust_lr_fn value: ['original']"),
    ({"maximize": 0}, "Invalid maximize value: 0"),
    ({"foreach": "auto"}, "Invalid foreach value: 'auto'"),
]
# (class, kwargs, text the message must contain)
INVALID: list[tuple[Callable[..., torch.optim.Optimizer], dict[str, Any], str]] = [
    (Lion, {"lr": -1e-4}, "Invalid lr value: -0.0001"),
    (Lion, {"betas": (0.9, 1.0)}, "Invalid betas[1] value: 1.0"),
    (Lion, {"decoupled_weight_decay": "yes"}, "Invalid decoupled_weight_decay value: 'yes'"),
    (Lion, {"lr": 0.0, "weight_decay": 0.1, "decoupled_weight_decay": True}, "Invalid lr value: 0.0"),
    *[(cls, kwargs, text) for cls in (Muon, MuonWithAdamW) for kwargs, text in MUON_INVALID],
    (MuonWithAdamW, {"adamw_lr": -3e-4}, "Invalid adamw_lr value: -0.0003"),
    (MuonWithAdamW, {"adamw_betas": (1.0, 0.95)}, "Invalid adamw_betas[0] value: 1.0"),
    (MuonWithAdamW, {"adamw_betas": 0.9}, "Invalid adamw_betas value: 0.9"),
    (MuonWithAdamW, {"adamw_eps": -1e-8}, "Invalid adamw_eps value: -1e-08"),
    (MuonWithAdamW, {"adamw_weight_decay": math.inf}, "Invalid adamw_weight_decay value: inf"),
]


def _id(cls: Callable[..., Any], kwargs: dict[str, Any]) -> str:
    return f"{getattr(cls, '__name__', cls)}-" + ",".join(f"{k}={v!r}" for k, v in kwargs.items())


@pytest.mark.parametrize(("cls", "kwargs", "text"), INVALID, ids=[_id(c, k) for c, k, _ in INVALID])
def test_invalid_hyperparameter_message_names_it_and_its_value(
    cls: Callable[..., torch.optim.Optimizer], kwargs: dict[str, Any], text: str
) -> None:
    params: list[Any] = list(MATRIX_PARAMS)
    if cls is MuonWithAdamW:
        params = [{"params": MATRIX_PARAMS, "use_muon": True}]
    with pytest.raises(ValueError) as raised:
        cls(params, **kwargs)
    assert text in str(raised.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": 0.0, "weight_decay": 0.0, "momentum": 0.0, "eps": 0.0, "ns_steps": 0},
        {"ns_steps": 99, "ns_coefficients": [1.5, -0.5, 0.0], "adjust_lr_fn": "original", "nesterov": False},
        *[
            {"adjust_lr_fn": name, "foreach": flag}
            for name in ("match_rms_adamw", "spectral_unclamped")
            for flag in (True, False)
        ],
    ],
)
def test_muon_valid_edge_values_are_accepted(kwargs: dict[str, Any]) -> None:
    weight = torch.ones(3, 2, requires_grad=True)
    optimizer = Muon([weight], **kwargs)
    (weight * torch.arange(6.0).reshape(3, 2)).sum().backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    assert torch.isfinite(weight).all()


def test_group_values_are_checked_before_the_group_is_added() -> None:
    weight, bias = torch.zeros(2, 2, requires_grad=True), torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="Invalid ns_steps value: 200"):
        Muon([{"params": [weight], "ns_steps": 200}])
    optimizer = MuonWithAdamW([{"params": [weight], "use_muon": True}])
    with pytest.raises(ValueError, match=r"Invalid betas\[1\] value: 1.5"):
        optimizer.add_param_group({"params": [bias], "use_muon": False, "betas": (0.9, 1.5)})
    with pytest.raises(ValueError, match="Invalid lr value: -1"):
        optimizer.add_param_group({"params": [bias], "use_muon": False, "lr": -1})
    assert len(optimizer.param_groups) == 1


@pytest.mark.parametrize(
    ("group", "text"),
    [
        ({}, "Invalid use_muon value: None"),
        ({"use_muon": "yes"}, "Invalid use_muon value: 'yes'"),
        ({"use_muon": False, "momentum": 0.9}, "Invalid key(s) ['momentum'] in a param group with use_muon=False"),
        ({"use_muon": True, "betas": (0.9, 0.95)}, "Invalid key(s) ['betas'] in a param group with use_muon=True"),
        ({"use_muon": True, "adamw_lr": 0.1}, "Invalid key(s) ['adamw_lr']"),
    ],
)
def test_hybrid_group_must_be_marked_and_hold_only_its_rules_keys(group: dict[str, Any], text: str) -> None:
    with pytest.raises(ValueError) as raised:
        MuonWithAdamW([{"params": [torch.zeros(2, 2, requires_grad=True)], **group}])
    assert text in str(raised.value)
    assert "muon_adamw_param_groups" in str(raised.value) or "accepted:" in str(raised.value)


# --- State dicts -------------------------------------------------------------------------------------------------


def _assert_same_state(
    ours: torch.optim.Optimizer, params: list[Tensor], other: torch.optim.Optimizer, other_params: list[Tensor]
) -> None:
    for mine, theirs in zip(params, other_params, strict=True):
        assert torch.equal(mine, theirs)
        state, expected = ours.state.get(mine, {}), other.state.get(theirs, {})
        assert sorted(state) == sorted(expected)
        for key, value in state.items():
            assert value.dtype == expected[key].dtype and torch.equal(value, expected[key]), key


def _resume(
    build: Callable[[Problem], torch.optim.Optimizer], problem: Problem, tmp_path: Path, first: int = 4, second: int = 4
) -> None:
    """``first`` steps, save, load (``weights_only=True``) into a fresh optimizer, ``second`` steps: the same as
    ``first + second`` steps uninterrupted, parameters and state bit for bit."""
    uninterrupted_problem = problem.clone()
    uninterrupted = build(uninterrupted_problem)
    uninterrupted_problem.run(uninterrupted, first + second)
    before = build(problem)
    problem.run(before, first)
    torch.save(before.state_dict(), tmp_path / "optimizer.pt")
    resumed_problem = problem.clone()
    after = build(resumed_problem)
    after.load_state_dict(torch.load(tmp_path / "optimizer.pt", weights_only=True))
    assert after.param_groups[1]["lr"] == before.param_groups[1]["lr"]
    resumed_problem.run(after, second, start=first)
    _assert_same_state(after, resumed_problem.params, uninterrupted, uninterrupted_problem.params)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"weight_decay": 0.1, "decoupled_weight_decay": True, "betas": (0.95, 0.98)}],
    ids=["defaults", "decoupled"],
)
def test_lion_resume_equals_uninterrupted(
    kwargs: dict[str, Any], tmp_path: Path, problem_factory: Callable[..., Problem]
) -> None:
    def build(problem: Problem) -> torch.optim.Optimizer:
        return Lion(problem.groups({"lr": 5e-4}), lr=1e-3, **kwargs)

    _resume(build, problem_factory(torch.float32), tmp_path)


@pytest.mark.parametrize(
    "kwargs", [{}, {"nesterov": False, "adjust_lr_fn": "match_rms_adamw", "ns_steps": 3}], ids=["defaults", "options"]
)
def test_muon_resume_equals_uninterrupted(
    kwargs: dict[str, Any], tmp_path: Path, problem_factory: Callable[..., Problem]
) -> None:
    def build(problem: Problem) -> torch.optim.Optimizer:
        return Muon(problem.groups({"lr": 0.01}), lr=0.02, **kwargs)

    _resume(build, problem_factory(torch.float32, matrices_only=True), tmp_path)


@pytest.mark.parametrize("direction", ["ours-to-torch", "torch-to-ours"])
def test_muon_state_dict_interchangeable_with_torch(
    direction: str, tmp_path: Path, problem_factory: Callable[..., Problem]
) -> None:
    """torch's layout and key names (``momentum_buffer``), so either can resume the other's run; torch's groups
    have no ``maximize`` or ``foreach`` and load here with the defaults."""

    def ours(problem: Problem) -> torch.optim.Optimizer:
        return Muon(problem.groups({"lr": 0.01}), lr=0.02)

    def reference(problem: Problem) -> torch.optim.Optimizer:
        return torch.optim.Muon(problem.groups({"lr": 0.01}), lr=0.02)

    first, second = (ours, reference) if direction == "ours-to-torch" else (reference, ours)
    problem = problem_factory(torch.float32, matrices_only=True)
    check_problem = problem.clone()
    uninterrupted = second(check_problem)
    check_problem.run(uninterrupted, 8)
    before = first(problem)
    problem.run(before, 4)
    torch.save(before.state_dict(), tmp_path / "optimizer.pt")
    resumed_problem = problem.clone()
    after = second(resumed_problem)
    after.load_state_dict(torch.load(tmp_path / "optimizer.pt", weights_only=True))
    resumed_problem.run(after, 4, start=4)
    _assert_same_state(after, resumed_problem.params, uninterrupted, check_problem.params)


# --- Convergence -------------------------------------------------------------------------------------------------

# Muon itself, test_convergence.py's test functions, budgets and ratios: x is a 1 x 2 matrix, where Muon is normalised
# momentum descent. test_convergence.py runs Lion and the hybrid (muon) through the registry with the same rates.
CONVERGENCE = [
    pytest.param("quadratic", {"lr": 0.01}, (1.0, 1.0), 1000, 1e-3, id="muon-quadratic"),
    pytest.param("rosenbrock", {"lr": 3e-3}, (-1.5, 2.0), 2000, 0.05, id="muon-rosenbrock"),
]


@pytest.mark.parametrize(("function", "kwargs", "start", "steps", "ratio"), CONVERGENCE)
def test_muon_drives_loss_down(
    function: str,
    kwargs: dict[str, Any],
    start: tuple[float, float],
    steps: int,
    ratio: float,
    objectives: Mapping[str, Callable[[Tensor], Tensor]],
) -> None:
    objective = objectives[function]
    x = torch.tensor(start, dtype=torch.float64).reshape(1, 2).requires_grad_()
    optimizer = Muon([x], weight_decay=0.0, **kwargs)
    initial = objective(x).item()
    for _ in range(steps):
        _step(optimizer, lambda: objective(x))
    final = objective(x).item()
    assert final < ratio * initial, f"{initial:.3g} -> {final:.3g} after {steps} steps"


def test_muon_solves_an_ill_conditioned_matrix_regression() -> None:
    """Where Muon is meant to work: a weight matrix, here of a least-squares fit with input scales 1 to 10."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(64, 8, generator=generator, dtype=torch.float64) * torch.logspace(0, 1, 8, dtype=torch.float64)
    targets = inputs @ torch.randn(8, 5, generator=generator, dtype=torch.float64)
    weight = torch.zeros(8, 5, dtype=torch.float64, requires_grad=True)
    optimizer = Muon([weight], lr=0.03, weight_decay=0.0)

    def loss() -> Tensor:
        return 0.5 * (inputs @ weight - targets).pow(2).mean()

    initial = loss().item()
    for _ in range(300):
        _step(optimizer, loss)
    assert loss().item() < 1e-2 * initial


# --- The hybrid: the split of a CNN and each side against its torch reference ------------------------------------


class SmallCNN(nn.Module):
    """``models.cnn.ArticleCNN``'s layers under its names, narrower: conv 12@3x3 on 1x8x8 images (a 12 x 9 kernel
    matrix, tall like the article's 32 x 9), 2x2 max-pool, ReLU, fc1 108 -> 16 (wide like its 256 x 5408),
    fc2 16 -> 10."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 12, kernel_size=3)
        self.fc1 = nn.Linear(12 * 3 * 3, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = x.to(memory_format=torch.channels_last)  # as ArticleCNN on the CPU: the kernel's gradient is channels-last
        x = F.relu(F.max_pool2d(self.conv(x), 2)).flatten(1)
        logits: Tensor = self.fc2(F.relu(self.fc1(x)))
        return logits


MUON_NAMES = ("conv.weight", "fc1.weight")
ADAMW_NAMES = ("conv.bias", "fc1.bias", "fc2.weight", "fc2.bias")


def _batches(stop: int, start: int = 0) -> list[tuple[Tensor, Tensor]]:
    """Mini-batches ``start`` to ``stop`` of a fixed sequence: 8 random 1x8x8 images and their random labels each."""
    generator = torch.Generator().manual_seed(3)
    batches = [(torch.randn(8, 1, 8, 8, generator=generator), torch.randint(0, 10, (8,), generator=generator))]
    for _ in range(1, stop):
        batches.append((torch.randn(8, 1, 8, 8, generator=generator), torch.randint(0, 10, (8,), generator=generator)))
    return batches[start:]


def _cnn_loss(model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
    return F.cross_entropy(model(images), labels)


@pytest.mark.parametrize("output_names", ["fc2", ["fc2"], ("fc2.weight", "fc2.bias"), ["fc2.weight"]])
def test_split_sends_hidden_matrices_to_muon_and_the_rest_to_adamw(output_names: Any) -> None:
    model = SmallCNN()
    groups, split = muon_adamw_param_groups(model.named_parameters(), output_names)
    assert split == MuonSplit(muon=MUON_NAMES, adamw=ADAMW_NAMES)
    parameters = dict(model.named_parameters())
    assert [group["use_muon"] for group in groups] == [True, False]
    assert [[id(p) for p in group["params"]] for group in groups] == [
        [id(parameters[name]) for name in MUON_NAMES],
        [id(parameters[name]) for name in ADAMW_NAMES],
    ]
    assert all(set(group) == {"params", "use_muon"} for group in groups)


def test_split_of_the_article_cnn() -> None:
    """The names the study will pass: ``models.cnn.ArticleCNN`` with its output layer ``fc2``."""
    _, split = muon_adamw_param_groups(ArticleCNN().named_parameters(), ["fc2"])
    assert split == MuonSplit(muon=MUON_NAMES, adamw=ADAMW_NAMES)


def test_split_refuses_a_name_that_matches_nothing() -> None:
    """``fc`` is no module: a name holds only itself and what is under it (``fc.``), never ``fc1`` or ``fc2``."""
    with pytest.raises(ValueError) as raised:
        muon_adamw_param_groups(SmallCNN().named_parameters(), ["fc2", "fc", "head"])
    assert "Invalid output_names value: ['fc', 'head'] match no parameter" in str(raised.value)
    assert "'fc2.bias'" in str(raised.value)
    with pytest.raises(ValueError, match="no parameters"):
        muon_adamw_param_groups([], [])


def test_split_leaves_out_an_empty_side() -> None:
    biases = [("bias", torch.zeros(3, requires_grad=True))]
    groups, split = muon_adamw_param_groups(biases, [])
    assert [group["use_muon"] for group in groups] == [False] and split == MuonSplit(muon=(), adamw=("bias",))


def test_hybrid_groups_hold_their_rules_hyperparameters_only() -> None:
    groups, _ = muon_adamw_param_groups(SmallCNN().named_parameters(), ["fc2"])
    optimizer = MuonWithAdamW(groups, lr=0.02, adamw_lr=3e-4, adamw_betas=(0.9, 0.95))
    muon_group, adamw_group = optimizer.param_groups
    assert {k: v for k, v in muon_group.items() if k != "params"} == {
        "use_muon": True,
        "lr": 0.02,
        "weight_decay": 0.1,
        "momentum": 0.95,
        "nesterov": True,
        "ns_coefficients": (3.4445, -4.7750, 2.0315),
        "eps": 1e-7,
        "ns_steps": 5,
        "adjust_lr_fn": None,
        "maximize": False,
        "foreach": None,
    }
    assert {k: v for k, v in adamw_group.items() if k != "params"} == {
        "use_muon": False,
        "lr": 3e-4,
        "betas": (0.9, 0.95),
        "eps": 1e-8,
        "weight_decay": 1e-2,
        "maximize": False,
        "foreach": None,
    }
    assert optimizer.defaults["adamw_lr"] == 3e-4


def test_hybrid_group_may_set_its_own_values() -> None:
    weight, bias = torch.zeros(3, 2, requires_grad=True), torch.zeros(3, requires_grad=True)
    optimizer = MuonWithAdamW(
        [{"params": [weight], "use_muon": True, "momentum": 0.9}, {"params": [bias], "use_muon": False, "lr": 0.1}]
    )
    assert (optimizer.param_groups[0]["momentum"], optimizer.param_groups[1]["lr"]) == (0.9, 0.1)


@pytest.mark.parametrize("foreach", FOREACH)
def test_each_side_of_the_hybrid_steps_as_its_torch_reference(foreach: bool | None) -> None:
    """Muon's side as torch.optim.Muon (on the conv kernel flattened by hand to its 12 x 9 matrix, and on fc1's
    weight), AdamW's side as torch.optim.AdamW (the biases and fc2), parameters and state bit for bit."""
    torch.manual_seed(0)
    model = SmallCNN()
    reference_model = copy.deepcopy(model)
    groups, _ = muon_adamw_param_groups(model.named_parameters(), ["fc2"])
    muon_kwargs: dict[str, Any] = {"lr": 0.02, "weight_decay": 0.01, "momentum": 0.9, "adjust_lr_fn": "match_rms_adamw"}
    adamw_kwargs: dict[str, Any] = {"lr": 3e-3, "betas": (0.9, 0.95), "eps": 1e-10, "weight_decay": 0.1}
    ours = MuonWithAdamW(groups, foreach=foreach, **muon_kwargs, **{f"adamw_{k}": v for k, v in adamw_kwargs.items()})

    reference_params = dict(reference_model.named_parameters())
    kernel_shape = model.conv.weight.shape
    flat_kernel = reference_params["conv.weight"].detach().reshape(kernel_shape[0], -1).clone().requires_grad_()
    muon: torch.optim.Optimizer = torch.optim.Muon([flat_kernel, reference_params["fc1.weight"]], **muon_kwargs)
    adamw = torch.optim.AdamW([reference_params[name] for name in ADAMW_NAMES], foreach=False, **adamw_kwargs)

    for images, labels in _batches(5):
        _step(ours, partial(_cnn_loss, model, images, labels))
        muon.zero_grad()
        adamw.zero_grad()
        logits = torch.func.functional_call(reference_model, {"conv.weight": flat_kernel.view(kernel_shape)}, (images,))
        F.cross_entropy(logits, labels).backward()  # type: ignore[no-untyped-call]
        muon.step()
        adamw.step()

    params = dict(model.named_parameters())
    assert torch.equal(params["conv.weight"].detach().reshape(kernel_shape[0], -1), flat_kernel.detach())
    kernel_buffer = ours.state[params["conv.weight"]]["momentum_buffer"].reshape(kernel_shape[0], -1)
    assert torch.equal(kernel_buffer, muon.state[flat_kernel]["momentum_buffer"])
    _assert_same_state(ours, [params["fc1.weight"]], muon, [reference_params["fc1.weight"]])
    _assert_same_state(
        ours, [params[name] for name in ADAMW_NAMES], adamw, [reference_params[name] for name in ADAMW_NAMES]
    )


def _train_hybrid(foreach: bool | None, steps: int) -> tuple[SmallCNN, MuonWithAdamW]:
    torch.manual_seed(0)
    model = SmallCNN()
    groups, _ = muon_adamw_param_groups(model.named_parameters(), ["fc2"])
    optimizer = MuonWithAdamW(groups, lr=0.02, adamw_lr=3e-3, foreach=foreach)
    for images, labels in _batches(steps):
        _step(optimizer, partial(_cnn_loss, model, images, labels))
    return model, optimizer


def test_hybrid_paths_agree_bit_for_bit() -> None:
    (multi_model, multi), (single_model, single) = _train_hybrid(True, 5), _train_hybrid(False, 5)
    _assert_same_state(multi, list(multi_model.parameters()), single, list(single_model.parameters()))


def test_hybrid_resume_equals_uninterrupted(tmp_path: Path) -> None:
    model, optimizer = _train_hybrid(None, 3)
    torch.save(optimizer.state_dict(), tmp_path / "optimizer.pt")
    uninterrupted_model, uninterrupted = _train_hybrid(None, 6)
    groups, _ = muon_adamw_param_groups(model.named_parameters(), ["fc2"])
    resumed = MuonWithAdamW(groups)  # the loaded groups bring back lr=0.02 and adamw_lr's 3e-3
    resumed.load_state_dict(torch.load(tmp_path / "optimizer.pt", weights_only=True))
    assert [group["lr"] for group in resumed.param_groups] == [0.02, 3e-3]
    for images, labels in _batches(6, start=3):
        _step(resumed, partial(_cnn_loss, model, images, labels))
    _assert_same_state(resumed, list(model.parameters()), uninterrupted, list(uninterrupted_model.parameters()))


def test_a_scheduler_scales_both_sides() -> None:
    _, optimizer = _train_hybrid(None, 1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    optimizer.step()
    scheduler.step()
    assert [group["lr"] for group in optimizer.param_groups] == [0.01, 1.5e-3]
