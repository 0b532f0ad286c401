"""Decode and normalise single images to ``uint8`` arrays of shape ``[H, W, C]``.

Every image that enters alwidget goes through :func:`to_uint8_hwc` (arrays and PIL
images) or :func:`load_image_file` (files). Both return a ``uint8`` array of shape
``[H, W, C]`` with ``C == 1`` (grey) or ``C == 3`` (RGB); transparency is composited
on white. Problems a user can cause (a truncated file, a text file named ``.jpg``,
a 10,000 x 10,000 px scan, NaN pixels) raise :class:`ImageReadError` or
:class:`ValueError` with a message naming the item and saying what to do.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Tuple, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_IMAGE_SIDE",
    "ImageReadError",
    "check_image_file",
    "load_image_file",
    "to_uint8_hwc",
]

MAX_IMAGE_SIDE: int = 8192
"""Largest width or height, in pixels, that :func:`load_image_file` decodes.

Larger images are refused from their header, before any pixel is decoded."""

IMAGE_EXTENSIONS: Tuple[str, ...] = (
    ".bmp",
    ".gif",
    ".jpeg",
    ".jpg",
    ".pbm",
    ".pgm",
    ".png",
    ".ppm",
    ".tif",
    ".tiff",
    ".webp",
)
"""File extensions (lower case, with the dot) treated as images by default."""

_REEXPORT = "re-export the file as PNG or JPEG, or remove it"

PathLike = Union[str, "os.PathLike[str]"]


class ImageReadError(ValueError):
    """An image file could not be read or was refused.

    Parameters
    ----------
    item : str or None
        The pool item id of the image, when known.
    path : str or None
        The file's path, when the image comes from a file.
    reason : str
        What is wrong, in a few words (e.g. ``"empty file (0 bytes)"``).
    advice : str, optional
        What the user can do about it.

    Attributes
    ----------
    item, path, reason : str or None
        As given.
    """

    def __init__(
        self,
        item: Optional[str],
        path: Optional[str],
        reason: str,
        advice: str = _REEXPORT,
    ) -> None:
        self.item = item
        self.path = path
        self.reason = reason
        self.advice = advice
        if path is not None:
            where = f"image file {path!r}"
            if item is not None and item != path:
                where += f" (item {item!r})"
        else:
            where = f"image {item!r}" if item is not None else "image"
        message = f"cannot read {where}: {reason}"
        if advice:
            message += f"; {advice}"
        super().__init__(message)

    @property
    def explanation(self) -> str:
        """The reason and the advice, as listed in ``ImagePool.skipped``."""
        return f"{self.reason}; {self.advice}" if self.advice else self.reason

    def __reduce__(self) -> Any:  # keep the exception picklable (worker processes)
        return (type(self), (self.item, self.path, self.reason, self.advice))


# ----------------------------------------------------------------------------- arrays


def _is_tensor(value: Any) -> bool:
    """Whether ``value`` looks like a torch tensor (the data layer does not import torch)."""
    return hasattr(value, "detach") and hasattr(value, "numpy")


def _untensor(value: Any) -> Any:
    """A torch tensor as a numpy array (detached, on the CPU); anything else unchanged."""
    return value.detach().cpu().numpy() if _is_tensor(value) else value


class _Plain(str):
    """A description used verbatim in messages (e.g. ``"images"`` for a whole batch)."""


def _describe(item: Optional[str]) -> str:
    if isinstance(item, _Plain):
        return str(item)
    return f"image {item!r}" if item is not None else "image"


def _scale_to_uint8(values: np.ndarray, item: Optional[str]) -> np.ndarray:
    """Map pixel values of any numeric dtype to ``uint8`` (same shape).

    Rules: ``bool`` -> 0 / 255; ``uint8`` unchanged; ``uint16`` scaled from its full range
    ``[0, 65535]``; other integers kept when in ``[0, 255]``, scaled as 16-bit when in
    ``[0, 65535]``; floats scaled by 255 when in ``[0, 1]``, kept (rounded) when in
    ``[0, 255]``. Anything else is a ``ValueError`` naming ``item``.
    """
    dtype = values.dtype
    if dtype == np.uint8:
        return values
    if dtype == np.bool_:
        return values.astype(np.uint8) * np.uint8(255)
    if dtype.kind not in "uif":
        raise ValueError(
            f"{_describe(item)} has dtype {dtype}, which is not a pixel type; "
            "pass uint8, integer, float or bool pixel values"
        )
    if values.size == 0:
        raise ValueError(f"{_describe(item)} has no pixels (shape {values.shape})")
    if dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.all():
            raise ValueError(
                f"{_describe(item)} contains NaN or infinite pixel values; "
                "replace them (e.g. np.nan_to_num) before building the pool"
            )
    lo, hi = values.min(), values.max()
    if dtype == np.uint16:
        return _rescale(values, 65535.0)
    if dtype.kind in "iu":
        if lo >= 0 and hi <= 255:
            return values.astype(np.uint8)
        if lo >= 0 and hi <= 65535:
            return _rescale(values, 65535.0)
        raise ValueError(
            f"{_describe(item)} has integer pixel values in [{lo}, {hi}]; "
            "expected [0, 255] (8-bit) or [0, 65535] (16-bit); rescale it to uint8"
        )
    # floats
    if lo >= 0.0 and hi <= 1.0:
        return _rescale(values, 1.0)
    if lo >= 0.0 and hi <= 255.0:
        return np.rint(values).astype(np.uint8)
    raise ValueError(
        f"{_describe(item)} has float pixel values in [{float(lo):.4g}, {float(hi):.4g}]; "
        "expected [0, 1] or [0, 255] (undo any mean/std normalisation, e.g. remove "
        "transforms.Normalize)"
    )


def _rescale(values: np.ndarray, top: float) -> np.ndarray:
    out = np.rint(values.astype(np.float64) * (255.0 / top))
    return np.clip(out, 0, 255).astype(np.uint8)


def _composite_on_white(values: np.ndarray) -> np.ndarray:
    """Composite ``uint8`` ``[..., C + 1]`` (colour, then alpha last) on white: ``[..., C]``."""
    colour, alpha = values[..., :-1], values[..., -1:]
    a = alpha.astype(np.float32) / 255.0
    out = colour.astype(np.float32) * a + 255.0 * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _channels_last(values: np.ndarray, item: Optional[str], leading: int = 0) -> np.ndarray:
    """Give a ``uint8`` array ``[*lead, H, W]`` or ``[*lead, H, W, C]`` a channel axis
    with ``C`` in {1, 3}; 2 (grey + alpha) and 4 (RGBA) channels are composited on white.

    The number of axes is checked by the caller, :func:`_array_to_uint8_hwc`."""
    if values.ndim == leading + 2:
        return values[..., np.newaxis]
    channels = values.shape[-1]
    if channels in (1, 3):
        return values
    if channels in (2, 4):
        return _composite_on_white(values)
    hint = ""
    if values.shape[leading] in (1, 3, 4):
        hint = " (channels seem to come first; move them last with np.moveaxis(x, -3, -1))"
    raise ValueError(
        f"{_describe(item)} has shape {values.shape} with {channels} channels in the last "
        f"axis; expected 1, 2, 3 or 4 channels last{hint}"
    )


def _check_size(values: np.ndarray, item: Optional[str], leading: int = 0) -> None:
    height, width = values.shape[leading], values.shape[leading + 1]
    if height < 1 or width < 1:
        raise ValueError(f"{_describe(item)} is empty (shape {values.shape})")


def _array_to_uint8_hwc(values: np.ndarray, item: Optional[str], leading: int = 0) -> np.ndarray:
    """Normalise an array of ``leading`` batch axes followed by ``H, W[, C]``."""
    if values.dtype.kind not in "biuf":
        raise ValueError(
            f"{_describe(item)} has dtype {values.dtype}; pass numeric pixel values "
            "(uint8, integer, float in [0, 1] or [0, 255], or bool)"
        )
    if values.ndim not in (leading + 2, leading + 3):
        want = "[H, W] or [H, W, C]" if leading == 0 else "[N, H, W] or [N, H, W, C]"
        raise ValueError(f"{_describe(item)} has shape {values.shape}; expected {want}")
    _check_size(values, item, leading)
    return _channels_last(_scale_to_uint8(values, item), item, leading)


# ----------------------------------------------------------------------------- PIL


_GREY_MODES = {"1", "L", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}


def _pil_to_uint8_hwc(image: Image.Image, item: Optional[str]) -> np.ndarray:
    mode = image.mode
    has_transparency = "transparency" in image.info
    if mode == "1":
        image = image.convert("L")
        mode = "L"
    if mode in ("L", "P") and has_transparency:
        image = image.convert("LA" if mode == "L" else "RGBA")
        mode = image.mode
    elif mode == "RGB" and has_transparency:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in _GREY_MODES or mode.startswith("I;16"):
        values = np.asarray(image)
        return _array_to_uint8_hwc(values, item)
    if mode in ("LA", "La"):
        return _composite_on_white(np.asarray(image.convert("LA")))
    if mode in ("RGBA", "RGBa", "PA"):
        return _composite_on_white(np.asarray(image.convert("RGBA")))
    if mode != "RGB":  # P without transparency, CMYK, YCbCr, LAB, HSV, RGBX, ...
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8).copy()


def to_uint8_hwc(image: Any, *, item: Optional[str] = None) -> np.ndarray:
    """Normalise one image to a ``uint8`` array of shape ``[H, W, C]``, ``C`` in {1, 3}.

    Parameters
    ----------
    image : numpy.ndarray or PIL.Image.Image
        An array of shape ``[H, W]``, ``[H, W, 1]``, ``[H, W, 2]`` (grey + alpha),
        ``[H, W, 3]`` or ``[H, W, 4]`` (RGBA), or a PIL image of any mode.

        Pixel values: ``uint8`` as is; ``float`` in ``[0, 1]`` scaled by 255, in
        ``[0, 255]`` rounded; ``uint16`` scaled from ``[0, 65535]``; other integers kept
        in ``[0, 255]``, else scaled as 16-bit in ``[0, 65535]``; ``bool`` to 0 / 255.
        Alpha is composited on white. PIL grey modes (``1``, ``L``, ``I;16``, ``I``,
        ``F``) stay one channel; ``LA`` becomes grey; palette, ``CMYK`` and other colour
        modes become RGB.
    item : str, optional
        The item id, used in error messages.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``[H, W, C]`` with ``C`` 1 (grey) or 3 (RGB).

    Raises
    ------
    ValueError
        For NaN / infinite values, values outside the ranges above, non-numeric dtypes,
        a wrong number of dimensions or channels, or an empty image.

    Examples
    --------
    >>> to_uint8_hwc(np.array([[0.0, 1.0]])).ravel().tolist()
    [0, 255]
    """
    if isinstance(image, Image.Image):
        try:
            image.load()
        except Exception as exc:  # decoding errors of a lazily opened image
            raise ImageReadError(item, None, f"the image data cannot be decoded ({exc})") from exc
        return _own(_pil_to_uint8_hwc(image, item), None)
    values = np.asarray(_untensor(image))  # a torch tensor: HWC expected
    return _own(_array_to_uint8_hwc(values, item), values)


def _own(out: np.ndarray, source: Optional[np.ndarray]) -> np.ndarray:
    """A writeable, C-contiguous array that shares no memory with ``source``."""
    if (
        not out.flags.writeable
        or not out.flags.c_contiguous
        or (source is not None and np.may_share_memory(out, source))
    ):
        out = np.array(out, order="C", copy=True)
    return out


# ----------------------------------------------------------------------------- files


def _downscale_advice(max_side: int) -> str:
    return f"downscale it to at most {max_side} px per side, or remove it"


@contextmanager
def _decompression_guard(item: Optional[str], path: str, max_side: int) -> Iterator[None]:
    """Run Pillow without its DecompressionBombWarning; its error becomes ImageReadError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except Image.DecompressionBombError as exc:
        raise ImageReadError(
            item, path, f"the image is too large to decode safely ({exc})",
            _downscale_advice(max_side),
        ) from exc


def _open(path: str, item: Optional[str]) -> Image.Image:
    """Open ``path`` with Pillow (header only) and turn every failure into ImageReadError."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError as exc:
        raise ImageReadError(
            item, path, "the file does not exist", "check the path, or remove the item"
        ) from exc
    except OSError as exc:
        raise ImageReadError(item, path, f"the file cannot be accessed ({exc.strerror})",
                             "check its permissions") from exc
    if size == 0:
        raise ImageReadError(item, path, "empty file (0 bytes)")
    with _decompression_guard(item, path, MAX_IMAGE_SIDE):
        try:
            return Image.open(path)
        except UnidentifiedImageError as exc:
            raise ImageReadError(item, path, "not an image file Pillow can read") from exc
        except IsADirectoryError as exc:
            raise ImageReadError(item, path, "it is a folder, not a file", "remove it") from exc
        except (OSError, ValueError, SyntaxError) as exc:  # corrupt headers
            raise ImageReadError(item, path, f"corrupt image header ({exc})") from exc


def _check_side(image: Image.Image, path: str, item: Optional[str], max_side: int) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageReadError(item, path, f"the image has no pixels ({width} x {height} px)")
    if max(width, height) > max_side:
        raise ImageReadError(
            item,
            path,
            f"the image is {width} x {height} px, larger than the {max_side} px per side "
            "allowed",
            _downscale_advice(max_side),
        )


def check_image_file(
    path: PathLike, *, item: Optional[str] = None, max_side: int = MAX_IMAGE_SIDE
) -> Tuple[int, int]:
    """Check cheaply that a file is a readable image, reading its header only.

    Parameters
    ----------
    path : str or os.PathLike
        The image file.
    item : str, optional
        The item id, used in error messages.
    max_side : int, default MAX_IMAGE_SIDE
        Largest width or height allowed, in pixels.

    Returns
    -------
    (height, width) : tuple of int
        The image size in pixels, from the header.

    Raises
    ------
    ImageReadError
        For a missing or empty file, a file that is not an image, or an image larger
        than ``max_side``. Truncated pixel data is only found by :func:`load_image_file`.
    """
    path = os.fspath(path)
    image = _open(path, item)
    try:
        _check_side(image, path, item, max_side)
        _ = image.mode
        return image.size[1], image.size[0]
    finally:
        image.close()


def load_image_file(
    path: PathLike, *, item: Optional[str] = None, max_side: int = MAX_IMAGE_SIDE, draft: Optional[int] = None
) -> np.ndarray:
    """Decode an image file to a ``uint8`` array of shape ``[H, W, C]``, ``C`` in {1, 3}.

    The size is checked from the header before any pixel is decoded, then the whole
    image is decoded (so a truncated file fails here, not later). The EXIF orientation
    is applied; for multi-frame files (GIF, TIFF) the first frame is used.

    Parameters
    ----------
    path : str or os.PathLike
        The image file.
    item : str, optional
        The item id, used in error messages.
    max_side : int, default MAX_IMAGE_SIDE
        Largest width or height allowed, in pixels (default 8192).
    draft : int, optional
        Decode a JPEG at the smallest reduced scale (1/2, 1/4, 1/8) whose sides stay at least
        ``draft`` pixels (Pillow's draft mode: fewer pixels decoded, not a resize afterwards).

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``[H, W, C]``, normalised as by :func:`to_uint8_hwc`.

    Raises
    ------
    ImageReadError
        For a missing, empty, truncated or corrupt file, a file that is not an image,
        or an image with a side larger than ``max_side`` px.
    """
    path = os.fspath(path)
    opened = image = _open(path, item)
    try:
        _check_side(image, path, item, max_side)
        if draft is not None and image.format == "JPEG":
            image.draft(image.mode, (int(draft), int(draft)))
        with _decompression_guard(item, path, max_side):
            try:
                image.load()
                image = ImageOps.exif_transpose(image)
            except (OSError, ValueError, SyntaxError, EOFError) as exc:
                reason = "truncated or corrupt image data"
                if "truncated" not in str(exc):
                    reason += f" ({exc})"
                raise ImageReadError(item, path, reason) from exc
        try:
            return _own(_pil_to_uint8_hwc(image, item), None)
        except ValueError as exc:
            raise ImageReadError(item, path, str(exc), "") from exc
    finally:
        opened.close()
