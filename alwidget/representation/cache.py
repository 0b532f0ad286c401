"""The representation's disk cache: a finished representation, and a resumable partial one.

Files live in ``cache_dir`` and are named by a digest of the key (pool fingerprint, trunk,
method, settings, seed):

* ``representation-<digest>.pt``: the trained trunk's weights, the pool's features and their
  standardisation, the unreadable images; written once, when the representation is done.
* ``representation-<digest>.partial.pt``: the latest training checkpoint (resumed after a kill).

Every write goes to a temporary file in the same folder, is flushed to disk, then renamed over
the target (``os.replace`` is atomic), so a killed kernel leaves the old file or the new one,
never half of one; the temporary file a kill leaves behind (``<name>.tmp<pid>``, its process gone)
is removed the next time the cache is read. A file that cannot be read (truncated, corrupted, written by another
version) or whose stored key differs is ignored with a warning and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch

__all__ = ["RepresentationCache", "cache_digest"]

FORMAT = 1


def cache_digest(key: Dict[str, Any]) -> str:
    """A 16-hex-digit digest of a JSON-serialisable key (order of dict entries ignored)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RepresentationCache:
    """Where one representation (identified by ``key``) is kept on disk; in memory only when
    ``cache_dir`` is ``None``.

    Parameters
    ----------
    key : dict
        JSON-serialisable description of everything the representation depends on.
    cache_dir : path, optional
        Folder for the files (created when first written).
    """

    def __init__(self, key: Dict[str, Any], cache_dir: Optional[Union[str, Path]] = None) -> None:
        self.key = dict(key)
        self.digest = cache_digest(self.key)
        self.dir = None if cache_dir is None else Path(cache_dir).expanduser()
        self.messages: list = []
        """What the cache noticed (a stale or unreadable file), for the learner's status."""

    @property
    def path(self) -> Optional[Path]:
        """The finished representation's file, or ``None`` without a cache folder."""
        return None if self.dir is None else self.dir / f"representation-{self.digest}.pt"

    @property
    def partial_path(self) -> Optional[Path]:
        """The training checkpoint's file, or ``None`` without a cache folder."""
        return None if self.dir is None else self.dir / f"representation-{self.digest}.partial.pt"

    def _warn(self, msg: str) -> None:
        self.messages.append(msg)
        warnings.warn(msg, UserWarning, stacklevel=3)

    def _read(self, path: Optional[Path]) -> Optional[Dict[str, Any]]:
        if path is None or not path.exists():
            return None
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated or corrupted: rebuild, never crash
            self._warn(f"the cached representation {path.name} cannot be read ({type(exc).__name__}: {exc}); "
                       "it is rebuilt")
            return None
        if not isinstance(saved, dict) or saved.get("format") != FORMAT or saved.get("key") != self.key:
            self._warn(f"the cached representation {path.name} was made for other settings or another pool; "
                       "it is rebuilt")
            return None
        return saved

    def sweep_stale(self) -> int:
        """Remove the temporary files of writes a kill interrupted (their process is gone).

        Returns the number of files removed. A temporary file of a live process (another kernel
        writing right now) is left alone.
        """
        if self.dir is None or not self.dir.exists():
            return 0
        removed = 0
        for tmp in self.dir.glob("representation-*.pt.tmp*"):
            pid = tmp.name.rsplit(".tmp", 1)[1]
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                try:
                    tmp.unlink()
                    removed += 1
                except OSError:
                    pass
        return removed

    def load(self) -> Optional[Dict[str, Any]]:
        """The finished representation (``trunk``, ``features``, ``norm``, ``failed``), or ``None``."""
        self.sweep_stale()
        saved = self._read(self.path)
        if saved is None:
            self.note_others()
        return saved

    def note_others(self) -> None:
        """Say (once) when the folder holds representations of other pools or settings."""
        if self.dir is None or not self.dir.exists():
            return
        others = [p.name for p in self.dir.glob("representation-*.pt")
                  if not p.name.startswith(f"representation-{self.digest}")]
        if others:
            self.messages.append(f"{len(others)} cached representation(s) in {self.dir} belong to another pool or "
                                 "other settings; a new one is computed for this pool")

    def save(self, payload: Dict[str, Any]) -> None:
        """Write the finished representation and drop the checkpoint."""
        if self.dir is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        _atomic_save(dict(payload, key=self.key, format=FORMAT), self.path)
        if self.partial_path.exists():
            self.partial_path.unlink()

    def load_partial(self) -> Optional[Dict[str, Any]]:
        """The latest training checkpoint, or ``None``."""
        self.sweep_stale()
        saved = self._read(self.partial_path)
        return None if saved is None else saved.get("state")

    def save_partial(self, state: Dict[str, Any]) -> None:
        """Write a training checkpoint (replacing the previous one atomically)."""
        if self.dir is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        _atomic_save({"key": self.key, "format": FORMAT, "state": state}, self.partial_path)
