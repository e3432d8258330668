from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.cnn import ArticleCNN, article_cnn_parameters, count_parameters
from models.dropout import BitDropout


def reference_layout(net: ArticleCNN) -> nn.Sequential:
    """The article's layer order (ReLU before the pool), sharing ``net``'s parameters and its dropout kind."""
    return nn.Sequential(
        net.conv,
        nn.ReLU(),
        nn.MaxPool2d(2),
        BitDropout(0.25),
        nn.Flatten(),
        net.fc1,
        nn.ReLU(),
        BitDropout(0.5),
        net.fc2,
    )


def test_mnist_shape_and_parameter_count() -> None:
    net = ArticleCNN()
    assert net(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    assert net.flat_features == 5408
    assert count_parameters(net) == 1_387_594 == article_cnn_parameters()


def test_cifar_shape() -> None:
    net = ArticleCNN(in_channels=3, image_size=32, num_classes=10)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert net.flat_features == 32 * 15 * 15
    assert count_parameters(net) == 3 * 9 * 32 + 32 + 7200 * 256 + 256 + 2570 == article_cnn_parameters(3, 32, 10)


def test_relu_and_max_pool_commute_exactly() -> None:
    z = torch.randn(8, 32, 26, 26)
    z[:, :, :6] = 0.0  # ties, as on MNIST's blank borders
    z.requires_grad_()
    fast = F.relu(F.max_pool2d(z, 2))
    (grad_fast,) = torch.autograd.grad(fast.square().sum(), z)
    ref = F.max_pool2d(F.relu(z), 2)
    (grad_ref,) = torch.autograd.grad(ref.square().sum(), z)
    assert torch.equal(fast, ref)
    assert torch.equal(grad_fast, grad_ref)


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_fast_layout_equals_article_layout(training: bool) -> None:
    """Same outputs and gradients as the article's layer order, dropout masks included.

    Only float rounding differs: the channels-last convolution sums in another order (~1e-7).
    Different dropout masks would differ by O(1).
    """
    torch.manual_seed(0)
    fast = ArticleCNN()
    ref = reference_layout(fast)
    fast.train(training)
    ref.train(training)
    x = torch.rand(16, 1, 28, 28)
    y = torch.randint(0, 10, (16,))

    torch.manual_seed(1)  # same dropout masks: both draw them over the same elements in the same order
    out_fast = fast(x)
    grads_fast = torch.autograd.grad(F.cross_entropy(out_fast, y), list(fast.parameters()))
    torch.manual_seed(1)
    out_ref = ref(x)
    grads_ref = torch.autograd.grad(F.cross_entropy(out_ref, y), list(fast.parameters()))

    torch.testing.assert_close(out_fast, out_ref, rtol=1e-5, atol=1e-6)
    for g_fast, g_ref in zip(grads_fast, grads_ref, strict=True):
        torch.testing.assert_close(g_fast, g_ref, rtol=1e-4, atol=1e-6)


def test_keras_init_is_glorot_uniform_with_zero_biases() -> None:
    torch.manual_seed(0)
    net = ArticleCNN(init="keras")
    for layer, fan_in, fan_out in ((net.conv, 9, 32 * 9), (net.fc1, 5408, 256), (net.fc2, 256, 10)):
        limit = math.sqrt(6 / (fan_in + fan_out))
        assert layer.bias is not None
        assert torch.count_nonzero(layer.bias) == 0
        assert layer.weight.abs().max() <= limit
        assert layer.weight.abs().max() > 0.9 * limit  # spread over the whole interval
        assert layer.weight.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.1)


def test_torch_init_is_pytorch_default() -> None:
    torch.manual_seed(0)
    net = ArticleCNN(init="torch")
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 32, 3)
    assert torch.equal(net.conv.weight, conv.weight)
    assert net.conv.bias is not None and conv.bias is not None
    assert torch.equal(net.conv.bias, conv.bias)
    assert torch.count_nonzero(net.fc1.bias) > 0


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="init"):
        ArticleCNN(init="xavier")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="image_size"):
        ArticleCNN(image_size=3)
