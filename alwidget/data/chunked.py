"""A fixed-shape array on disk, filled chunk by chunk, that survives a kill.

Pools larger than memory keep their resized images and their features here (under the
learner's ``cache_dir``). The array is an ordinary ``.npy`` file (``numpy.load(path,
mmap_mode="r")`` reads it), written through a memory map one chunk of rows at a time. A chunk
is recorded as done only after its rows are flushed to disk, so a process killed mid-chunk
leaves that chunk "not done" and the next pass recomputes it; a reader never sees half a chunk.

Reads copy the rows they need with plain file reads (no memory map), so the process's resident
memory holds the rows in use, not the file (the operating system's page cache may keep the
file, but it can give that memory back at any time). Through a map, reading 20,000 scattered
rows of a 1,000,000-image file mapped 1.4 GB of it into the process (the kernel maps the pages
around each one it faults in), and the resident set counted them.

Layout of the folder::

    meta.json      key, shape, dtype, chunk_rows (the folder is valid only if they match)
    data.npy       the array
    done.npy       one bool per chunk
    extra-<i>.json optional per-chunk notes (e.g. unreadable images), written before "done"
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["ChunkedArray"]

FORMAT = 1


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}-{threading.get_ident()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class ChunkedArray:
    """An array ``[N, ...]`` on disk in chunks of ``chunk_rows`` rows, with a record of the
    chunks that are complete.

    Open (or create) one with :meth:`open`; a folder made for another key, shape or dtype is
    cleared and rebuilt.

    Parameters
    ----------
    folder : path
        The folder holding the files (see the module docstring).
    """

    def __init__(self, folder: Union[str, Path]) -> None:
        self.folder = Path(folder)
        meta = json.loads((self.folder / "meta.json").read_text())
        self.key: Dict[str, Any] = meta["key"]
        self.shape: Tuple[int, ...] = tuple(int(s) for s in meta["shape"])
        self.dtype = np.dtype(meta["dtype"])
        self.chunk_rows = int(meta["chunk_rows"])
        self._lock = threading.Lock()
        self._offset: Optional[int] = None  # of row 0 in data.npy, read once (_data_offset)
        self._done = np.load(self.folder / "done.npy")
        if self._done.shape != (self.n_chunks,):
            raise ValueError(f"{self.folder}: done.npy has {self._done.shape} entries, expected {self.n_chunks}")

    # ----------------------------------------------------------------- creation
    @classmethod
    def open(cls, folder: Union[str, Path], key: Dict[str, Any], shape: Sequence[int], dtype: Any,
             chunk_rows: int) -> "ChunkedArray":
        """The array in ``folder`` if it was made for the same ``key``, ``shape``, ``dtype`` and
        ``chunk_rows`` (its finished chunks are kept), else a new, empty one there.

        Parameters
        ----------
        folder : path
            Created when missing.
        key : dict
            JSON-serialisable description of what the rows are (pool fingerprint, model, ...).
        shape : sequence of int
            ``(N, ...)``; rows are the first axis.
        dtype : numpy dtype
        chunk_rows : int
            Rows per chunk (the last chunk may be shorter).
        """
        folder = Path(folder).expanduser()
        shape = tuple(int(s) for s in shape)
        chunk_rows = int(chunk_rows)
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
        want = {"format": FORMAT, "key": json.loads(json.dumps(key, default=str)), "shape": list(shape),
                "dtype": np.dtype(dtype).str, "chunk_rows": chunk_rows}
        meta_path = folder / "meta.json"
        if meta_path.exists():
            try:
                have = json.loads(meta_path.read_text())
                if have == want and (folder / "data.npy").exists():
                    return cls(folder)
                reason = "it was made for other settings"
            except (OSError, ValueError) as exc:
                reason = f"it cannot be read ({exc})"
            warnings.warn(f"rebuilding the cache in {folder}: {reason}", UserWarning, stacklevel=3)
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("extra-*.json"):
            stale.unlink()
        mm = np.lib.format.open_memmap(folder / "data.npy", mode="w+", dtype=np.dtype(dtype), shape=shape)
        del mm  # a sparse file: disk space is used as chunks are written
        n_chunks = -(-shape[0] // chunk_rows) if shape[0] else 0
        _save_npy(folder / "done.npy", np.zeros(n_chunks, dtype=bool))
        _atomic_write_bytes(meta_path, json.dumps(want).encode())  # last: the folder is valid from now on
        return cls(folder)

    # ----------------------------------------------------------------- geometry
    @property
    def n_rows(self) -> int:
        """``N``."""
        return self.shape[0]

    @property
    def n_chunks(self) -> int:
        """Number of chunks, ``ceil(N / chunk_rows)``."""
        return -(-self.shape[0] // self.chunk_rows) if self.shape[0] else 0

    @property
    def row_bytes(self) -> int:
        """Bytes of one row."""
        return int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def bounds(self, chunk: int) -> Tuple[int, int]:
        """``(start, stop)`` rows of ``chunk``."""
        if not 0 <= chunk < self.n_chunks:
            raise IndexError(f"chunk {chunk} out of range 0..{self.n_chunks - 1}")
        start = chunk * self.chunk_rows
        return start, min(start + self.chunk_rows, self.n_rows)

    # ----------------------------------------------------------------- state
    def is_done(self, chunk: int) -> bool:
        """Whether ``chunk`` has been written completely."""
        return bool(self._done[chunk])

    @property
    def done_N(self) -> np.ndarray:
        """``[n_chunks]`` bool, a copy."""
        with self._lock:
            return self._done.copy()

    def missing(self) -> List[int]:
        """Chunks not written yet, in order."""
        with self._lock:
            return np.flatnonzero(~self._done).tolist()

    @property
    def complete(self) -> bool:
        """Every chunk is written."""
        with self._lock:
            return bool(self._done.all())

    # ----------------------------------------------------------------- write
    def write_chunk(self, chunk: int, values: np.ndarray, extra: Optional[Dict[str, Any]] = None) -> None:
        """Write all rows of ``chunk`` (flushed to disk), then mark it done.

        ``extra`` (JSON-serialisable) is stored with the chunk (see :meth:`extra`).
        """
        start, stop = self.bounds(chunk)
        values = np.asarray(values)
        if values.shape != (stop - start,) + self.shape[1:]:
            raise ValueError(f"chunk {chunk} needs shape {(stop - start,) + self.shape[1:]}, got {values.shape}")
        mm = np.load(self.folder / "data.npy", mmap_mode="r+")
        try:
            mm[start:stop] = values
            mm.flush()
        finally:
            del mm
        if extra is not None:
            _atomic_write_bytes(self.folder / f"extra-{chunk}.json", json.dumps(extra).encode())
        with self._lock:
            self._done[chunk] = True
            _save_npy(self.folder / "done.npy", self._done)

    def extra(self, chunk: int) -> Optional[Dict[str, Any]]:
        """The notes stored with a done ``chunk`` (``None`` when none)."""
        path = self.folder / f"extra-{chunk}.json"
        if not path.exists():
            return None
        return json.loads(path.read_text())

    def write_rows(self, chunk: int, values: np.ndarray, failed: Dict[int, str]) -> None:
        """:meth:`write_chunk` with the rows that could not be computed (``{row: reason}``) as its
        notes (see :meth:`failed_rows`)."""
        self.write_chunk(chunk, values, extra={"failed": {str(k): v for k, v in failed.items()}})

    def failed_rows(self) -> Dict[int, str]:
        """``{row: reason}`` noted by :meth:`write_rows` in every done chunk."""
        out: Dict[int, str] = {}
        for c in np.flatnonzero(self.done_N):
            extra = self.extra(int(c)) or {}
            out.update({int(k): v for k, v in extra.get("failed", {}).items()})
        return out

    # ----------------------------------------------------------------- read
    def _data_offset(self) -> int:
        """Byte offset of row 0 in ``data.npy`` (after the ``.npy`` header)."""
        if self._offset is None:
            mm = np.load(self.folder / "data.npy", mmap_mode="r")  # mapped, no page touched
            self._offset = int(mm.offset)
            del mm
        return self._offset

    def _read_runs(self, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Runs of consecutive rows (``starts[i]``, ``lengths[i]`` rows each), concatenated, read
        with plain file reads."""
        row_bytes = int(self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64)))
        out = np.empty((int(lengths.sum()),) + self.shape[1:], dtype=self.dtype)
        view = memoryview(out.reshape(-1).view(np.uint8))
        offset, at = self._data_offset(), 0
        with open(self.folder / "data.npy", "rb", buffering=0) as fh:
            for start, length in zip(starts.tolist(), lengths.tolist()):
                fh.seek(offset + start * row_bytes)
                want, got = length * row_bytes, 0
                while got < want:
                    n = fh.readinto(view[at + got:at + want])
                    if not n:
                        raise OSError(f"{self.folder / 'data.npy'} ended early (rows {start}..{start + length})")
                    got += n
                at += want
        return out

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a new in-memory array."""
        start, stop = max(0, int(start)), min(int(stop), self.shape[0])
        if stop <= start:
            return np.zeros((0,) + self.shape[1:], dtype=self.dtype)
        return self._read_runs(np.array([start]), np.array([stop - start]))

    def take(self, rows: Sequence[int]) -> np.ndarray:
        """Rows at ``rows`` (any order, repeats allowed) as a new in-memory array."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return np.zeros((0,) + self.shape[1:], dtype=self.dtype)
        uniq, inverse = np.unique(rows, return_inverse=True)
        if uniq[0] < 0 or uniq[-1] >= self.shape[0]:
            raise IndexError(f"rows must be in 0..{self.shape[0] - 1}, got {int(uniq[0])}..{int(uniq[-1])}")
        breaks = np.flatnonzero(np.diff(uniq) != 1) + 1  # runs of consecutive rows: one read each
        starts = uniq[np.r_[0, breaks]]
        lengths = np.diff(np.r_[0, breaks, len(uniq)])
        return self._read_runs(starts, lengths)[inverse.reshape(-1)]

    def iter_chunks(self) -> Iterator[Tuple[int, int, np.ndarray]]:
        """``(start, stop, rows)`` for every chunk, in order."""
        for chunk in range(self.n_chunks):
            start, stop = self.bounds(chunk)
            yield start, stop, self.read(start, stop)

    def memmap(self) -> np.ndarray:
        """A read-only memory map of the whole array (its pages count towards resident memory
        while they are touched; prefer :meth:`read` and :meth:`take`)."""
        return np.load(self.folder / "data.npy", mmap_mode="r")

    def __repr__(self) -> str:
        done = int(self._done.sum())
        return (f"ChunkedArray({str(self.folder)!r}, shape={self.shape}, dtype={self.dtype}, "
                f"{done}/{self.n_chunks} chunks done)")


def _save_npy(path: Path, array: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    _atomic_write_bytes(path, buf.getvalue())
