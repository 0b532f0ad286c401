"""Pool images as model inputs: resize, channel conversion, normalisation, and the resized-image cache.

Images are read once from the pool, resized to ``size × size`` and kept as uint8 tensors
``[C, S, S]`` (a quarter of the memory of floats); batches are normalised on the fly.
"""

from __future__ import annotations

import threading
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..progress import CancelToken, ProgressCallback, check, report
from .augment import augment_batch

_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def choose_image_size(native: int, model_size: Optional[int], *, pretrained: bool, min_size: int = 28,
                      max_size: int = 224) -> int:
    """Pick the side (pixels) images are resized to.

    Pretrained models get the size they were trained at. Models trained from scratch keep the
    images' native size, clamped to ``[min_size, max_size]``: small images (8×8 digits) are
    enlarged so that the network's pooling stages have room, large photos are shrunk so a CPU
    can train on them.
    """
    if pretrained and model_size:
        return int(model_size)
    return int(min(max(native, min_size), max_size))


def _resize_crop_u8(img_B_C_H_W: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the shorter side is ``size``, then centre-crop to ``size × size`` (uint8 in, uint8 out)."""
    _, _, h, w = img_B_C_H_W.shape
    if (h, w) != (size, size):
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        x = img_B_C_H_W.float()
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=(scale < 1))
        top, left = (nh - size) // 2, (nw - size) // 2
        img_B_C_H_W = x[:, :, top:top + size, left:left + size].round().clamp(0, 255).to(torch.uint8)
    return img_B_C_H_W


def _to_channels(x_B_C_H_W: torch.Tensor, chans: int) -> torch.Tensor:
    c = x_B_C_H_W.shape[1]
    if c == chans:
        return x_B_C_H_W
    if chans == 3 and c == 1:
        return x_B_C_H_W.expand(-1, 3, -1, -1)
    if chans == 1 and c == 3:
        return (x_B_C_H_W.float() * _LUMA).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    raise ValueError(f"cannot convert {c}-channel images to {chans} channels")


def to_model_u8(arr_B_H_W_C: np.ndarray, size: int, in_chans: int) -> torch.Tensor:
    """uint8 images ``[B, H, W, C]`` → resized, channel-converted uint8 ``[B, in_chans, S, S]``."""
    x = torch.from_numpy(np.array(arr_B_H_W_C, copy=True)).permute(0, 3, 1, 2)
    return _to_channels(_resize_crop_u8(x, int(size)), int(in_chans))


def normalize_inputs(x_B_C_S_S: torch.Tensor, mean_1_C_1_1: torch.Tensor, std_1_C_1_1: torch.Tensor) -> torch.Tensor:
    """``(x - mean) / std`` of inputs in ``[0, 1]``, in channels-last memory format."""
    # channels-last runs CPU convolutions about a third faster (oneDNN's native layout)
    return ((x_B_C_S_S - mean_1_C_1_1) / std_1_C_1_1).contiguous(memory_format=torch.channels_last)


def load_pool_rows(pool, start: int, stop: int, size: int, in_chans: int) -> Tuple[torch.Tensor, Dict[int, str]]:
    """Read and resize pool positions ``start:stop``: ``(uint8 [n, in_chans, S, S], {position:
    reason})``; rows of unreadable images are zeros and their reasons are returned."""
    block = pool.rows(start, stop) if hasattr(pool, "rows") else None
    if block is not None:
        return to_model_u8(block, size, in_chans), {}
    out = torch.zeros((stop - start, int(in_chans), int(size), int(size)), dtype=torch.uint8)
    failed: Dict[int, str] = {}
    ids = pool.ids
    read = getattr(pool, "image_for_size", None)
    for p in range(start, stop):
        try:
            img = read(ids[p], size, cache=False) if read is not None else pool.image(ids[p], cache=False)
        except Exception as exc:  # an unreadable image is skipped, never fatal
            failed[p] = str(exc)
            continue
        out[p - start] = to_model_u8(np.asarray(img)[None], size, in_chans)[0]
    return out, failed


class PoolTensors:
    """Resized uint8 copies of a pool's images, filled lazily and shared between cycles.

    In memory by default (one ``[N, C, S, S]`` uint8 tensor). With ``folder`` the copies live on
    disk instead, in a :class:`~alwidget.data.chunked.ChunkedArray` of ``chunk_rows`` rows per
    chunk: a chunk is filled (read from the pool, resized) the first time one of its rows is
    needed, or by :meth:`fill`, the streaming pass; finished chunks survive a kill and are
    reused by the next session with the same key.

    Parameters
    ----------
    pool : ImagePool
        Provides ``ids``, ``image(id)`` (uint8 ``H×W×C``) and ``as_array()``.
    size : int
        Side of the square model input, in pixels.
    in_chans : int
        Channels the model expects (1 or 3).
    mean, std : sequence of float
        Per-channel normalisation applied to pixel values scaled to ``[0, 1]``.
    folder : path, optional
        Keep the copies on disk in this folder (see above).
    chunk_rows : int
        Rows per chunk on disk, and per read of an in-memory array pool.

    Attributes
    ----------
    failed : dict of int to str
        Pool positions whose image could not be read, with the reason.
    """

    def __init__(self, pool, size: int, in_chans: int, mean: Sequence[float], std: Sequence[float], *,
                 folder=None, chunk_rows: int = 4096) -> None:
        self.pool = pool
        self.size = int(size)
        self.in_chans = int(in_chans)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.chunk_rows = int(chunk_rows)
        n = len(pool)
        self.failed: Dict[int, str] = {}
        self._lock = threading.Lock()
        self._fill_lock = threading.Lock()
        self._disk = None
        self._u8: Optional[torch.Tensor] = None
        if folder is not None:
            from ..data.chunked import ChunkedArray

            key = {"pool": pool.fingerprint(), "size": self.size, "in_chans": self.in_chans, "what": "images"}
            self._disk = ChunkedArray.open(folder, key, (n, self.in_chans, self.size, self.size), np.uint8,
                                           self.chunk_rows)
            self.failed.update(self._disk.failed_rows())
            return
        self._u8 = torch.zeros((n, self.in_chans, self.size, self.size), dtype=torch.uint8)
        self._filled = np.zeros(n, dtype=bool)
        arr = pool.as_array() if hasattr(pool, "as_array") else None
        if arr is not None:
            self._fill_from_array(len(arr))

    @property
    def on_disk(self) -> bool:
        """Whether the copies live on disk."""
        return self._disk is not None

    def _convert(self, arr_B_H_W_C: np.ndarray) -> torch.Tensor:
        return to_model_u8(arr_B_H_W_C, self.size, self.in_chans)

    def _fill_from_array(self, n: int) -> None:
        for start in range(0, n, self.chunk_rows):
            x, _ = load_pool_rows(self.pool, start, min(start + self.chunk_rows, n), self.size, self.in_chans)
            self._u8[start:start + len(x)] = x
        self._filled[:] = True

    def load_rows(self, start: int, stop: int) -> Tuple[torch.Tensor, Dict[int, str]]:
        """Read and resize pool positions ``start:stop`` now, bypassing the cache (see
        :func:`load_pool_rows`)."""
        return load_pool_rows(self.pool, start, stop, self.size, self.in_chans)

    def _fill_chunk(self, chunk: int) -> None:
        with self._fill_lock:
            if self._disk.is_done(chunk):
                return
            start, stop = self._disk.bounds(chunk)
            rows, failed = self.load_rows(start, stop)
            self._disk.write_rows(chunk, rows.numpy(), failed)
            with self._lock:
                self.failed.update(failed)

    def fill(self, progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
             step: str = "load") -> None:
        """The streaming pass: read and resize every image not cached yet, chunk by chunk, with
        progress and cancel between chunks (a cancelled or killed pass resumes where it stopped)."""
        if self._disk is None:
            self.ensure(range(len(self.pool)), progress=progress, cancel=cancel, step=step)
            return
        todo = self._disk.missing()
        for i, chunk in enumerate(todo):
            check(cancel)
            report(progress, step, i / max(1, len(todo)))
            self._fill_chunk(chunk)
        report(progress, step, 1.0)

    def ensure(self, positions: Sequence[int], progress: Optional[ProgressCallback] = None,
               cancel: Optional[CancelToken] = None, step: str = "load") -> None:
        """Read and resize the images at ``positions`` that are not cached yet (on disk: their
        whole chunks)."""
        if self._disk is not None:
            chunks = np.unique(np.asarray(list(positions), dtype=np.int64) // self.chunk_rows)
            todo = [int(c) for c in chunks if not self._disk.is_done(int(c))]
            for i, c in enumerate(todo):
                check(cancel)
                report(progress, step, i / max(1, len(todo)))
                self._fill_chunk(c)
            return
        todo = [int(p) for p in positions if not self._filled[p]]
        ids = self.pool.ids
        for i, p in enumerate(todo):
            if i % 64 == 0:
                check(cancel)
                report(progress, step, i / max(1, len(todo)))
            try:
                img = self.pool.image(ids[p], cache=False)  # this tensor is the copy kept
            except Exception as exc:  # an unreadable image is skipped, never fatal
                with self._lock:
                    self.failed[p] = str(exc)
                    self._filled[p] = True
                continue
            x = self._convert(np.asarray(img)[None])
            with self._lock:
                self._u8[p] = x[0]
                self._filled[p] = True

    def ok(self, positions: Sequence[int]) -> np.ndarray:
        """Boolean mask over ``positions``: ``True`` where the image was read."""
        return np.array([int(p) not in self.failed for p in positions], dtype=bool)

    def uint8_rows(self, positions: Sequence[int]) -> torch.Tensor:
        """The cached uint8 copies ``[B, in_chans, S, S]`` of ``positions`` (read first if needed)."""
        idx = np.asarray(positions, dtype=np.int64)
        self.ensure(idx.tolist())
        if self._disk is not None:
            return torch.from_numpy(self._disk.take(idx))
        return self._u8[torch.as_tensor(idx)]

    def raw_batch(self, positions: Sequence[int]) -> torch.Tensor:
        """Float inputs ``[B, in_chans, S, S]`` in ``[0, 1]``, not normalised nor augmented."""
        return self.uint8_rows(positions).float().div_(255.0)

    def normalize(self, x_B_C_S_S: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` of inputs in ``[0, 1]``, channels-last."""
        return normalize_inputs(x_B_C_S_S, self.mean, self.std)

    def batch(self, positions: Sequence[int], *, augment: Union[bool, str] = False,
              generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Normalised float inputs ``[B, in_chans, S, S]`` for the given pool positions.

        ``augment`` is one of :data:`AUGMENTATIONS` (``True`` means ``"affine"``, ``False``
        ``"none"``).
        """
        x = self.raw_batch(positions)
        x = augment_batch(x, augment, generator)
        return self.normalize(x)


#: Label-safe augmentations of a training batch, by name.
def pool_channels(pool, sample: int = 16) -> Tuple[int, int]:
    """Guess ``(channels, native side)`` of a pool from up to ``sample`` readable images.

    Channels are 3 if any sampled image is colour, else 1; the native side is the median of
    the sampled images' shorter sides.
    """
    arr = pool.as_array() if hasattr(pool, "as_array") else None
    if arr is not None:
        return int(arr.shape[3]), int(min(arr.shape[1], arr.shape[2]))
    chans: List[int] = []
    sides: List[int] = []
    for item in pool.ids:
        if len(chans) >= sample:
            break
        try:
            img = pool.image(item)
        except Exception:
            continue
        chans.append(img.shape[2])
        sides.append(min(img.shape[:2]))
    if not chans:
        raise ValueError("no readable image in the pool; check pool.skipped for the reasons")
    return (3 if max(chans) == 3 else 1), int(np.median(sides))
