"""Tests for alwidget.data.pool.ImagePool."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alwidget.data.images import ImageReadError
from alwidget.data.pool import ImagePool, UnknownItemError

REPO = Path(__file__).resolve().parents[2]


def grey_stack(n=4, h=3, w=5):
    return np.arange(n * h * w, dtype=np.uint8).reshape(n, h, w)


# ----------------------------------------------------------------------------- from_arrays


def test_from_arrays_grey_stack():
    images = grey_stack()
    pool = ImagePool.from_arrays(images)
    assert len(pool) == 4
    assert pool.ids == ["0", "1", "2", "3"]
    assert pool.truth is None and pool.classes is None
    assert pool.image("2").shape == (3, 5, 1)
    np.testing.assert_array_equal(pool.image("2")[..., 0], images[2])
    array = pool.as_array()
    assert array.shape == (4, 3, 5, 1) and array.dtype == np.uint8
    np.testing.assert_array_equal(array[..., 0], images)


def test_from_arrays_copies_and_protects_the_pixels():
    images = grey_stack()
    pool = ImagePool.from_arrays(images)
    images[0, 0, 0] = 99
    assert images.flags.writeable  # the caller's array is left alone
    assert int(pool.image("0")[0, 0, 0]) == 0
    with pytest.raises(ValueError):
        pool.as_array()[0, 0, 0, 0] = 1
    with pytest.raises(ValueError):
        pool.image("1")[0, 0, 0] = 1


def test_from_arrays_float_stack_scaled_over_the_whole_array():
    images = np.zeros((2, 1, 2))
    images[0, 0] = [0.0, 1.0]
    images[1, 0] = [0.0, 0.2]
    pool = ImagePool.from_arrays(images)
    assert pool.as_array()[:, 0, :, 0].tolist() == [[0, 255], [0, 51]]


def test_from_arrays_rgba_stack_is_composited():
    images = np.zeros((1, 1, 2, 4), np.uint8)
    images[0, 0, 1] = [1, 2, 3, 255]
    pool = ImagePool.from_arrays(images)
    assert pool.as_array().shape == (1, 1, 2, 3)
    assert pool.image("0")[0].tolist() == [[255, 255, 255], [1, 2, 3]]


def test_from_arrays_list_of_different_sizes():
    images = [np.zeros((2, 3), np.uint8), np.ones((4, 4, 3), np.float32), Image.new("L", (6, 1), 9)]
    pool = ImagePool.from_arrays(images, ids=["a", "b", "c"])
    assert [pool.image(i).shape for i in pool.ids] == [(2, 3, 1), (4, 4, 3), (1, 6, 1)]
    assert int(pool.image("b")[0, 0, 0]) == 255
    assert int(pool.image("c")[0, 5, 0]) == 9
    assert pool.as_array() is None


def test_from_arrays_list_does_not_alias_the_callers_arrays():
    mine = np.zeros((2, 2, 3), np.uint8)
    pool = ImagePool.from_arrays([mine, np.zeros((3, 3), np.uint8)])
    mine[0, 0, 0] = 50
    assert mine.flags.writeable
    assert int(pool.image("0")[0, 0, 0]) == 0


def test_from_arrays_list_of_one_size_is_stacked():
    pool = ImagePool.from_arrays([np.full((2, 2), v, np.uint8) for v in (1, 2, 3)])
    assert pool.as_array().shape == (3, 2, 2, 1)
    assert pool.as_array()[:, 0, 0, 0].tolist() == [1, 2, 3]


def test_truth_names_without_classes_give_sorted_classes():
    pool = ImagePool.from_arrays(grey_stack(3), ids=["x", "y", "z"], truth=["dog", "cat", "dog"])
    assert pool.classes == ["cat", "dog"]
    assert pool.truth == {"x": "dog", "y": "cat", "z": "dog"}


def test_truth_ints_without_classes_become_strings():
    pool = ImagePool.from_arrays(grey_stack(3), truth=np.array([10, 2, 10]))
    assert pool.classes == ["2", "10"]  # numeric order, as strings
    assert pool.truth == {"0": "10", "1": "2", "2": "10"}


def test_truth_ints_index_the_given_classes():
    pool = ImagePool.from_arrays(grey_stack(3), truth=[1, 0, 1], classes=["cat", "dog"])
    assert pool.truth == {"0": "dog", "1": "cat", "2": "dog"}
    assert pool.classes == ["cat", "dog"]


def test_classes_without_truth_are_kept():
    pool = ImagePool.from_arrays(grey_stack(2), classes=["a", "b", "c"])
    assert pool.classes == ["a", "b", "c"] and pool.truth is None


def test_label_not_in_classes_message():
    with pytest.raises(ValueError) as info:
        ImagePool.from_arrays(grey_stack(4), ids=["img_0", "img_1", "img_2", "img_3"],
                              truth=["0", "1", "1", "cat"], classes=["0", "1"])
    assert str(info.value) == (
        "label 'cat' for item 'img_3' is not one of the classes ['0', '1']; "
        "pass one of them or add the class"
    )


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"truth": [0, 5, 1, 1], "classes": ["a", "b"]}, ValueError,
         r"truth index 5 for item '1' is out of range for the 2 classes"),
        ({"truth": [0, -1, 1, 1], "classes": ["a", "b"]}, ValueError, r"truth index -1"),
        ({"truth": ["a", 1, "b", "a"]}, TypeError, r"mixes class names"),
        ({"truth": np.array([0.0, 1.0, 1.0, 0.0])}, TypeError, r"truth\.astype\(int\)"),
        ({"truth": [True, False, True, True]}, TypeError, r"truth value True for item '0'"),
        ({"truth": ["a", "b", "a"]}, ValueError, r"truth has 3 values but there are 4 images"),
        ({"classes": ["a", "a"]}, ValueError, r"class name 'a' appears twice"),
        ({"classes": ["a", " "]}, ValueError, r"must not be empty or blank"),
        ({"classes": []}, ValueError, r"classes is empty"),
        ({"classes": "ab"}, TypeError, r"single string 'ab'"),
        ({"classes": [0, 1]}, TypeError, r"class name 0 is a int"),
        ({"truth": ["a", "", "b", "a"]}, ValueError, r"must not be empty"),
        ({"ids": ["a", "b", "c"]}, ValueError, r"got 3 ids for 4 images"),
        ({"ids": ["a", "b", "a", "b"]}, ValueError, r"duplicate item id 'a'"),
        ({"ids": ["a", "b", 3, "d"]}, TypeError, r"id 3 at position 2 is a int"),
        ({"ids": ["a", "", "c", "d"]}, ValueError, r"position 1 is an empty string"),
    ],
)
def test_from_arrays_validation(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        ImagePool.from_arrays(grey_stack(4), **kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_images_name_the_item(bad):
    images = np.zeros((5, 2, 2))
    images[3, 1, 1] = bad
    with pytest.raises(ValueError, match=r"image 'd' \(index 3\) contains NaN or infinite"):
        ImagePool.from_arrays(images, ids=list("abcde"))


def test_out_of_range_floats_name_the_first_bad_item():
    images = np.zeros((3, 2, 2))
    images[2, 0, 0] = -0.5
    with pytest.raises(ValueError, match=r"image '2' has float pixel values in \[-0.5, 0\].*index 2"):
        ImagePool.from_arrays(images)


@pytest.mark.parametrize(
    "images, error, pattern",
    [
        (np.zeros((0, 4, 4), np.uint8), ValueError, r"the pool is empty"),
        ([], ValueError, r"the pool is empty"),
        (np.zeros((4, 4), np.uint8), ValueError, r"expected \[N, H, W\] or \[N, H, W, C\]"),
        (np.zeros((2, 4, 4, 3, 1), np.uint8), ValueError, r"expected \[N, H, W\]"),
        (np.zeros((2, 4, 4, 5), np.uint8), ValueError, r"images has shape \(2, 4, 4, 5\) with 5 channels"),
        (np.zeros((2, 2, 2), dtype=object), ValueError, r"dtype object"),
        (np.zeros((2, 2, 2), dtype=complex), ValueError, r"dtype complex128"),
        (np.full((2, 2, 2), "a"), ValueError, r"dtype <U1"),
        ("folder/", TypeError, r"from_folder"),
        (5, TypeError, r"got int"),
    ],
)
def test_from_arrays_bad_images(images, error, pattern):
    with pytest.raises(error, match=pattern):
        ImagePool.from_arrays(images)


# ----------------------------------------------------------------------------- access


def test_index_and_unknown_items():
    pool = ImagePool.from_arrays(grey_stack(3), ids=["a", "b", "c"])
    assert pool.index("c") == 2
    assert "b" in pool and "q" not in pool
    with pytest.raises(UnknownItemError) as info:
        pool.index("x")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "item 'x' is not in the pool"
    with pytest.raises(KeyError, match=r"item ids are strings; did you mean '1'"):
        pool.image(1)


def test_ids_truth_and_classes_are_shared_but_read_only():
    pool = ImagePool.from_arrays(grey_stack(2), truth=["a", "b"])
    assert pool.ids is pool.ids and pool.truth is pool.truth  # no copy per access
    assert isinstance(pool.ids, list) and isinstance(pool.truth, dict)
    for change in (lambda: pool.ids.append("zzz"), lambda: pool.ids.__setitem__(0, "q"),
                   lambda: pool.truth.__setitem__("0", "b"), lambda: pool.truth.pop("0"),
                   lambda: pool.classes.append("c"), lambda: pool.ids.sort()):
        with pytest.raises(TypeError, match="belongs to an ImagePool and is read-only; copy it"):
            change()
    ids = pool.ids
    with pytest.raises(TypeError):
        ids += ["x"]
    assert pool.ids == ["0", "1"]
    assert pool.truth == {"0": "a", "1": "b"}
    assert pool.classes == ["a", "b"]
    editable = list(pool.ids) + ["2"]
    assert editable == ["0", "1", "2"]
    assert json.loads(json.dumps({"ids": pool.ids, "truth": pool.truth})) == {
        "ids": ["0", "1"], "truth": {"0": "a", "1": "b"}}
    assert pickle.loads(pickle.dumps(pool.truth)) == {"0": "a", "1": "b"}


def test_subset_keeps_the_given_order_truth_and_classes():
    images = grey_stack(5)
    pool = ImagePool.from_arrays(images, ids=list("abcde"), truth=[0, 1, 2, 0, 1],
                                 classes=["x", "y", "z"])
    sub = pool.subset(["d", "a", "e"])
    assert sub.ids == ["d", "a", "e"]
    assert sub.truth == {"d": "x", "a": "x", "e": "y"}
    assert sub.classes == ["x", "y", "z"]
    np.testing.assert_array_equal(sub.as_array()[..., 0], images[[3, 0, 4]])
    np.testing.assert_array_equal(sub.image("e")[..., 0], images[4])
    assert sub.index("a") == 1
    assert len(pool.subset([])) == 0
    with pytest.raises(UnknownItemError, match="item 'q' is not in the pool"):
        pool.subset(["a", "q"])
    with pytest.raises(ValueError, match="item 'a' appears twice"):
        pool.subset(["a", "b", "a"])


def test_split_is_random_disjoint_and_deterministic():
    pool = ImagePool.from_arrays(np.zeros((100, 2, 2), np.uint8))
    part, rest = pool.split(30, seed=7)
    assert (len(part), len(rest)) == (30, 70)
    assert set(part.ids).isdisjoint(rest.ids)
    assert sorted(part.ids + rest.ids, key=int) == pool.ids
    assert part.ids == sorted(part.ids, key=int)  # pool order kept
    assert part.ids != [str(i) for i in range(30)]  # not simply the first 30
    again, _ = pool.split(30, seed=7)
    other, _ = pool.split(30, seed=8)
    assert again.ids == part.ids and other.ids != part.ids
    quarter, _ = pool.split(0.25, seed=0)
    assert len(quarter) == 25
    assert [len(p) for p in pool.split(0, seed=0)] == [0, 100]
    with pytest.raises(ValueError, match=r"size 101 is out of range for a pool of 100 items"):
        pool.split(101)
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\]"):
        pool.split(1.5)
    with pytest.raises(TypeError):
        pool.split(True)


def test_fingerprint_covers_ids_and_classes_not_pixels():
    a = ImagePool.from_arrays(np.zeros((3, 2, 2), np.uint8), truth=["x", "y", "x"])
    b = ImagePool.from_arrays(np.ones((3, 4, 4), np.uint8), truth=["y", "x", "y"])
    assert a.fingerprint() == b.fingerprint()
    assert len(a.fingerprint()) == 64 and set(a.fingerprint()) <= set("0123456789abcdef")  # sha256, hex
    c = ImagePool.from_arrays(np.zeros((3, 2, 2), np.uint8), ids=["0", "2", "1"],
                              truth=["x", "y", "x"])
    d = ImagePool.from_arrays(np.zeros((3, 2, 2), np.uint8), truth=["x", "y", "z"])
    assert len({a.fingerprint(), c.fingerprint(), d.fingerprint()}) == 3
    assert a.subset(["0", "1"]).fingerprint() != a.fingerprint()


def test_fingerprint_is_stable_across_versions():
    # Stored in label stores: changing it orphans every existing store.
    pool = ImagePool.from_arrays(np.zeros((2, 1, 1), np.uint8), ids=["a", "é"], truth=["x", "y"])
    documented = json.dumps({"format": "alwidget-pool-v1", "ids": ["a", "é"], "classes": ["x", "y"]},
                            ensure_ascii=False, separators=(",", ":"))
    assert pool.fingerprint() == hashlib.sha256(documented.encode("utf-8")).hexdigest()
    assert pool.fingerprint() == "86a0151463fe450c2a3b6eb5a641ab2515046b1dce319c72c3c39049fe3b60e4"


def test_repr_and_pickle():
    pool = ImagePool.from_arrays(grey_stack(4), truth=[0, 1, 0, 1])
    assert repr(pool) == "ImagePool(4 images, in memory 3x5x1, classes=['0', '1'], truth known)"
    copy = pickle.loads(pickle.dumps(pool))
    assert copy.ids == pool.ids and copy.truth == pool.truth
    np.testing.assert_array_equal(copy.as_array(), pool.as_array())


def test_importing_the_data_layer_does_not_import_torch():
    # Load alwidget/data/ and alwidget/datasets.py without the package __init__ (which
    # pulls in the model layer): the data layer itself must not import torch.
    code = (
        "import sys, types\n"
        f"package = types.ModuleType('alwidget'); package.__path__ = [{str(REPO / 'alwidget')!r}]\n"
        "sys.modules['alwidget'] = package\n"
        "import alwidget.data, alwidget.datasets\n"
        "alwidget.data.ImagePool.from_arrays([[[0]]])\n"
        "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- folders


@pytest.fixture
def class_folder(tmp_path, save_image, truncated_png, huge_png):
    """cat/ and dog/ with good images, plus every kind of bad file."""
    save_image("cat/001.png", np.full((4, 4), 10, np.uint8))
    save_image("cat/nested/002.jpg", Image.new("RGB", (6, 3), (200, 10, 10)))
    save_image("dog/ünïcödé 狗.png", np.full((2, 2, 3), 30, np.uint8))
    save_image("dog/<img onerror=alert(1)>.png", np.full((2, 2), 40, np.uint8))
    (tmp_path / "dog" / "empty.png").write_bytes(b"")
    (tmp_path / "dog" / "notes.jpg").write_text("not an image")
    (tmp_path / "dog" / "readme.txt").write_text("ignored: not an image extension")
    (tmp_path / "dog" / ".hidden.png").write_bytes(b"")
    truncated_png.rename(tmp_path / "cat" / "truncated.png")
    huge_png.rename(tmp_path / "dog" / "huge.png")
    (tmp_path / "empty_folder").mkdir()
    save_image("loose.png", np.zeros((2, 2), np.uint8))
    return tmp_path


def test_from_folder_with_class_sub_folders(class_folder):
    pool = ImagePool.from_folder(class_folder)
    assert pool.classes == ["cat", "dog"]
    assert pool.ids == [
        "cat/001.png",
        "cat/nested/002.jpg",
        "cat/truncated.png",
        "dog/<img onerror=alert(1)>.png",
        "dog/ünïcödé 狗.png",
    ]
    assert pool.truth == {i: i.split("/")[0] for i in pool.ids}
    skipped = dict(pool.skipped)
    assert skipped["dog/empty.png"] == "empty file (0 bytes); re-export the file as PNG or JPEG, or remove it"
    assert skipped["dog/notes.jpg"] == "not an image file Pillow can read; re-export the file as PNG or JPEG, or remove it"
    assert "10000 x 10000 px" in skipped["dog/huge.png"]
    assert "not inside a class sub-folder" in skipped["loose.png"]
    assert len(skipped) == 4
    assert pool.image("dog/<img onerror=alert(1)>.png")[..., 0].tolist() == [[40, 40], [40, 40]]
    assert pool.image("dog/ünïcödé 狗.png").shape == (2, 2, 3)
    assert pool.image("cat/nested/002.jpg").shape == (3, 6, 3)
    assert pool.as_array() is None
    assert "5 images, files" in repr(pool) and "4 skipped" in repr(pool)


def test_from_folder_records_files_that_fail_to_decode_later(class_folder):
    pool = ImagePool.from_folder(class_folder)
    with pytest.raises(ImageReadError, match="truncated or corrupt") as info:
        pool.image("cat/truncated.png")
    assert info.value.item == "cat/truncated.png"
    assert ("cat/truncated.png", "truncated or corrupt image data; re-export the file as PNG or JPEG, or remove it") in pool.skipped
    with pytest.raises(ImageReadError):
        pool.image("cat/truncated.png")
    assert [item for item, _ in pool.skipped].count("cat/truncated.png") == 1


def test_a_file_deleted_after_construction_is_reported(tmp_path, save_image):
    save_image("a.png", np.zeros((2, 2), np.uint8))
    save_image("b.png", np.zeros((2, 2), np.uint8))
    pool = ImagePool.from_folder(tmp_path)
    (tmp_path / "b.png").unlink()
    with pytest.raises(ImageReadError, match=r"b\.png.*the file does not exist"):
        pool.image("b.png")
    assert pool.skipped == [("b.png", "the file does not exist; check the path, or remove the item")]
    assert pool.image("a.png").shape == (2, 2, 1)


def test_from_folder_flat_is_unlabeled(tmp_path, save_image):
    for name in ("b.png", "a.png", "c.jpeg"):
        save_image(name, np.zeros((3, 3, 3), np.uint8))
    (tmp_path / "data.csv").write_text("x,y\n")
    pool = ImagePool.from_folder(tmp_path)
    assert pool.ids == ["a.png", "b.png", "c.jpeg"]
    assert pool.truth is None and pool.classes is None and pool.skipped == []


def test_from_folder_extensions(tmp_path, save_image):
    save_image("a.png", np.zeros((3, 3), np.uint8))
    save_image("b.JPG", np.zeros((3, 3), np.uint8), format="JPEG")
    assert ImagePool.from_folder(tmp_path, extensions=["jpg"]).ids == ["b.JPG"]
    assert ImagePool.from_folder(tmp_path, extensions=".PNG").ids == ["a.png"]


def test_from_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"image folder '.*nowhere' does not exist"):
        ImagePool.from_folder(tmp_path / "nowhere")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="from_paths"):
        ImagePool.from_folder(tmp_path / "file.png")
    with pytest.raises(ValueError, match=r"none of the 1 image files .* 'file.png': empty file"):
        ImagePool.from_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files in folder"):
        ImagePool.from_folder(tmp_path / "empty")


def test_from_paths(tmp_path, save_image, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_image("one.png", np.full((2, 2), 1, np.uint8))
    save_image("sub/two.png", np.full((2, 2), 2, np.uint8))
    pool = ImagePool.from_paths(["one.png", Path("sub/two.png"), "missing.png"],
                                truth=["b", "a", "c"])
    assert pool.ids == ["one.png", os.path.join("sub", "two.png")]
    assert pool.classes == ["a", "b", "c"]  # inferred from every given path
    assert pool.truth == {"one.png": "b", os.path.join("sub", "two.png"): "a"}
    assert pool.skipped == [("missing.png", "the file does not exist; check the path, or remove the item")]
    monkeypatch.chdir(tmp_path / "sub")  # paths were resolved at construction
    assert int(pool.image("one.png")[0, 0, 0]) == 1
    with pytest.raises(ValueError, match=r"none of the 1 files is a readable image"):
        ImagePool.from_paths(["nope.png"])
    with pytest.raises(ValueError, match="duplicate item id"):
        ImagePool.from_paths([tmp_path / "one.png", tmp_path / "one.png"])
    with pytest.raises(TypeError, match="not a single path"):
        ImagePool.from_paths("one.png")


# ----------------------------------------------------------------------------- torch


class FakeDataset:
    """A map-style dataset without torch: (PIL image, int target), counting accesses."""

    def __init__(self, n=5, with_targets=True):
        self.calls = 0
        self.labels = [i % 3 for i in range(n)]
        self.classes = ["zero", "one", "two"]
        if with_targets:
            self.targets = list(self.labels)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        self.calls += 1
        return Image.new("L", (4, 3), 10 * i), self.labels[i]


def test_from_torch_uses_targets_and_is_lazy():
    dataset = FakeDataset()
    pool = ImagePool.from_torch(dataset)
    assert dataset.calls == 0
    assert pool.ids == ["0", "1", "2", "3", "4"]
    assert pool.classes == ["zero", "one", "two"]
    assert pool.truth == {"0": "zero", "1": "one", "2": "two", "3": "zero", "4": "one"}
    assert pool.image("4").shape == (3, 4, 1) and int(pool.image("4")[0, 0, 0]) == 40
    assert dataset.calls == 1  # the second image("4") came from the cache
    assert pool.as_array() is None


def test_from_torch_without_targets_iterates_once():
    dataset = FakeDataset(with_targets=False)
    pool = ImagePool.from_torch(dataset, classes=["a", "b", "c"])
    assert dataset.calls == 5
    assert [pool.truth[i] for i in pool.ids] == ["a", "b", "c", "a", "b"]


def test_from_torch_images_only():
    class Images:
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return np.full((2, 2, 3), i, np.uint8)

    pool = ImagePool.from_torch(Images())
    assert pool.truth is None and pool.classes is None
    assert pool.image("1")[0, 0].tolist() == [1, 1, 1]


def test_from_torch_errors():
    with pytest.raises(TypeError, match="has no len"):
        ImagePool.from_torch(iter([]))
    with pytest.raises(ValueError, match="the dataset is empty"):
        ImagePool.from_torch([])


def test_from_torch_with_real_tensors():
    torch = pytest.importorskip("torch")
    images = torch.rand(6, 3, 5, 4)
    images[0] = 1.0
    dataset = torch.utils.data.TensorDataset(images, torch.tensor([0, 1, 2, 0, 1, 2]))
    pool = ImagePool.from_torch(dataset, classes=["a", "b", "c"])
    assert pool.truth["5"] == "c"
    assert pool.image("0").shape == (5, 4, 3)
    assert int(pool.image("0").min()) == 255
    expected = np.rint(images[3].permute(1, 2, 0).numpy().astype(np.float64) * 255)
    np.testing.assert_array_equal(pool.image("3"), expected.astype(np.uint8))
    normalised = torch.utils.data.TensorDataset(images - 0.5)
    with pytest.raises(ValueError, match="Normalize"):
        ImagePool.from_torch(normalised).image("1")
