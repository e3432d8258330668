"""The article's convolutional network as a plain ``nn.Module``.

The Keras model of the article::

    Conv2D(32, 3x3) -> ReLU -> MaxPool(2) -> Dropout(0.25) -> Flatten
    -> Dense(256) -> ReLU -> Dropout(0.5) -> Dense(10) -> softmax

Here the network returns logits; the softmax lives in the cross-entropy loss. For MNIST
(1x28x28) the flattened feature has 32 * 13 * 13 = 5408 entries and the network has
1,387,594 parameters.

Layout, faster and computing the same function: ``ReLU(MaxPool(z)) == MaxPool(ReLU(z))``
exactly (ReLU is monotone, max-pooling only selects), so the ReLU runs after the pool on a
quarter of the values; on CPU the convolution runs channels-last, where max-pooling is ~10x
faster; the first dropout acts on the flattened features, drawing its mask in the article's
element order. Under a fixed RNG state both layouts give bit-identical outputs and gradients
(``tests/models/test_cnn.py``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from models.dropout import BitDropout

__all__ = ["INITS", "ArticleCNN", "article_cnn_parameters", "count_parameters"]

INITS = ("keras", "torch")
Init = Literal["keras", "torch"]


class ArticleCNN(nn.Module):
    """Conv(3x3, 32) -> MaxPool(2) -> ReLU -> Dropout(0.25) -> Dense(256) -> ReLU -> Dropout(0.5) -> Dense.

    Args:
        in_channels: channels of the input image (1 for MNIST, 3 for CIFAR-10).
        image_size: side of the square input image (28 for MNIST, 32 for CIFAR-10).
        num_classes: number of logits returned.
        init: ``"keras"`` — Glorot-uniform weights and zero biases, as the article's Keras model;
            ``"torch"`` — PyTorch's default (Kaiming-uniform with a = sqrt(5), uniform biases).
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        num_classes: int = 10,
        init: Init = "keras",
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"Invalid in_channels: {in_channels}")
        if image_size < 4:
            raise ValueError(f"Invalid image_size: {image_size} (the 3x3 conv and 2x2 pool need >= 4)")
        if num_classes < 2:
            raise ValueError(f"Invalid num_classes: {num_classes}")
        if init not in INITS:
            raise ValueError(f"Invalid init: {init!r} (accepted: {', '.join(INITS)})")
        self.in_channels = in_channels
        self.image_size = image_size
        self.num_classes = num_classes
        self.init = init

        pooled = (image_size - 2) // 2
        self.flat_features = 32 * pooled * pooled
        self.conv = nn.Conv2d(in_channels, 32, kernel_size=3)
        self.pool = nn.MaxPool2d(2)
        self.dropout1 = BitDropout(0.25)  # nn.Dropout's distribution from fewer random draws (models.dropout)
        self.fc1 = nn.Linear(self.flat_features, 256)
        self.dropout2 = BitDropout(0.5)
        self.fc2 = nn.Linear(256, num_classes)
        if init == "keras":
            self.reset_parameters_keras()

    def reset_parameters_keras(self) -> None:
        """Keras' defaults: ``glorot_uniform`` kernels, ``zeros`` biases (same fans as torch's xavier)."""
        for layer in (self.conv, self.fc1, self.fc2):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cpu:
            # on CPU, max-pooling a channels-last conv output is ~10x faster than an NCHW one
            # (torch 2.14: a step of the whole network 1.3-1.5x faster); the values are unchanged
            x = x.to(memory_format=torch.channels_last)
        # relu(pool(z)) == pool(relu(z)), on 4x fewer values; in place is safe (pool and linear
        # backward need their inputs / indices, not their outputs)
        x = F.relu(self.pool(self.conv(x)), inplace=True)
        # flatten (to NCHW order) before dropout: the mask is then drawn over a contiguous tensor in
        # the same order as the article's layout draws it, so seeded runs match bit for bit
        x = self.dropout1(x.flatten(1))
        x = self.dropout2(F.relu(self.fc1(x), inplace=True))
        logits: torch.Tensor = self.fc2(x)
        return logits

    def extra_repr(self) -> str:
        return f"init={self.init!r}"


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def article_cnn_parameters(in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> int:
    """Trainable parameters of ``ArticleCNN(in_channels, image_size, num_classes)``, without building it."""
    pooled = (image_size - 2) // 2
    conv = 32 * in_channels * 3 * 3 + 32
    fc1 = 32 * pooled * pooled * 256 + 256
    fc2 = 256 * num_classes + num_classes
    return conv + fc1 + fc2
