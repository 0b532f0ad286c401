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
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from alwidget.data.images import ImageReadError
from alwidget.data.pool_inputs import (UnknownItemError, _ReadOnlyDict, _ReadOnlyList, _resolve_truth, _short_list,
                                       _validate_ids, array_source, split_count)
from alwidget.data.folders import list_folder
from alwidget.data.sources import _ArraySource, _FileSource, _Source, _TorchSource, dataset_targets, readable_files

__all__ = ["ImagePool", "UnknownItemError"]

PathLike = Union[str, "os.PathLike[str]"]


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
        source, item_ids = array_source(images, ids)
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
        entries, classes, skipped = list_folder(root, extensions)
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
        :func:`~alwidget.data.images.check_image_file` is appended to ``skipped`` with its reason, the others
        are kept under their ``absolute(file)`` path, with their class as ``truth`` when
        ``with_truth``. Raises ``ValueError`` ``"{none_readable}; for example ..."``
        (naming the first entry of ``skipped``) when no file is readable.
        """
        item_ids, paths, truth = readable_files(entries, absolute, skipped, none_readable)
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
        targets = dataset_targets(dataset, n)
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
        count = split_count(size, n)
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
