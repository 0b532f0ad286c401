"""The data layer: images, the pool to label, durable labels, demo datasets.

Knows nothing of models or widgets, and does not import torch.
"""

from alwidget.data.datasets import FASHION_MNIST_CLASSES, digits, fashion_mnist, mnist, read_idx
from alwidget.data.images import (
    IMAGE_EXTENSIONS,
    MAX_IMAGE_SIDE,
    ImageReadError,
    check_image_file,
    load_image_file,
    to_uint8_hwc,
)
from alwidget.data.pool import ImagePool, UnknownItemError
from alwidget.data.store import (
    LABEL_SOURCES,
    LABEL_SPLITS,
    LabelEvent,
    LabelStore,
    LabelStoreError,
)

__all__ = [
    "FASHION_MNIST_CLASSES",
    "IMAGE_EXTENSIONS",
    "LABEL_SOURCES",
    "LABEL_SPLITS",
    "MAX_IMAGE_SIDE",
    "ImagePool",
    "ImageReadError",
    "LabelEvent",
    "LabelStore",
    "LabelStoreError",
    "UnknownItemError",
    "check_image_file",
    "digits",
    "fashion_mnist",
    "load_image_file",
    "mnist",
    "read_idx",
    "to_uint8_hwc",
]
