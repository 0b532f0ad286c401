"""The pool of images to label: :class:`ImagePool`.

A pool is an ordered, immutable collection of images identified by string item ids,
with an optional known ground truth (``truth``, for simulations) and class names.
Images come from arrays held in memory, files (read lazily, with a small cache), or a
map-style torch dataset (indexed lazily). Every image is returned as a ``uint8`` array
of shape ``[H, W, C]`` with ``C`` 1 (grey) or 3 (RGB).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from alwidget.data.images import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    _array_to_uint8_hwc,
    _Plain,
    _is_tensor,
    _untensor,
    check_image_file,
    load_image_file,
    to_uint8_hwc,
)

__all__ = ["ImagePool", "UnknownItemError"]

PathLike = Union[str, "os.PathLike[str]"]

_CACHE_BYTES = 256 * 2**20
"""Decoded images kept per lazily loaded pool (file or torch sources), in bytes."""


class UnknownItemError(KeyError):
    """An item id that is not in the pool (a :class:`KeyError` with a readable message).

    Parameters
    ----------
    item : object
        The id that was asked for.
    where : str, default "the pool"
        What was searched, for the message.

    Attributes
    ----------
    item : object
        As given.
    """

    def __init__(self, item: Any, where: str = "the pool") -> None:
        self.item = item
        hint = ""
        if not isinstance(item, str):
            hint = f" (item ids are strings; did you mean {str(item)!r}?)"
        self.message = f"item {item!r} is not in {where}{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Any:
        return (type(self), (self.item,))


# ----------------------------------------------------------------------------- validation


def _short_list(values: Sequence[Any], limit: int = 10) -> str:
    values = list(values)
    if len(values) <= limit:
        return repr(values)
    head = ", ".join(repr(v) for v in values[: limit - 1])
    return f"[{head}, ... ({len(values) - limit} more), {values[-1]!r}]"


def _validate_classes(classes: Any) -> List[str]:
    if isinstance(classes, (str, bytes)):
        raise TypeError(
            f"classes must be a list of class names, got the single string {classes!r}; "
            f"pass [{classes!r}, ...]"
        )
    try:
        names = list(classes)
    except TypeError:
        raise TypeError(
            f"classes must be a list of class names (str), got {type(classes).__name__}"
        ) from None
    if not names:
        raise ValueError("classes is empty; pass at least one class name")
    seen = set()
    for name in names:
        if not isinstance(name, str):
            raise TypeError(
                f"class name {name!r} is a {type(name).__name__}, not a str; pass class "
                "names as strings, e.g. [str(c) for c in classes]"
            )
        if not name.strip():
            raise ValueError(
                f"class names must not be empty or blank; got {name!r} in "
                f"{_short_list(names)}"
            )
        if name in seen:
            raise ValueError(f"class name {name!r} appears twice in classes; pass each once")
        seen.add(name)
    return [str(name) for name in names]


def _validate_ids(ids: Any, n: int) -> List[str]:
    if ids is None:
        return [str(i) for i in range(n)]
    if isinstance(ids, (str, bytes)):
        raise TypeError("ids must be a sequence of strings, one per image, not a single string")
    ids = list(ids)
    if len(ids) != n:
        raise ValueError(f"got {len(ids)} ids for {n} images; pass exactly one id per image")
    seen = set()
    for i, item in enumerate(ids):
        if not isinstance(item, str):
            raise TypeError(
                f"id {item!r} at position {i} is a {type(item).__name__}; item ids must be "
                "strings, e.g. [str(i) for i in ids]"
            )
        if not item:
            raise ValueError(f"the id at position {i} is an empty string; give every item a name")
        if item in seen:
            raise ValueError(f"duplicate item id {item!r} (first repeated at position {i}); "
                             "ids must be unique")
        seen.add(item)
    return [str(item) for item in ids]


def _as_value_list(truth: Any) -> Tuple[List[Any], Optional[str]]:
    """Turn truth (list, ndarray, tensor) into a Python list; report an array's dtype kind."""
    truth = _untensor(truth)
    if isinstance(truth, np.ndarray):
        if truth.ndim != 1:
            raise ValueError(
                f"truth must be one-dimensional (one class per image), got shape {truth.shape}"
            )
        return truth.tolist(), truth.dtype.kind
    if isinstance(truth, (str, bytes)):
        raise TypeError("truth must be a sequence of class names or indices, not a single string")
    return list(truth), None


def _python_scalars(values: List[Any]) -> List[Any]:
    """Replace numpy / torch scalars (anything with ``.item()`` but a str) by Python values."""
    return [v.item() if hasattr(v, "item") and not isinstance(v, str) else v for v in values]


def _resolve_truth(
    truth: Any, ids: Sequence[str], classes: Optional[Sequence[str]]
) -> Tuple[Optional[List[str]], Optional[List[str]]]:
    """Validate ``truth`` against ``classes``; return (truth as class names, classes)."""
    class_list = _validate_classes(classes) if classes is not None else None
    if truth is None:
        return None, class_list
    values, kind = _as_value_list(truth)
    n = len(ids)
    if len(values) != n:
        raise ValueError(
            f"truth has {len(values)} values but there are {n} images; pass one class per image"
        )
    if n == 0:
        return [], class_list
    values = _python_scalars(values)
    is_str = [isinstance(v, str) for v in values]
    if all(is_str):
        if class_list is None:
            class_list = _validate_classes(sorted(set(values)))
        else:
            known = set(class_list)
            for item, value in zip(ids, values):
                if value not in known:
                    raise ValueError(
                        f"label {value!r} for item {item!r} is not one of the classes "
                        f"{_short_list(class_list)}; pass one of them or add the class"
                    )
        return list(values), class_list
    for item, value in zip(ids, values):
        if isinstance(value, str):
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            hint = ""
            if isinstance(value, float) and float(value).is_integer():
                hint = " (cast integer-valued floats with truth.astype(int))"
            raise TypeError(
                f"truth value {value!r} for item {item!r} is a {type(value).__name__}; pass "
                f"class names (str) or integer class indices{hint}"
            )
    if any(is_str):
        first = next(v for v, s in zip(values, is_str) if not s)
        raise TypeError(
            f"truth mixes class names (str) and class indices (e.g. {first!r}); use one kind"
        )
    if class_list is None:
        unique = sorted(set(values))
        class_list = [str(v) for v in unique]
        return [str(v) for v in values], class_list
    n_classes = len(class_list)
    for item, value in zip(ids, values):
        if not 0 <= value < n_classes:
            raise ValueError(
                f"truth index {value} for item {item!r} is out of range for the "
                f"{n_classes} classes {_short_list(class_list)}; pass indices in "
                f"[0, {n_classes - 1}] or add the class"
            )
    return [class_list[v] for v in values], class_list


# ----------------------------------------------------------------------------- read-only views


def _read_only(self: Any, *args: Any, **kwargs: Any) -> None:
    example = "dict(pool.truth)" if isinstance(self, dict) else "list(pool.ids)"
    kind = "dict" if isinstance(self, dict) else "list"
    raise TypeError(
        f"this {kind} belongs to an ImagePool and is read-only; copy it first, e.g. {example}"
    )


class _ReadOnlyList(list):  # type: ignore[type-arg]
    """A list that refuses changes: pool ids and classes, shared without copying."""

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = pop = remove = clear = sort = reverse = _read_only

    def __reduce__(self) -> Any:
        return (type(self), (list(self),))


class _ReadOnlyDict(dict):  # type: ignore[type-arg]
    """A dict that refuses changes: the pool's truth, shared without copying."""

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> Any:
        return (type(self), (dict(self),))


# ----------------------------------------------------------------------------- sources


class _LRU:
    """A thread-safe least-recently-used cache of arrays, bounded in bytes."""

    def __init__(self, max_bytes: int = _CACHE_BYTES) -> None:
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


# ----------------------------------------------------------------------------- the pool


class ImagePool:
    """An ordered, immutable pool of images with string item ids.

    Build one with :meth:`from_arrays`, :meth:`from_folder`, :meth:`from_paths` or
    :meth:`from_torch` rather than calling the constructor.

    Attributes
    ----------
    ids : list of str
        The item ids in pool order.
    truth : dict of str to str or None
        The known class name of each item (simulations, benchmarks), or ``None``.
    classes : list of str or None
        The class names, or ``None`` when not known.

        ``ids``, ``truth`` and ``classes`` are shared, not copied, and refuse changes
        with a ``TypeError``; copy them (``list(pool.ids)``) to edit.
    skipped : list of (str, str)
        ``(item id or path, reason)`` for files left out of the pool at construction,
        and for items whose image failed to decode later in :meth:`image`.

    Notes
    -----
    Images are returned read-only; copy them before modifying. A pool can be read
    from several threads at once.

    Examples
    --------
    >>> pool = ImagePool.from_arrays(np.zeros((3, 8, 8), np.uint8), truth=["a", "b", "a"])
    >>> pool.ids, pool.classes, pool.image("1").shape
    (['0', '1', '2'], ['a', 'b'], (8, 8, 1))
    """

    def __init__(
        self,
        *,
        source: _Source,
        ids: List[str],
        rows: np.ndarray,
        truth: Optional[Dict[str, str]],
        classes: Optional[List[str]],
        skipped: Optional[List[Tuple[str, str]]] = None,
        identity: bool = False,
    ) -> None:
        self._source = source
        self._ids = _ReadOnlyList(ids)
        self._rows = np.asarray(rows, dtype=np.int64)
        self._index = {item: i for i, item in enumerate(ids)}
        self._truth = _ReadOnlyDict(truth) if truth is not None else None
        self._classes = _ReadOnlyList(classes) if classes is not None else None
        self._skipped: List[Tuple[str, str]] = list(skipped or [])
        self._identity = identity
        self._lock = threading.Lock()
        self._array: Optional[np.ndarray] = None
        self._fingerprint: Optional[str] = None

    # -- constructors ---------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        images: Any,
        ids: Optional[Sequence[str]] = None,
        truth: Optional[Sequence[Union[str, int]]] = None,
        classes: Optional[Sequence[str]] = None,
    ) -> "ImagePool":
        """Build an in-memory pool from arrays.

        Parameters
        ----------
        images : numpy.ndarray or sequence of arrays / PIL images
            An array of shape ``[N, H, W]`` (grey) or ``[N, H, W, C]`` with ``C`` in
            {1, 2, 3, 4} (channels last; 2 and 4 carry alpha, composited on white), or a
            list of ``N`` images, each ``[H, W]`` / ``[H, W, C]`` / PIL, possibly of
            different sizes. Pixels are ``uint8``, ``float`` in ``[0, 1]`` (scaled by 255)
            or in ``[0, 255]``, ``uint16`` or ``bool``; see
            :func:`alwidget.data.images.to_uint8_hwc`. For one array the ``[0, 1]`` vs
            ``[0, 255]`` decision is made over the whole array; for a list, per image.
        ids : sequence of str, optional
            One unique, non-empty id per image; default ``"0"``, ``"1"``, ...
        truth : sequence of str or int, optional
            The known class of each image: class names, or integer indices into
            ``classes``. Without ``classes``, the classes are the sorted unique values
            as strings (``[2, 0, 2]`` gives classes ``["0", "2"]``, truth ``"2", "0", "2"``).
        classes : sequence of str, optional
            The class names, unique and non-empty. May be given without ``truth``.

        Returns
        -------
        ImagePool
            A pool held in memory; :meth:`as_array` returns ``[N, H, W, C]`` ``uint8``
            when all images have one shape. A ``uint8`` :class:`numpy.memmap` (e.g.
            ``np.load("images.npy", mmap_mode="r")``, ``[N, H, W]`` or ``[N, H, W, 1|3]``) is
            used in place, not copied: pixels are read from the file when needed, so the pool
            may be larger than memory, and it pickles as its path (Ray workers reopen it).

        Raises
        ------
        ValueError
            Empty input, mismatched lengths, duplicate ids, NaN / infinite pixels, pixel
            values out of range, wrong shapes, bad class names or truth not in classes.
        TypeError
            Non-numeric images, non-string ids or class names, truth of another type.
        """
        if isinstance(images, (str, bytes, os.PathLike)):
            raise TypeError(
                "images must be arrays; for files use ImagePool.from_folder or from_paths"
            )
        images = _untensor(images)
        if isinstance(images, np.ndarray):
            n = images.shape[0] if images.ndim > 0 else 0
            if images.ndim == 0 or n == 0:
                raise ValueError(
                    f"the pool is empty: images has shape {images.shape}; pass at least one image"
                )
            item_ids = _validate_ids(ids, n)
            mapped = _mapped_file(images)
            if mapped is not None:  # read in place, chunk by chunk: pools larger than memory
                array = images if images.ndim == 4 else images.reshape(images.shape + (1,))
                source: _Source = _ArraySource(array, mapped)
            else:
                array = _stack_to_uint8(images, item_ids)
                source = _ArraySource(array)
        else:
            try:
                items = list(images)
            except TypeError:
                raise TypeError(
                    f"images must be an array [N, H, W(, C)] or a list of images, got "
                    f"{type(images).__name__}"
                ) from None
            if not items:
                raise ValueError("the pool is empty: images has 0 items; pass at least one image")
            item_ids = _validate_ids(ids, len(items))
            arrays = [to_uint8_hwc(image, item=item) for image, item in zip(items, item_ids)]
            if len({a.shape for a in arrays}) == 1:
                source = _ArraySource(np.stack(arrays))
            else:
                source = _ListSource([np.ascontiguousarray(a) for a in arrays])
        names, class_list = _resolve_truth(truth, item_ids, classes)
        truth_map = dict(zip(item_ids, names)) if names is not None else None
        return cls(
            source=source,
            ids=item_ids,
            rows=np.arange(len(item_ids)),
            truth=truth_map,
            classes=class_list,
            identity=True,
        )

    @classmethod
    def from_folder(
        cls, path: PathLike, extensions: Optional[Iterable[str]] = None
    ) -> "ImagePool":
        """Build a pool from the image files in a folder, read lazily.

        If ``path`` has sub-folders holding images, each such sub-folder is a class
        (classes sorted by name; images found recursively inside it) and ``truth`` comes
        from them; image files directly in ``path`` are then skipped. Otherwise the
        images directly in ``path`` form an unlabeled pool (``truth`` and ``classes``
        ``None``). Ids are the POSIX paths relative to ``path`` (``"cat/001.png"``),
        sorted. Names starting with ``"."`` are ignored.

        Parameters
        ----------
        path : str or os.PathLike
            The folder.
        extensions : iterable of str, optional
            File extensions treated as images (case-insensitive, with or without the
            dot); default :data:`alwidget.data.images.IMAGE_EXTENSIONS`. Other files
            are ignored.

        Returns
        -------
        ImagePool
            The pool; files that fail a cheap header check (empty, not an image, larger
            than 8192 px per side) are left out and listed in ``skipped``.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        NotADirectoryError
            If ``path`` is a file.
        ValueError
            If no readable image is found.
        """
        root = Path(path)
        if not root.exists():
            raise FileNotFoundError(
                f"image folder {str(root)!r} does not exist; pass the folder that holds the "
                "images (or one sub-folder of images per class)"
            )
        if not root.is_dir():
            raise NotADirectoryError(
                f"{str(root)!r} is a file, not a folder; pass its folder to from_folder, "
                "or use ImagePool.from_paths([...]) for single files"
            )
        exts = _normalise_extensions(extensions)

        def visible(p: Path) -> bool:
            return not p.name.startswith(".") and p.name != "__MACOSX"

        def images_in(folder: Path, recursive: bool) -> List[Path]:
            found = folder.rglob("*") if recursive else folder.iterdir()
            return [
                p
                for p in found
                if p.suffix.lower() in exts
                and not any(part.startswith(".") or part == "__MACOSX"
                            for part in p.relative_to(root).parts)
                and p.is_file()
            ]

        subfolders = sorted(p for p in root.iterdir() if p.is_dir() and visible(p))
        class_files = {d.name: images_in(d, recursive=True) for d in subfolders}
        class_files = {name: files for name, files in class_files.items() if files}
        skipped: List[Tuple[str, str]] = []
        if class_files:
            classes: Optional[List[str]] = sorted(class_files)
            labelled = [(p, name) for name in classes for p in class_files[name]]
            for p in images_in(root, recursive=False):
                skipped.append((p.name, "not inside a class sub-folder; move it into one"))
        else:
            classes = None
            labelled = [(p, None) for p in images_in(root, recursive=False)]
        entries = sorted(((p.relative_to(root).as_posix(), p, c) for p, c in labelled),
                         key=lambda e: e[0])
        if not entries:
            raise ValueError(
                f"no image files in folder {str(root)!r} (looked for {', '.join(sorted(exts))}); "
                "pass extensions=[...] if your images have other extensions"
            )
        return cls._from_files(
            entries,
            absolute=lambda p: str(p.resolve()),
            classes=classes,
            with_truth=classes is not None,
            skipped=skipped,
            none_readable=(
                f"none of the {len(entries)} image files in folder {str(root)!r} is readable"
            ),
        )

    @classmethod
    def from_paths(
        cls,
        paths: Sequence[PathLike],
        truth: Optional[Sequence[Union[str, int]]] = None,
        classes: Optional[Sequence[str]] = None,
    ) -> "ImagePool":
        """Build a pool from a list of image files, read lazily.

        Parameters
        ----------
        paths : sequence of str or os.PathLike
            The image files; each path string, as given, is the item id.
        truth : sequence of str or int, optional
            The known class of each file, as in :meth:`from_arrays`.
        classes : sequence of str, optional
            The class names, as in :meth:`from_arrays`. When inferred from ``truth``,
            all given files count, including skipped ones.

        Returns
        -------
        ImagePool
            The pool; missing or unreadable files are left out and listed in ``skipped``.

        Raises
        ------
        ValueError
            If ``paths`` is empty, has duplicates, or no file is readable; or for bad
            ``truth`` / ``classes`` as in :meth:`from_arrays`.
        """
        if isinstance(paths, (str, bytes, os.PathLike)):
            raise TypeError("paths must be a list of file paths, not a single path; wrap it in [...]")
        given = [os.fspath(p) for p in paths]
        if not given:
            raise ValueError("the pool is empty: paths has 0 items; pass at least one file")
        item_ids = _validate_ids(given, len(given))
        names, class_list = _resolve_truth(truth, item_ids, classes)
        return cls._from_files(
            [
                (item, item, names[i] if names is not None else None)
                for i, item in enumerate(item_ids)
            ],
            absolute=os.path.abspath,
            classes=class_list,
            with_truth=names is not None,
            skipped=[],
            none_readable=f"none of the {len(item_ids)} files is a readable image",
        )

    @classmethod
    def _from_files(
        cls,
        entries: Sequence[Tuple[str, Any, Optional[str]]],
        *,
        absolute: Callable[[Any], str],
        classes: Optional[List[str]],
        with_truth: bool,
        skipped: List[Tuple[str, str]],
        none_readable: str,
    ) -> "ImagePool":
        """A lazily read pool of the readable files among ``entries``, in their order.

        ``entries`` holds ``(item id, file, class name or None)``; a file failing
        :func:`check_image_file` is appended to ``skipped`` with its reason, the others
        are kept under their ``absolute(file)`` path, with their class as ``truth`` when
        ``with_truth``. Raises ``ValueError`` ``"{none_readable}; for example ..."``
        (naming the first entry of ``skipped``) when no file is readable.
        """
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
        return cls(
            source=_FileSource(paths),
            ids=item_ids,
            rows=np.arange(len(item_ids)),
            truth=truth if with_truth else None,
            classes=classes,
            skipped=skipped,
            identity=True,
        )

    @classmethod
    def from_torch(cls, dataset: Any, classes: Optional[Sequence[str]] = None) -> "ImagePool":
        """Build a pool over a map-style torch dataset, indexed lazily.

        Parameters
        ----------
        dataset : torch.utils.data.Dataset
            Supports ``len(dataset)`` and ``dataset[i]``, returning ``(image, target,
            ...)`` or just an image. Images may be PIL images, tensors ``[C, H, W]`` or
            ``[H, W]`` (values in ``[0, 1]`` or ``[0, 255]``, not mean/std normalised) or
            arrays ``[H, W(, C)]``. Targets are ``int`` class indices or class names.
        classes : sequence of str, optional
            The class names that integer targets index; default ``dataset.classes``
            when present, else the sorted unique targets as strings.

        Returns
        -------
        ImagePool
            Ids ``"0"``, ``"1"``, ...; ``truth`` from ``dataset.targets`` when present,
            else from one pass over the dataset (only if it returns targets).

        Raises
        ------
        TypeError
            If the dataset has no ``len()``.
        ValueError
            If it is empty, or the targets do not match the classes.
        """
        try:
            n = len(dataset)
        except TypeError:
            raise TypeError(
                f"{type(dataset).__name__} has no len(); pass a map-style dataset (with "
                "__len__ and __getitem__); an IterableDataset can be collected into a list first"
            ) from None
        if n == 0:
            raise ValueError("the dataset is empty; pass a dataset with at least one image")
        item_ids = [str(i) for i in range(n)]
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
        if classes is None:
            declared_classes = getattr(dataset, "classes", None)
            if declared_classes is not None:
                classes = [str(c) for c in declared_classes]
        names, class_list = _resolve_truth(targets, item_ids, classes)
        return cls(
            source=_TorchSource(dataset),
            ids=item_ids,
            rows=np.arange(n),
            truth=dict(zip(item_ids, names)) if names is not None else None,
            classes=class_list,
            identity=True,
        )

    # -- access ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item: object) -> bool:
        return item in self._index

    @property
    def ids(self) -> List[str]:
        """list of str: the item ids in pool order (read-only; ``list(pool.ids)`` to edit)."""
        return self._ids

    @property
    def truth(self) -> Optional[Dict[str, str]]:
        """dict of str to str or None: the known class of each item (read-only), or None."""
        return self._truth

    @property
    def classes(self) -> Optional[List[str]]:
        """list of str or None: the class names (read-only), or None."""
        return self._classes

    @property
    def skipped(self) -> List[Tuple[str, str]]:
        """list of (str, str): ``(item id or path, reason)`` for unreadable files."""
        with self._lock:
            return list(self._skipped)

    def index(self, item: str) -> int:
        """Position of ``item`` in the pool.

        Parameters
        ----------
        item : str
            An item id.

        Returns
        -------
        int
            Its position in :attr:`ids`.

        Raises
        ------
        UnknownItemError
            A :class:`KeyError` if ``item`` is not in the pool.
        """
        try:
            return self._index[item]
        except (KeyError, TypeError):
            raise UnknownItemError(item) from None

    def image(self, item: str, *, cache: bool = True) -> np.ndarray:
        """The image of ``item``, decoded on first use for files and datasets.

        Parameters
        ----------
        item : str
            An item id.
        cache : bool
            Keep a decoded file or dataset image in the pool's cache (at most 256 MB, least
            recently used first out), for the grid's thumbnails. A pass over the whole pool
            reads with ``cache=False``: the model keeps its own resized copy, and a second
            copy of every image in the cache would only cost memory (3 KB an item at 32 px).

        Returns
        -------
        numpy.ndarray
            Read-only ``uint8`` array of shape ``[H, W, C]``, ``C`` 1 (grey) or 3 (RGB).

        Raises
        ------
        UnknownItemError
            If ``item`` is not in the pool.
        ImageReadError
            If the file cannot be decoded; the item is also added to :attr:`skipped`.
        """
        position = self.index(item)
        try:
            return self._source.get(int(self._rows[position]), item, cache)
        except ImageReadError as exc:
            self._note_skipped(item, exc)
            raise

    def image_for_size(self, item: str, size: int, *, cache: bool = True) -> np.ndarray:
        """The image of ``item`` for a model that reads ``size``-pixel inputs: JPEG files are
        decoded at the smallest scale (1/2, 1/4, 1/8) whose sides stay at least ``size``
        (Pillow's draft mode: a 4032×3024 photo for 224 px decodes 8× smaller and about 25×
        faster); other images as :meth:`image` (with ``cache``). Same errors as :meth:`image`."""
        position = self.index(item)
        reduced = getattr(self._source, "reduced", None)
        if reduced is None:
            return self.image(item, cache=cache)
        try:
            return reduced(int(self._rows[position]), item, int(size))
        except ImageReadError as exc:
            self._note_skipped(item, exc)
            raise

    def _note_skipped(self, item: str, exc: ImageReadError) -> None:
        with self._lock:
            if not any(entry[0] == item for entry in self._skipped):
                self._skipped.append((item, exc.explanation))

    def as_array(self) -> Optional[np.ndarray]:
        """The whole pool as one array, when it is held in memory with one image shape.

        Returns
        -------
        numpy.ndarray or None
            Read-only ``uint8`` array ``[N, H, W, C]`` in pool order, or ``None`` for
            pools read lazily (files, torch datasets) or with images of several sizes.
        """
        stacked = self._source.stacked()
        if stacked is None:
            return None
        if self._identity:
            return stacked
        with self._lock:
            if self._array is None:
                array = stacked[self._rows]
                array.flags.writeable = False
                self._array = array
            return self._array

    def rows(self, start: int, stop: int) -> Optional[np.ndarray]:
        """Images of positions ``start:stop`` as a new ``uint8`` array ``[n, H, W, C]``, for pools
        held as one array (``None`` otherwise, like :meth:`as_array`).

        A memory-mapped pool is read through a map opened for this call and closed after it, so
        a pass over a pool larger than memory does not keep the file's pages resident.
        """
        src = self._source
        if not isinstance(src, _ArraySource):
            return None
        rows = self._rows[start:stop]
        if src.file is None:
            return np.array(src.array[rows]) if not self._identity else np.array(src.array[start:stop])
        mapped = np.memmap(src.file[0], mode="r", dtype=src.array.dtype, shape=src.array.shape, offset=src.file[1])
        try:
            if self._identity:
                return np.array(mapped[start:stop])
            uniq, inverse = np.unique(rows, return_inverse=True)
            return np.array(mapped[uniq])[inverse]
        finally:
            del mapped

    def fingerprint(self) -> str:
        """A stable SHA-256 hex digest of the ids (in order) and the classes.

        Cheap (pixels are not read); used to check that a label store belongs to
        this pool. It is the SHA-256 of the UTF-8 JSON text
        ``{"format":"alwidget-pool-v1","ids":[...],"classes":[...] or null}``
        (compact separators, non-ASCII kept), so it is stable across versions.

        Returns
        -------
        str
            64 hexadecimal characters.
        """
        if self._fingerprint is None:
            payload = json.dumps(
                {"format": "alwidget-pool-v1", "ids": self._ids, "classes": self._classes},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            self._fingerprint = hashlib.sha256(payload.encode("utf-8")).hexdigest()
        return self._fingerprint

    # -- derived pools --------------------------------------------------------------

    def _take(self, positions: Sequence[int]) -> "ImagePool":
        positions = np.asarray(positions, dtype=np.int64)
        ids = [self._ids[p] for p in positions.tolist()]
        truth = {i: self._truth[i] for i in ids} if self._truth is not None else None
        identity = self._identity and np.array_equal(positions, np.arange(len(self._ids)))
        return ImagePool(
            source=self._source,
            ids=ids,
            rows=self._rows[positions],
            truth=truth,
            classes=list(self._classes) if self._classes is not None else None,
            skipped=self.skipped,
            identity=identity,
        )

    def subset(self, ids: Iterable[str]) -> "ImagePool":
        """A pool of the given items, in the given order, sharing this pool's images.

        Parameters
        ----------
        ids : iterable of str
            Item ids of this pool, each at most once. May be empty.

        Returns
        -------
        ImagePool
            Keeps ``truth`` (restricted to ``ids``), ``classes`` and ``skipped``.

        Raises
        ------
        UnknownItemError
            If an id is not in this pool.
        ValueError
            If an id is repeated.
        """
        if isinstance(ids, str):
            raise TypeError("ids must be a list of item ids, not a single string; wrap it in [...]")
        positions = []
        seen = set()
        for item in ids:
            if item in seen:
                raise ValueError(f"item {item!r} appears twice in subset(ids); pass each once")
            seen.add(item)
            positions.append(self.index(item))
        return self._take(positions)

    def split(
        self, size: Union[int, float], seed: Union[int, np.random.Generator] = 0
    ) -> Tuple["ImagePool", "ImagePool"]:
        """Split the pool at random into two parts (for simulations).

        Parameters
        ----------
        size : int or float
            Size of the first part: an ``int`` number of items in ``[0, len(pool)]``,
            or a ``float`` fraction in ``[0, 1]`` (rounded to the nearest count).
        seed : int or numpy.random.Generator, default 0
            Seed of the random choice; the same seed gives the same split.

        Returns
        -------
        (ImagePool, ImagePool)
            The chosen items and the rest, each in this pool's order.
        """
        n = len(self)
        if isinstance(size, (bool, np.bool_)):
            raise TypeError("size must be an int count or a float fraction, not a bool")
        if isinstance(size, (float, np.floating)):
            if not 0.0 <= size <= 1.0:
                raise ValueError(f"a fraction must be in [0, 1], got {size}")
            count = int(round(float(size) * n))
        elif isinstance(size, (int, np.integer)):
            count = int(size)
            if not 0 <= count <= n:
                raise ValueError(f"size {count} is out of range for a pool of {n} items; "
                                 f"pass a count in [0, {n}] or a fraction")
        else:
            raise TypeError(f"size must be an int or a float, got {type(size).__name__}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        chosen = np.zeros(n, dtype=bool)
        chosen[rng.choice(n, size=count, replace=False)] = True
        return self._take(np.flatnonzero(chosen)), self._take(np.flatnonzero(~chosen))

    # -- misc -----------------------------------------------------------------------

    def __repr__(self) -> str:
        parts = [f"{len(self)} images", self._source.describe()]
        if self._classes is not None:
            parts.append(f"classes={_short_list(self._classes, 6)}")
        parts.append("truth known" if self._truth is not None else "no truth")
        if self._skipped:
            parts.append(f"{len(self._skipped)} skipped")
        return f"ImagePool({', '.join(parts)})"

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _normalise_extensions(extensions: Optional[Iterable[str]]) -> Tuple[str, ...]:
    if extensions is None:
        return IMAGE_EXTENSIONS
    if isinstance(extensions, str):
        extensions = [extensions]
    out = []
    for ext in extensions:
        if not isinstance(ext, str) or not ext.strip("."):
            raise ValueError(f"extension {ext!r} is not a file extension such as '.png'")
        out.append("." + ext.lower().lstrip("."))
    return tuple(out)


def _stack_to_uint8(images: np.ndarray, ids: Sequence[str]) -> np.ndarray:
    """Normalise ``[N, H, W(, C)]`` to a private ``uint8`` ``[N, H, W, C]`` array."""
    if images.dtype.kind not in "biuf":
        raise ValueError(
            f"images has dtype {images.dtype}; pass numeric pixel values (uint8, float in "
            "[0, 1] or [0, 255], integer or bool); a list of differently sized images must "
            "be a Python list, not an object array"
        )
    if images.ndim not in (3, 4):
        raise ValueError(
            f"images has shape {images.shape}; expected [N, H, W] or [N, H, W, C] (channels "
            "last), or a list of [H, W(, C)] images"
        )
    n = images.shape[0]
    if images.dtype.kind == "f":
        finite = np.isfinite(images.reshape(n, -1)).all(axis=1)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise ValueError(
                f"image {ids[bad]!r} (index {bad}) contains NaN or infinite pixel values; "
                "replace them (e.g. np.nan_to_num) or drop the image"
            )
    try:
        out = _array_to_uint8_hwc(images, _Plain("images"), leading=1)
    except ValueError as exc:
        if "pixel values" in str(exc):  # name the first image out of range
            for i in range(n):
                try:
                    _array_to_uint8_hwc(images[i], ids[i])
                except ValueError as item_exc:
                    raise ValueError(f"{item_exc} (index {i})") from exc
        raise
    if np.may_share_memory(out, images):
        out = out.copy()
    return np.ascontiguousarray(out)
