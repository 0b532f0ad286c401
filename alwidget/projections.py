"""The learner's map of its pool: :meth:`PoolMaps.projection`, a 2-D layout of the representation
in use, computed off the calling thread and kept per representation.

The representation in use is the latest model's pool features (``semi``: the representation the
labels chose; ``embed`` / ``finetune``: the trained model's features); before the first model,
the representation ``semi`` mode starts from. A map is keyed by those features' bytes, the method
and the seed: a new representation gives a new map, the same one comes back from memory or from
``projection-<key>.npy`` in the learner's ``cache_dir``.

:class:`PoolMaps` is mixed into :class:`~alwidget.ActiveLearner`; :class:`MapWorker` runs one
map at a time on a daemon thread of its own (a registered part of ``learner.background``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from .representation.projection import METHODS, default_method, project_N_2

__all__ = ["MapWorker", "PoolMaps", "map_key"]


def map_key(features_N_D: np.ndarray, method: str, seed: int) -> str:
    """A 20-hex-digit key of a map: the features' shape and bytes, the method and the seed."""
    x = np.ascontiguousarray(features_N_D, dtype=np.float32)
    h = hashlib.blake2b(digest_size=10)
    h.update(f"{x.shape}|{method}|{seed}".encode())
    h.update(memoryview(x).cast("B"))
    return h.hexdigest()


class MapWorker:
    """Computes maps one at a time on a thread of its own and keeps the finished ones.

    Parameters
    ----------
    cache_dir : path, optional
        Where finished maps are written (``projection-<key>.npy``) and read back; memory only if ``None``.
    """

    def __init__(self, cache_dir: Optional[Path] = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._lock = threading.Lock()
        self._done: Dict[str, np.ndarray] = {}
        self._thread: Optional[threading.Thread] = None
        self._running_key: Optional[str] = None
        self._cancelled = False
        self.errors: Dict[str, str] = {}
        """``{key: why}`` for maps that failed."""
        self.seconds: Dict[str, float] = {}
        """``{key: seconds}`` each map took here (not when read from the cache)."""

    def _path(self, key: str) -> Optional[Path]:
        return None if self.cache_dir is None else self.cache_dir / f"projection-{key}.npy"

    def get(self, key: str) -> Optional[np.ndarray]:
        """The finished map of ``key`` (from memory or the cache folder), else ``None``."""
        with self._lock:
            if key in self._done:
                return self._done[key]
        path = self._path(key)
        if path is not None and path.is_file():
            try:
                y = np.load(path)
            except (OSError, ValueError):
                return None  # unreadable: computed again
            with self._lock:
                self._done[key] = y
            return y
        return None

    def start(self, key: str, features_N_D: np.ndarray, method: str, seed: int) -> None:
        """Compute the map of ``key`` on the worker's thread (nothing if it is done or running;
        a running map of another key is let finish first: the next :meth:`start` starts this one)."""
        if self.get(key) is not None:
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._cancelled = False
            self._running_key = key
            x = np.array(features_N_D, dtype=np.float32, copy=True)  # the caller's array may change
            self._thread = threading.Thread(target=self._run, args=(key, x, method, seed),
                                            name="alwidget-projection", daemon=True)
            self._thread.start()

    def _run(self, key: str, x: np.ndarray, method: str, seed: int) -> None:
        t0 = time.perf_counter()
        try:
            y = project_N_2(x, method, seed=seed)
        except Exception as exc:  # said by projection(); the widget shows it
            with self._lock:
                self.errors[key] = f"{type(exc).__name__}: {exc}"
                self._running_key = None
            return
        path = self._path(key)
        if path is not None and not self._cancelled:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".part.npy")
                np.save(tmp, y)
                tmp.replace(path)  # whole or absent
            except OSError:
                pass  # a read-only cache folder: memory only
        with self._lock:
            if not self._cancelled:
                self._done[key] = y
                self.seconds[key] = time.perf_counter() - t0
            self._running_key = None

    def running(self, key: Optional[str] = None) -> bool:
        """A map (of ``key``, if given) is being computed."""
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            return alive and (key is None or self._running_key == key)

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for the running map; returns whether none is running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not (thread is not None and thread.is_alive())

    def cancel(self) -> None:
        """Drop the running map's result (the library call cannot be interrupted; it ends on its own)."""
        with self._lock:
            self._cancelled = True


class PoolMaps:
    """``projection()``: the learner's map of its pool."""

    def _map_worker(self) -> MapWorker:
        worker = getattr(self, "_pool_maps", None)
        if worker is None:
            worker = MapWorker(self.cache_dir)
            self._pool_maps = worker
            self.background.add("projection", worker)
        return worker

    def _features_in_use(self) -> Tuple[Optional[np.ndarray], str]:
        """``(features [N, D], name)`` of the representation in use; ``(None, why)`` before there is one."""
        model = getattr(self, "_model", None)
        if model is not None and getattr(model.estimate, "features_N_D", None) is not None:
            history = [r for r in self.history if r.ok]
            return np.asarray(model.estimate.features_N_D), (history[-1].representation if history else "") or "model"
        feats = self.recipe.cold_start_features(self)
        if feats is not None:
            return np.asarray(feats), "representation (before the first model)"
        return None, ("no representation yet: the pool's representation is still being built "
                      "(learner.representations.status()), or train a first model")

    def projection(self, method: str = "auto", *, wait: bool = True, timeout: Optional[float] = None,
                   seed: Optional[int] = None) -> Optional[np.ndarray]:
        """A 2-D map of the representation in use: ``[N, 2]`` float32, rows in ``pool.ids`` order.

        Parameters
        ----------
        method : {"auto", "umap", "tsne", "pca"}
            See :mod:`alwidget.representation.projection` (``"auto"``: t-SNE when openTSNE is
            installed, else UMAP when umap-learn is, else PCA).
        wait : bool
            Wait for the map (building the representation first if it is not ready, as
            :meth:`prepare` does). ``False``: start it in the background and return ``None``
            until it is done (call again: the finished map comes back at once).
        timeout : float, optional
            With ``wait``: seconds to wait for the map before returning ``None``.
        seed : int, optional
            Default: the learner's seed. The same features, method and seed give the same map.

        Returns
        -------
        numpy.ndarray of shape [N, 2] or None
            Axes centred, unit standard deviation. The same array until the representation changes.

        Raises
        ------
        RuntimeError
            The map failed (the reason is in the message), or ``wait=True`` and there is no
            representation to map even after preparing.
        """
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        method = default_method() if method == "auto" else method
        feats, name = self._features_in_use()
        if feats is None and wait:
            self.prepare()
            feats, name = self._features_in_use()
        if feats is None:
            if wait:
                raise RuntimeError(f"cannot map the pool: {name}")
            return None
        worker = self._map_worker()
        key = map_key(feats, method, self.seed if seed is None else int(seed))
        done = worker.get(key)
        if done is not None:
            return done
        if key in worker.errors:
            raise RuntimeError(f"the {method} map of {name} failed: {worker.errors[key]}")
        if worker.running() and not worker.running(key):  # another representation's map: let it end
            if not wait or not worker.join(timeout):
                return None
        worker.start(key, feats, method, self.seed if seed is None else int(seed))
        if not wait:
            return None
        worker.join(timeout)
        if key in worker.errors:
            raise RuntimeError(f"the {method} map of {name} failed: {worker.errors[key]}")
        return worker.get(key)
