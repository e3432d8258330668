"""BitDropout: nn.Dropout's distribution, from random bits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.dropout import BitDropout, bit_mask


@pytest.mark.parametrize("p", [0.25, 0.5, 0.75, 0.125])
def test_the_mask_keeps_elements_with_probability_one_minus_p_independently(p: float) -> None:
    torch.manual_seed(0)
    keep = 1 - p
    mask = bit_mask(400_000, keep)
    kept = mask > 0
    values = mask.unique().tolist()  # type: ignore[no-untyped-call]
    assert set(values) == {0.0, torch.tensor(1 / keep, dtype=torch.float32).item()}
    # the kept share within 4 standard errors of 1 - p
    assert abs(kept.float().mean().item() - keep) < 4 * (keep * p / 400_000) ** 0.5
    # neighbours (same random word) are independent: P(both kept) = keep²
    both = (kept[:-1] & kept[1:]).float().mean().item()
    assert abs(both - keep**2) < 0.005
    # every bit position of a word is used alike
    per_slot = kept[: 400_000 // 32 * 32].view(-1, 32).float().mean(0)
    assert (per_slot - keep).abs().max() < 0.02


def test_it_is_nn_dropout_in_expectation_and_in_its_gradient() -> None:
    torch.manual_seed(1)
    layer = BitDropout(0.25)
    x = torch.ones(64, 5408, requires_grad=True)
    y = layer(x)
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(grad, y.detach())  # d(x * mask)/dx = mask, the same mask as the forward


def test_the_same_seed_draws_the_same_mask_and_eval_is_the_identity() -> None:
    layer = BitDropout(0.5)
    x = torch.randn(8, 256)
    torch.manual_seed(3)
    first = layer(x)
    torch.manual_seed(3)
    assert torch.equal(layer(x), first)
    layer.eval()
    assert torch.equal(layer(x), x)


def test_other_rates_fall_back_to_f_dropout() -> None:
    x = torch.randn(4, 100)
    torch.manual_seed(5)
    expected = F.dropout(x, 0.3, True)
    torch.manual_seed(5)
    assert torch.equal(BitDropout(0.3)(x), expected)
    with pytest.raises(ValueError, match="k / 2\\^m"):
        bit_mask(10, 0.7)
