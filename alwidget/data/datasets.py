"""Built-in demo datasets as :class:`~alwidget.data.pool.ImagePool` objects.

* :func:`digits` -- scikit-learn's bundled 8 x 8 digits; works offline everywhere.
* :func:`mnist`, :func:`fashion_mnist` -- read local IDX files (``.gz`` or plain) in the
  torchvision / Keras layout. Nothing is downloaded: pass ``root=`` or set the
  environment variable ``ALWIDGET_DATA`` to the folder holding them.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from alwidget.data.pool import ImagePool

__all__ = [
    "DATA_ENV_VAR",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "digits",
    "fashion_mnist",
    "mnist",
    "read_idx",
]

DATA_ENV_VAR = "ALWIDGET_DATA"
"""Environment variable naming the folder that holds the datasets (or its parent)."""

FASHION_MNIST_CLASSES: List[str] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
"""Fashion-MNIST class names, in label order 0..9."""

MNIST_CLASSES: List[str] = [str(d) for d in range(10)]
"""MNIST class names ``"0"`` .. ``"9"``."""

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

PathLike = Union[str, "os.PathLike[str]"]


# ----------------------------------------------------------------------------- digits


def digits() -> ImagePool:
    """scikit-learn's bundled handwritten digits (offline).

    Returns
    -------
    ImagePool
        1,797 grey images, ``uint8`` ``[8, 8, 1]`` (the original 0..16 intensities
        scaled to 0..255), ids ``"digits-0000"`` .. ``"digits-1796"``, classes
        ``"0"`` .. ``"9"`` and the known truth.
    """
    from sklearn.datasets import load_digits  # lazily: importing scikit-learn is slow

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    ids = [f"digits-{i:04d}" for i in range(len(images))]
    return ImagePool.from_arrays(images, ids=ids, truth=bunch.target, classes=MNIST_CLASSES)


# ----------------------------------------------------------------------------- IDX


class _IdxError(ValueError):
    pass


def _open_maybe_gzip(path: Path):  # type: ignore[no-untyped-def]
    with open(path, "rb") as handle:
        magic = handle.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _read_exact(handle, count: int, path: Path, what: str) -> bytes:  # type: ignore[no-untyped-def]
    data = handle.read(count)
    if len(data) != count:
        raise _IdxError(f"{what}: expected {count} bytes, the file ends after {len(data)}")
    return data


def read_idx(path: PathLike, limit: Optional[int] = None) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or plain.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    limit : int, optional
        Read only the first ``limit`` records along the first axis.

    Returns
    -------
    numpy.ndarray
        The array, in native byte order, of the shape and type the header gives
        (``uint8`` ``[N, 28, 28]`` for MNIST images, ``uint8`` ``[N]`` for labels).

    Raises
    ------
    ValueError
        If the file is corrupt: bad magic number, unknown type code, or a size that
        does not match the header. The message names the file.
    """
    path = Path(os.fspath(path))
    try:
        with _open_maybe_gzip(path) as handle:
            header = _read_exact(handle, 4, path, "header")
            if header[0] != 0 or header[1] != 0:
                raise _IdxError(
                    f"bad magic number 0x{header.hex()} (an IDX file starts with two zero bytes)"
                )
            code, ndim = header[2], header[3]
            if code not in _IDX_DTYPES:
                raise _IdxError(f"unknown IDX type code 0x{code:02x}")
            if ndim == 0:
                raise _IdxError("the header gives zero dimensions")
            shape = list(np.frombuffer(_read_exact(handle, 4 * ndim, path, "dimensions"), ">u4"))
            shape = [int(s) for s in shape]
            if limit is not None:
                shape[0] = min(shape[0], limit)
            dtype = _IDX_DTYPES[code]
            count = int(np.prod(shape, dtype=np.int64))
            data = _read_exact(handle, count * dtype.itemsize, path, "data")
            if limit is None and handle.read(1):
                raise _IdxError("the file holds more data than its header says")
    except _IdxError as exc:
        raise ValueError(
            f"{str(path)!r} is not a valid IDX file: {exc}; download it again"
        ) from None
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(
            f"{str(path)!r} cannot be read as an IDX file ({exc}); download it again"
        ) from exc
    return np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="), copy=False).reshape(
        shape
    )


# ----------------------------------------------------------------------------- MNIST family


def _file_in(folder: Path, name: str) -> Optional[Path]:
    for candidate in (folder / (name + ".gz"), folder / name):
        if candidate.is_file():
            return candidate
    return None


def _find_files(
    root: Optional[PathLike], subfolders: Sequence[str], split: str, dataset: str
) -> Tuple[Path, Path]:
    """Locate the image and label files of ``split`` under ``root`` (or ALWIDGET_DATA)."""
    if root is None:
        env = os.environ.get(DATA_ENV_VAR)
        if not env:
            raise FileNotFoundError(
                f"no {dataset} files: no root= given and the environment variable "
                f"{DATA_ENV_VAR} is not set; pass root='folder/with/the/files', or set "
                f"{DATA_ENV_VAR} to that folder (or its parent holding "
                f"{'/ or '.join(subfolders[:2])}/)"
            )
        bases = [Path(env).expanduser()]
    else:
        bases = [Path(os.fspath(root)).expanduser()]
    image_name, label_name = _FILES[split]
    looked: List[str] = []
    for base in bases:
        for folder in [base / sub for sub in subfolders] + [base]:
            looked.append(str(folder))
            images = _file_in(folder, image_name)
            labels = _file_in(folder, label_name)
            if images is not None and labels is not None:
                return images, labels
    source = "root=" if root is not None else f"{DATA_ENV_VAR}="
    raise FileNotFoundError(
        f"cannot find the {dataset} {split!r} split ({image_name}[.gz] and {label_name}[.gz]); "
        f"looked in ({source}): {', '.join(looked)}; pass root= the folder holding these "
        f"files (or set {DATA_ENV_VAR})"
    )


def _check_limit(limit: Optional[int]) -> Optional[int]:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    return int(limit)


def _load_idx_pool(
    root: Optional[PathLike],
    split: str,
    limit: Optional[int],
    *,
    dataset: str,
    prefix: str,
    subfolders: Sequence[str],
    classes: List[str],
) -> ImagePool:
    if split not in _FILES:
        raise ValueError(f"split {split!r} is not one of ['train', 'test']; pass one of them")
    limit = _check_limit(limit)
    image_file, label_file = _find_files(root, subfolders, split, dataset)
    images = read_idx(image_file, limit=limit)
    labels = read_idx(label_file, limit=limit)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{str(image_file)!r} holds {images.dtype} data of shape {images.shape}, not uint8 "
            "images [N, H, W]; check that it is the right file"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"{str(label_file)!r} holds {labels.shape} labels for {len(images)} images in "
            f"{str(image_file)!r}; check that the two files belong together"
        )
    if labels.size and int(labels.max()) >= len(classes):
        raise ValueError(
            f"{str(label_file)!r} holds label {int(labels.max())}, but {dataset} has "
            f"{len(classes)} classes; check that it is the right file"
        )
    width = max(5, len(str(len(images) - 1)))
    ids = [f"{prefix}-{split}-{i:0{width}d}" for i in range(len(images))]
    return ImagePool.from_arrays(images, ids=ids, truth=labels.astype(np.int64), classes=classes)


def mnist(
    root: Optional[PathLike] = None, split: str = "test", limit: Optional[int] = None
) -> ImagePool:
    """MNIST handwritten digits from local IDX files.

    Parameters
    ----------
    root : str or os.PathLike, optional
        The folder holding ``t10k-images-idx3-ubyte.gz`` etc. (gzip or plain), or a
        parent holding ``mnist-test/``, ``mnist/``, or torchvision's ``MNIST/raw/``.
        Default: the environment variable ``ALWIDGET_DATA``.
    split : {"test", "train"}, default "test"
        Which file pair to read.
    limit : int, optional
        Take only the first ``limit`` images.

    Returns
    -------
    ImagePool
        In memory, ``uint8`` ``[N, 28, 28, 1]``, ids ``"mnist-test-00000"`` ...,
        classes ``"0"`` .. ``"9"`` and the known truth.

    Raises
    ------
    FileNotFoundError
        If the files are not found; the message lists the folders looked in.
    ValueError
        If a file is corrupt.
    """
    return _load_idx_pool(
        root,
        split,
        limit,
        dataset="MNIST",
        prefix="mnist",
        subfolders=("mnist-test" if split == "test" else "mnist-train", "mnist",
                    "MNIST/raw", "MNIST"),
        classes=MNIST_CLASSES,
    )


def fashion_mnist(
    root: Optional[PathLike] = None, split: str = "train", limit: Optional[int] = None
) -> ImagePool:
    """Fashion-MNIST (Zalando Research) from local IDX files.

    Parameters
    ----------
    root : str or os.PathLike, optional
        The folder holding ``train-images-idx3-ubyte.gz`` etc. (gzip or plain), or a
        parent holding ``fashion-mnist/`` or torchvision's ``FashionMNIST/raw/``.
        Default: the environment variable ``ALWIDGET_DATA``.
    split : {"train", "test"}, default "train"
        Which file pair to read (60,000 or 10,000 images).
    limit : int, optional
        Take only the first ``limit`` images.

    Returns
    -------
    ImagePool
        In memory, ``uint8`` ``[N, 28, 28, 1]``, ids ``"fashion-train-00000"`` ...,
        classes :data:`FASHION_MNIST_CLASSES` and the known truth.

    Raises
    ------
    FileNotFoundError
        If the files are not found; the message lists the folders looked in.
    ValueError
        If a file is corrupt.
    """
    return _load_idx_pool(
        root,
        split,
        limit,
        dataset="Fashion-MNIST",
        prefix="fashion",
        subfolders=("fashion-mnist", "fashion_mnist", "FashionMNIST/raw", "FashionMNIST"),
        classes=FASHION_MNIST_CLASSES,
    )
