"""A small ResNet, to compare optimizers on your own network: ``--model examples/resnet.py:build``.

    python -m study.run --model examples/resnet.py:build --data examples/fashion.py:data \\
        --n-trials 4 --max-epochs 1 --study-name resnet-fashion

``build`` is called with what it asks for among what the study offers (``input_shape`` and ``num_classes``, read
from the data) and the ``--model-arg`` values (``--model-arg width=32``). It returns a plain ``nn.Module`` that
maps a batch of images to logits; the study trains it as a classifier (cross-entropy), with each optimizer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """Two 3x3 convolutions with batch norm and a skip connection (a 1x1 projection when the shape changes)."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or inputs != outputs:
            self.skip = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False), nn.BatchNorm2d(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.skip(x))


class ResNet(nn.Module):
    """A stem, ``stages`` stages of two blocks each (width doubling, resolution halving), global pooling."""

    def __init__(self, channels: int, num_classes: int, width: int, stages: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        layers, inputs = [], width
        for stage in range(stages):
            outputs = width * 2**stage
            layers += [Block(inputs, outputs, 1 if stage == 0 else 2), Block(outputs, outputs, 1)]
            inputs = outputs
        self.stages = nn.Sequential(*layers)
        self.head = nn.Linear(inputs, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.stages(self.stem(x))
        logits: torch.Tensor = self.head(features.mean(dim=(2, 3)))
        return logits


def build(input_shape: tuple[int, ...], num_classes: int, width: int = 16, stages: int = 2) -> nn.Module:
    """The network for images of ``input_shape`` (channels, height, width)."""
    return ResNet(input_shape[0], num_classes, width, stages)
