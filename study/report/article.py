"""The article's published numbers, which ``--protocol seed`` reruns and the report sets beside ours.

Setting: MNIST, the article's CNN (``models.cnn.ArticleCNN``), batch size 64, 10 epochs, every optimizer at
its tf.keras 2.x defaults, validated on the official test set. Only validation accuracy at epochs 1, 5 and 10
is kept: that is what the article tabulates for all six optimizers.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "ARTICLE_BATCH_SIZE",
    "ARTICLE_DATASET",
    "ARTICLE_EPOCHS",
    "ARTICLE_TRAIN_SAMPLES",
    "ARTICLE_VAL_ACC",
    "article_val_acc",
]

ARTICLE_DATASET = "mnist"
ARTICLE_BATCH_SIZE = 64
ARTICLE_TRAIN_SAMPLES = 60000  # the whole training set trains: the test set validates
ARTICLE_EPOCHS = (1, 5, 10)

# optimizer (our registry name) -> {epoch: validation accuracy}; the article's "SGD with momentum" is `momentum`.
ARTICLE_VAL_ACC: Mapping[str, Mapping[int, float]] = MappingProxyType(
    {
        name: MappingProxyType(dict(zip(ARTICLE_EPOCHS, accs, strict=True)))
        for name, accs in {
            "adadelta": (0.4612, 0.7776, 0.8375),
            "adagrad": (0.8411, 0.9133, 0.9286),
            "adam": (0.9772, 0.9884, 0.9908),
            "rmsprop": (0.9783, 0.9846, 0.9857),
            "momentum": (0.9168, 0.9585, 0.9697),
            "sgd": (0.9124, 0.9569, 0.9693),
        }.items()
    }
)


def article_val_acc(optimizer: str, epoch: int) -> float | None:
    """The article's validation accuracy for ``optimizer`` after ``epoch`` epochs; None where it has none."""
    return ARTICLE_VAL_ACC.get(optimizer, {}).get(epoch)
