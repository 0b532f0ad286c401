"""Where a pool's images come from: an array (in memory or memory-mapped), a list of arrays,
image files read lazily, or a map-style torch dataset indexed lazily. Lazy sources keep their
decoded images in a small LRU cache of :data:`CACHE_BYTES`."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from alwidget.data.images import _is_tensor, _untensor, load_image_file, to_uint8_hwc

CACHE_BYTES = 256 * 2**20
"""Decoded images kept per lazily loaded pool (file or torch sources), in bytes."""


class _LRU:
    """A thread-safe least-recently-used cache of arrays, bounded in bytes."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._data: "OrderedDict[int, np.ndarray]" = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: int) -> Optional[np.ndarray]:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: int, value: np.ndarray) -> None:
        if value.nbytes > self.max_bytes:
            return
        with self._lock:
            if key in self._data:
                return
            self._data[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.max_bytes:
                _, old = self._data.popitem(last=False)
                self._bytes -= old.nbytes


class _Source:
    """Where a pool's images live; ``get(row, item)`` returns a read-only uint8 HWC array
    (``cache=False``: a lazy source does not keep it in its LRU cache)."""

    lazy = False

    def get(self, row: int, item: str, cache: bool = True) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def stacked(self) -> Optional[np.ndarray]:
        return None

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


class _ArraySource(_Source):
    def __init__(self, array: np.ndarray, file: Optional[Tuple[str, int]] = None) -> None:
        array.flags.writeable = False
        self.array = array
        self.file = file  # (path, byte offset) of a memory-mapped array: pickled by reference

    def __reduce__(self) -> Any:
        if self.file is None:
            return (_ArraySource, (self.array,))
        return (_open_mapped, (self.file[0], self.file[1], self.array.dtype.str, self.array.shape))

    def get(self, row: int, item: str, cache: bool = True) -> np.ndarray:
        return self.array[row]

    def stacked(self) -> Optional[np.ndarray]:
        return self.array

    def describe(self) -> str:
        return "in memory " + "x".join(str(s) for s in self.array.shape[1:])


def _open_mapped(path: str, offset: int, dtype: str, shape: Tuple[int, ...]) -> _ArraySource:
    """Reopen a memory-mapped pool array (in another process, e.g. a Ray worker)."""
    try:
        array = np.memmap(path, mode="r", dtype=np.dtype(dtype), shape=tuple(shape), offset=int(offset))
    except OSError as exc:
        raise OSError(f"the pool's image array {path!r} cannot be opened on this machine ({exc}); put it on "
                      "storage every machine can read, at the same path") from None
    return _ArraySource(array, (path, int(offset)))


def _mapped_file(images: Any) -> Optional[Tuple[str, int]]:
    """``(path, offset)`` when ``images`` is a uint8 memory map usable as the pool's array as it is
    (``[N, H, W]`` or ``[N, H, W, C]`` with ``C`` 1 or 3, C-contiguous, the whole map)."""
    if not isinstance(images, np.memmap) or images.dtype != np.uint8 or images.filename is None:
        return None
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3)):
        return None
    if not images.flags.c_contiguous or images.shape[0] == 0:
        return None
    base = images
    while isinstance(getattr(base, "base", None), np.memmap):
        base = base.base
    if base is not images and base.nbytes != images.nbytes:  # a slice of a bigger map
        return None
    return str(images.filename), int(images.offset)


class _ListSource(_Source):
    def __init__(self, arrays: List[np.ndarray]) -> None:
        for array in arrays:
            array.flags.writeable = False
        self.arrays = arrays

    def get(self, row: int, item: str, cache: bool = True) -> np.ndarray:
        return self.arrays[row]

    def describe(self) -> str:
        return "in memory, mixed sizes"


class _LazySource(_Source):
    lazy = True

    def __init__(self) -> None:
        self.cache = _LRU()

    def load(self, row: int, item: str) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def get(self, row: int, item: str, cache: bool = True) -> np.ndarray:
        image = self.cache.get(row)
        if image is None:
            image = np.ascontiguousarray(self.load(row, item))
            image.flags.writeable = False
            if cache:
                self.cache.put(row, image)
        return image

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        state["cache"] = None
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.cache = _LRU()


class _FileSource(_LazySource):
    def __init__(self, paths: List[str]) -> None:
        super().__init__()
        self.paths = paths

    def load(self, row: int, item: str) -> np.ndarray:
        return load_image_file(self.paths[row], item=item)

    def reduced(self, row: int, item: str, min_side: int) -> np.ndarray:
        """The image decoded at a reduced scale whose sides stay at least ``min_side`` (JPEG's
        draft mode; other formats decode whole). Not cached: passes read each image once."""
        cached = self.cache.get(row)
        if cached is not None:
            return cached
        return load_image_file(self.paths[row], item=item, draft=min_side)

    def describe(self) -> str:
        return "files"


class _TorchSource(_LazySource):
    def __init__(self, dataset: Any) -> None:
        super().__init__()
        self.dataset = dataset

    def load(self, row: int, item: str) -> np.ndarray:
        sample = self.dataset[row]
        image = sample[0] if isinstance(sample, (tuple, list)) else sample
        if _is_tensor(image):  # CHW
            values = _untensor(image)
            if values.ndim == 3 and values.shape[0] in (1, 2, 3, 4):
                values = np.moveaxis(values, 0, -1)
            return to_uint8_hwc(values, item=item)
        return to_uint8_hwc(image, item=item)

    def describe(self) -> str:
        return f"torch dataset {type(self.dataset).__name__}"


def dataset_targets(dataset: Any, n: int) -> Optional[List[Any]]:
    """The targets of a map-style dataset of ``n`` items as Python scalars: ``dataset.targets``
    when it has ``n`` of them, else the second element of each item (one pass over the dataset),
    else ``None`` (also when every target is ``None``)."""
    from alwidget.data.pool_inputs import _as_value_list, _python_scalars

    targets: Optional[List[Any]] = None
    declared = getattr(dataset, "targets", None)
    if declared is not None:
        values, _ = _as_value_list(declared)
        if len(values) == n:
            targets = values
    if targets is None:
        first = dataset[0]
        if isinstance(first, (tuple, list)) and len(first) >= 2:
            targets = [first[1]] + [dataset[i][1] for i in range(1, n)]
    if targets is not None:
        targets = _python_scalars(targets)
        if all(t is None for t in targets):
            targets = None
    return targets


def readable_files(entries: Any, absolute: Any, skipped: List[Tuple[str, str]],
                   none_readable: str) -> Tuple[List[str], List[str], Dict[str, str]]:
    """``(ids, absolute paths, truth)`` of the readable files among ``entries``
    (``(item id, file, class name or None)``, kept in order); a file failing
    :func:`~alwidget.data.images.check_image_file` is appended to ``skipped`` with its reason.
    Raises ``ValueError`` ``"{none_readable}; for example ..."`` when none is readable."""
    from alwidget.data.images import ImageReadError, check_image_file

    item_ids: List[str] = []
    paths: List[str] = []
    truth: Dict[str, str] = {}
    for item, file, cls_name in entries:
        try:
            check_image_file(file, item=item)
        except ImageReadError as exc:
            skipped.append((item, exc.explanation))
            continue
        item_ids.append(item)
        paths.append(absolute(file))
        if cls_name is not None:
            truth[item] = cls_name
    if not item_ids:
        raise ValueError(f"{none_readable}; for example {skipped[0][0]!r}: {skipped[0][1]}")
    return item_ids, paths, truth

