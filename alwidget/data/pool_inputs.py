"""Checks and conversions of what a user hands :class:`~alwidget.data.pool.ImagePool`: class
names, item ids, the known truth; and the read-only lists and dicts the pool hands back."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from alwidget.data.images import _array_to_uint8_hwc, _Plain, _untensor


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


# ----------------------------------------------------------------------------- the pool


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


def array_source(images: Any, ids: Optional[Sequence[str]]) -> Tuple[Any, List[str]]:
    """``(source, item ids)`` of :meth:`~alwidget.data.pool.ImagePool.from_arrays`' ``images``:
    one array (a ``uint8`` memory map read in place; anything else converted to a private
    ``uint8`` ``[N, H, W, C]`` copy) or a list of images (stacked when they share a shape).
    Raises ``ValueError`` for an empty input, ``TypeError`` for something that is not images."""
    from alwidget.data.images import to_uint8_hwc
    from alwidget.data.sources import _ArraySource, _ListSource, _mapped_file, _Source

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
    return source, item_ids


def split_count(size: Any, n: int) -> int:
    """The first part's size of :meth:`~alwidget.data.pool.ImagePool.split` on ``n`` items: an
    ``int`` count in ``[0, n]`` or a ``float`` fraction in ``[0, 1]`` (rounded)."""
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
    return count

