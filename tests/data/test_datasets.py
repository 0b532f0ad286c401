"""Tests for alwidget.data.datasets: digits, MNIST and Fashion-MNIST from IDX files."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

import alwidget.datasets
from alwidget.data import datasets
from alwidget.data.datasets import FASHION_MNIST_CLASSES, digits, fashion_mnist, mnist, read_idx

# SHA-256 of the decompressed IDX files, from shared/datasets/README.md.
SHA256 = {
    ("fashion", "train"): "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ("fashion", "test"): "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ("mnist", "test"): "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 / int16 / float32 array."""
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i2"): 0x0B, np.dtype(">f4"): 0x0D}
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    header = bytes([0, 0, code[big.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + big.tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def fake_split(folder: Path, split: str = "test", n: int = 6, compress: bool = True) -> np.ndarray:
    """Write a tiny MNIST-style split; return its images [n, 4, 3]."""
    stem = "t10k" if split == "test" else "train"
    images = np.arange(n * 12, dtype=np.uint8).reshape(n, 4, 3)
    write_idx(folder / f"{stem}-images-idx3-ubyte", images, compress)
    write_idx(folder / f"{stem}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8), compress)
    return images


def class_counts(pool):
    values, counts = np.unique([pool.truth[i] for i in pool.ids], return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))


# ----------------------------------------------------------------------------- digits


def test_digits():
    pool = digits()
    assert len(pool) == 1797
    assert pool.ids[0] == "digits-0000" and pool.ids[-1] == "digits-1796"
    assert pool.classes == [str(d) for d in range(10)]
    assert pool.as_array().shape == (1797, 8, 8, 1)
    # first row of the first digit is 0 0 5 13 9 1 0 0 on the 0..16 scale
    assert pool.image("digits-0000")[0, :, 0].tolist() == [0, 0, 80, 207, 143, 16, 0, 0]
    assert int(pool.as_array().max()) == 255
    assert [pool.truth[i] for i in pool.ids[:10]] == [str(d) for d in range(10)]
    assert list(class_counts(pool).values()) == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_alwidget_datasets_re_exports():
    assert alwidget.datasets.digits is digits
    assert alwidget.datasets.fashion_mnist is fashion_mnist
    assert alwidget.datasets.mnist is mnist
    assert alwidget.datasets.FASHION_MNIST_CLASSES == FASHION_MNIST_CLASSES


def test_alwidget_datasets_re_exports_exactly_the_data_module_exports():
    # a literal list in both modules (static checkers read only literal __all__)
    assert alwidget.datasets.__all__ == datasets.__all__
    for name in datasets.__all__:
        assert getattr(alwidget.datasets, name) is getattr(datasets, name)


# ----------------------------------------------------------------------------- real files


def _sha256_of(pool) -> str:
    array = pool.as_array()[..., 0]
    return hashlib.sha256(idx_bytes(array)).hexdigest()


def test_fashion_mnist_train(data_dir):
    pool = fashion_mnist(root=data_dir)
    assert len(pool) == 60_000
    assert pool.as_array().shape == (60_000, 28, 28, 1)
    assert pool.ids[0] == "fashion-train-00000" and pool.ids[-1] == "fashion-train-59999"
    assert pool.classes == FASHION_MNIST_CLASSES
    assert class_counts(pool) == {name: 6000 for name in FASHION_MNIST_CLASSES}
    first = [pool.classes.index(pool.truth[i]) for i in pool.ids[:10]]
    assert first == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert _sha256_of(pool) == SHA256[("fashion", "train")]


def test_fashion_mnist_test_split_from_the_environment(data_dir, monkeypatch):
    monkeypatch.setenv("ALWIDGET_DATA", str(data_dir))
    pool = fashion_mnist(split="test")
    assert len(pool) == 10_000
    assert class_counts(pool) == {name: 1000 for name in FASHION_MNIST_CLASSES}
    assert _sha256_of(pool) == SHA256[("fashion", "test")]


def test_mnist_test(data_dir):
    pool = mnist(root=data_dir)
    assert len(pool) == 10_000
    assert pool.ids[0] == "mnist-test-00000" and pool.ids[-1] == "mnist-test-09999"
    assert [pool.truth[i] for i in pool.ids[:5]] == ["7", "2", "1", "0", "4"]
    assert list(class_counts(pool).values()) == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                 974, 1009]
    assert _sha256_of(pool) == SHA256[("mnist", "test")]


def test_limit_takes_the_first_images(data_dir):
    full = mnist(root=data_dir / "mnist-test")
    few = mnist(root=data_dir / "mnist-test", limit=3)
    assert few.ids == full.ids[:3]
    np.testing.assert_array_equal(few.as_array(), full.as_array()[:3])
    assert few.truth == {i: full.truth[i] for i in few.ids}


def test_mnist_train_split_is_not_in_the_shared_folder(data_dir):
    with pytest.raises(FileNotFoundError, match=r"MNIST 'train' split \(train-images-idx3-ubyte"):
        mnist(root=data_dir, split="train")


# ----------------------------------------------------------------------------- layouts


@pytest.mark.parametrize(
    "sub, compress",
    [("", True), ("fashion-mnist", True), ("FashionMNIST/raw", True), ("", False)],
    ids=["folder-itself", "parent", "torchvision", "uncompressed"],
)
def test_fashion_mnist_folder_layouts(tmp_path, sub, compress):
    images = fake_split(tmp_path / sub, "train", compress=compress)
    pool = fashion_mnist(root=tmp_path, split="train")
    np.testing.assert_array_equal(pool.as_array()[..., 0], images)
    assert [pool.truth[i] for i in pool.ids] == FASHION_MNIST_CLASSES[:6]


@pytest.mark.parametrize("sub", ["mnist-test", "mnist", "MNIST/raw"])
def test_mnist_folder_layouts(tmp_path, sub, monkeypatch):
    fake_split(tmp_path / sub, "test", n=3)
    monkeypatch.setenv("ALWIDGET_DATA", str(tmp_path))
    pool = mnist()
    assert pool.ids == ["mnist-test-00000", "mnist-test-00001", "mnist-test-00002"]
    assert pool.truth == {"mnist-test-00000": "0", "mnist-test-00001": "1", "mnist-test-00002": "2"}


def test_missing_files_list_the_places_looked(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        fashion_mnist(root=tmp_path)
    message = str(info.value)
    assert "train-images-idx3-ubyte[.gz]" in message
    for place in ("fashion-mnist", "FashionMNIST/raw", str(tmp_path)):
        assert place in message
    assert "pass root=" in message and "ALWIDGET_DATA" in message


def test_no_root_and_no_environment(monkeypatch):
    monkeypatch.delenv("ALWIDGET_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"no root= given and the environment variable "
                                                 r"ALWIDGET_DATA is not set"):
        mnist()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"split 'valid' is not one of \['train', 'test'\]"):
        fashion_mnist(root=tmp_path, split="valid")
    with pytest.raises(ValueError, match="limit must be a positive int"):
        mnist(root=tmp_path, limit=0)


# ----------------------------------------------------------------------------- IDX parsing


def test_read_idx_other_types_in_native_byte_order(tmp_path):
    shorts = np.array([[1, -2], [300, -32768]], dtype=np.int16)
    floats = np.array([0.5, -1.25, 3e9], dtype=np.float32)
    got = read_idx(write_idx(tmp_path / "s.idx", shorts.astype(">i2"), compress=False))
    assert got.dtype == np.int16 and got.dtype.isnative and got.tolist() == shorts.tolist()
    got = read_idx(write_idx(tmp_path / "f.idx", floats.astype(">f4")))
    assert got.dtype == np.float32 and got.tolist() == floats.tolist()
    assert read_idx(write_idx(tmp_path / "u.idx", np.arange(10, dtype=np.uint8)), limit=4).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "mangle, pattern",
    [
        (lambda b: b"\x01\x02" + b[2:], r"bad magic number 0x0102"),
        (lambda b: b[:2] + b"\x07" + b[3:], r"unknown IDX type code 0x07"),
        (lambda b: b[:-5], r"data: expected 72 bytes, the file ends after 67"),
        (lambda b: b + b"\0", r"the file holds more data than its header says"),
        (lambda b: b[:6], r"dimensions: expected 12 bytes"),
        (lambda b: b"", r"header: expected 4 bytes"),
    ],
)
def test_corrupt_idx_files_are_named(tmp_path, mangle, pattern):
    path = tmp_path / "bad-images-idx3-ubyte"
    path.write_bytes(mangle(idx_bytes(np.zeros((6, 4, 3), np.uint8))))
    with pytest.raises(ValueError, match=r"bad-images-idx3-ubyte' is not a valid IDX file: "
                                         + pattern + ".*download it again"):
        read_idx(path)


def test_truncated_gzip_is_named(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8)))[:-40])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz'.*download it again"):
        read_idx(path)


def test_files_that_do_not_belong_together(tmp_path):
    fake_split(tmp_path, "test", n=6)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match=r"holds \(5,\) labels for 6 images"):
        mnist(root=tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(6, 12, np.uint8))
    with pytest.raises(ValueError, match=r"holds label 12, but MNIST has 10 classes"):
        mnist(root=tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros(6, np.uint8))
    with pytest.raises(ValueError, match=r"not uint8 images \[N, H, W\]"):
        mnist(root=tmp_path)


def test_module_constants():
    assert datasets.DATA_ENV_VAR == "ALWIDGET_DATA"
    assert len(FASHION_MNIST_CLASSES) == 10 and FASHION_MNIST_CLASSES[0] == "T-shirt/top"
