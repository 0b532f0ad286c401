"""Fixtures for the data-layer tests: the real datasets folder and an image-file factory."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder holding fashion-mnist/ and mnist-test/ (env ALWIDGET_DATA or ../shared)."""
    path = Path(os.environ.get("ALWIDGET_DATA") or DEFAULT_DATA)
    if not (path / "fashion-mnist").is_dir() or not (path / "mnist-test").is_dir():
        pytest.skip(
            f"real datasets not found at {path} (set ALWIDGET_DATA to the folder holding "
            "fashion-mnist/ and mnist-test/)"
        )
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, *, bit_depth: int = 1, color_type: int = 0,
              rows: bool = True) -> bytes:
    """A PNG of zeros, built by hand so huge sizes cost little.

    With ``rows=False`` the IDAT is empty: the header is valid, the pixel data is not.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    if rows:
        channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
        row = b"\x00" * (1 + (width * channels * bit_depth + 7) // 8)
        compressor = zlib.compressobj(9)
        idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    else:
        idat = b""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


@pytest.fixture
def save_image(tmp_path: Path) -> Callable[..., Path]:
    """``save_image(name, image_or_array, **pil_save_kwargs) -> Path`` under tmp_path."""

    def save(name: str, image, **kwargs) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        fmt = kwargs.pop("format", None)
        image.save(path, format=fmt, **kwargs)
        return path

    return save


@pytest.fixture
def truncated_png(tmp_path: Path) -> Path:
    """A 64 x 64 noisy RGB PNG cut to half its bytes: the header reads, the pixels do not."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    data = buffer.getvalue()
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def huge_png(tmp_path: Path) -> Path:
    """A valid 10,000 x 10,000 px 1-bit PNG (about 12 kB on disk, 100 Mpx when decoded)."""
    path = tmp_path / "huge.png"
    path.write_bytes(png_bytes(10_000, 10_000))
    return path


@pytest.fixture
def make_png() -> Callable[..., bytes]:
    """The hand-made PNG builder :func:`png_bytes`."""
    return png_bytes
