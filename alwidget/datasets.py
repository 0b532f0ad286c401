"""Built-in demo datasets: ``alwidget.datasets.digits()`` and friends.

A thin re-export of :mod:`alwidget.data.datasets`.
"""

from alwidget.data.datasets import (
    DATA_ENV_VAR,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    digits,
    fashion_mnist,
    mnist,
    read_idx,
)

__all__ = [
    "DATA_ENV_VAR",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "digits",
    "fashion_mnist",
    "mnist",
    "read_idx",
]
