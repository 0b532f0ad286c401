"""The pool's representation: a trunk learned without labels and every pool item's features.

:class:`PoolRepresentation` builds it once, on a background thread, as soon as it is started
(the learner starts it when it is created, while the person labels the validation set):

* ``method="contrastive"`` (the default without pretrained weights): the trunk is trained with
  SimCLR on the pool (:mod:`alwidget.representation.contrastive`), then embeds every image;
* ``method="frozen"`` (a pretrained trunk, or a user's own trained module): the trunk is used
  as it is, one pass over the pool (``stream=True``: each chunk is read, resized to the trunk's
  own input size, embedded and dropped, so a 224 px pass holds no pool-sized image array);
* ``method="pca"`` (the cheap floor): principal components of the pixels
  (:mod:`alwidget.representation.pca`), seconds on any pool.

The result (trunk weights, raw features ``[N, D]``, their standardisation) is cached on disk
(:class:`~alwidget.representation.cache.RepresentationCache`), keyed by the pool's fingerprint
and every setting, with training checkpoints so that a kernel killed half-way resumes. Progress
goes through the usual callback (steps ``"represent"`` then ``"embed"``); :meth:`cancel` stops
it at the next batch, keeping the last checkpoint.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .._memory import release_free_memory
from .._shutdown import exiting
from ..model.features import Standardize, compute_features
from ..data.tensors import PoolTensors
from ..progress import CancelToken, CycleCancelled, ProgressCallback, report
from .cache import RepresentationCache
from .contrastive import ContrastiveConfig, train_contrastive

__all__ = ["METHODS", "Representation", "PoolRepresentation", "StandardizedRaw", "default_contrastive_config",
           "embed_pool", "one_copy", "representation_key"]

METHODS = ("contrastive", "frozen", "pca")

STREAM_CHECKPOINT_S = 30.0
"""A streamed pass (a pretrained trunk at 224 px: 24 images a second on one core here) saves the
rows done so far this often, so a kernel killed half-way through a 10,000-photo pass resumes."""

_BUILD_LOCKS: Dict[str, threading.Lock] = {}
_BUILD_LOCKS_GUARD = threading.Lock()


def _build_lock(cache: RepresentationCache) -> Optional[threading.Lock]:
    """The process-wide lock of ``cache``'s file (``None`` without a cache folder).

    Two learners on the same pool and settings in one kernel (the quickstart's session and its
    random-selection baseline) would otherwise build the same representation at the same time:
    twice the work on the same cores and, for a 224 px pass, twice its memory. Under this lock the
    second waits for the first and then loads the file it wrote."""
    if cache.path is None:
        return None
    key = str(cache.path.resolve())
    with _BUILD_LOCKS_GUARD:
        return _BUILD_LOCKS.setdefault(key, threading.Lock())


#: The most optimiser steps :func:`default_contrastive_config` gives any pool. Chosen on the
#: Fashion-MNIST development split (BENCHMARKS.md, "A longer self-supervised run"): a linear probe
#: on 320 labels gained 2 points from 600 to 2,400 steps on each seed measured.
MAX_CONTRASTIVE_STEPS = 2400


def default_contrastive_config(n_items: int, **overrides: Any) -> ContrastiveConfig:
    """The default self-supervised budget for a pool of ``n_items``: 40 passes over the pool,
    at least 100 and at most :data:`MAX_CONTRASTIVE_STEPS` steps of 128 images (two views each).
    At 28 px one step of the default trunk takes about 0.19 s on one core here (bfloat16; twice
    that in float32), so a pool of 7,680 items or more (2,400 steps) takes about 7.5 minutes of
    one core, in the background: the pixels' PCA is in use meanwhile. See BENCHMARKS.md."""
    bs = int(overrides.get("batch_size", ContrastiveConfig.batch_size))
    steps = int(min(MAX_CONTRASTIVE_STEPS, max(100, np.ceil(40 * n_items / bs))))
    return ContrastiveConfig(**dict(dict(steps=steps), **overrides))


@dataclass
class Representation:
    """A finished representation of a pool.

    Attributes
    ----------
    trunk : nn.Module
        The (self-supervised or pretrained) trunk, eval mode, frozen.
    raw_N_D : torch.Tensor or StandardizedRaw
        The trunk's features of every pool item (rows of zeros for unreadable images); for a pool
        whose features the memory plan cannot hold twice, a :class:`StandardizedRaw` that gives
        them back from ``features_N_D`` row by row (one copy of the features in memory).
    norm : nn.Module
        Maps raw features to standardised ones (per-dimension zero mean, unit variance): a
        :class:`~alwidget.model.features.Standardize`, or for the slow cycle's adapted pretrained
        features an :class:`~alwidget.representation.adapt.AdaptedNorm` (standardise, then adapt).
    features_N_D : torch.Tensor
        ``norm(raw_N_D)``: what heads are trained on.
    seconds : float
        Wall time spent building it in this session (0 when loaded from the cache).
    from_cache : bool
    """

    trunk: nn.Module
    raw_N_D: torch.Tensor
    norm: nn.Module
    features_N_D: torch.Tensor
    seconds: float = 0.0
    from_cache: bool = False

    def graph_features(self) -> np.ndarray:
        """L2-normalised raw features ``[N, D]`` (float32): the space the kNN graph is built in
        (contrastive training makes cosine similarity the meaningful one). For adapted features
        (an ``norm`` with ``out_features``, which the trunk's raw features share with the frozen
        representation) the adapted ones."""
        adapted = getattr(self.norm, "out_features", None) is not None
        if isinstance(self.raw_N_D, StandardizedRaw) and not adapted:
            return self.raw_N_D.unit_rows()
        x = (self.features_N_D if adapted else self.raw_N_D).numpy().astype(np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class StandardizedRaw:
    """A trunk's raw features ``[N, D]`` given back from their standardised copy
    (``features × std + mean``), row by row: for pools where two copies do not fit the memory plan
    (at 1,000,000 items and 128 dimensions each copy is 512 MB).

    Indexing (``raw[idx]``) returns those rows as a float32 tensor; :meth:`numpy` every row;
    :meth:`unit_rows` the L2-normalised rows the kNN graph is built on, one output array.

    Parameters
    ----------
    features_N_D : torch.Tensor
        The standardised features (float32).
    norm : Standardize
        The standardisation that made them (its ``mean`` and ``std``, ``[D]``).
    chunk_rows : int
        Rows per chunk of :meth:`numpy` and :meth:`unit_rows`.
    """

    def __init__(self, features_N_D: torch.Tensor, norm: nn.Module, chunk_rows: int = 65536) -> None:
        self.features_N_D = features_N_D
        self.mean_D, self.std_D = norm.mean.detach(), norm.std.detach()
        self.shape = features_N_D.shape
        self.dtype = features_N_D.dtype
        self.chunk_rows = int(chunk_rows)

    def __len__(self) -> int:
        return int(self.shape[0])

    def __getitem__(self, idx) -> torch.Tensor:
        return self.features_N_D[idx] * self.std_D + self.mean_D

    def _rows(self, normalise: bool) -> np.ndarray:
        out = np.empty(tuple(self.shape), dtype=np.float32)
        for s in range(0, len(self), self.chunk_rows):
            x = self[s:s + self.chunk_rows].numpy()
            if normalise:
                x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
            out[s:s + len(x)] = x
        return out

    def numpy(self) -> np.ndarray:
        """Every raw row ``[N, D]`` (float32; a new array)."""
        return self._rows(False)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.numpy()
        return out if dtype is None else out.astype(dtype, copy=False)

    def unit_rows(self) -> np.ndarray:
        """The raw rows L2-normalised, ``[N, D]`` float32 (what :meth:`Representation.graph_features` gives)."""
        return self._rows(True)


def one_copy(raw_N_D: torch.Tensor, norm: nn.Module, failed=()) -> Tuple[StandardizedRaw, torch.Tensor]:
    """``(raw, features)`` holding one copy: ``raw_N_D`` standardised in place by ``norm`` (a
    :class:`~alwidget.model.features.Standardize`) becomes the features (the rows of ``failed``,
    unreadable images, zeros, as :func:`embed_pool` gives them), and the raw rows are given back
    from them (:class:`StandardizedRaw`). ``raw_N_D`` must not be used afterwards."""
    with torch.no_grad():
        feats = raw_N_D.sub_(norm.mean).div_(norm.std)
        if len(failed):
            feats[torch.as_tensor(sorted(failed), dtype=torch.long)] = 0.0
    return StandardizedRaw(feats, norm), feats


def embed_pool(trunk: nn.Module, tensors: PoolTensors, *, progress: Optional[ProgressCallback] = None,
               cancel: Optional[CancelToken] = None, step: str = "embed", engine=None, stream: bool = False,
               resume: Optional[Dict[str, Any]] = None, on_checkpoint: Optional[Callable[[Dict[str, Any]], None]] = None,
               checkpoint_every_s: float = STREAM_CHECKPOINT_S, standardize: bool = True):
    """``(raw_N_D, norm, features_N_D)``: the trunk's features of every pool item, the
    standardisation fitted on the readable ones, and the standardised features (rows of zeros for
    unreadable images; ``None`` with ``standardize=False``, for a caller that standardises the raw
    rows in place, :func:`one_copy`). ``engine`` (an :class:`~alwidget.engine.Engine` other than the local one,
    e.g. Ray) computes the features in chunks of ``tensors.chunk_rows`` on its workers.
    ``stream=True`` reads each chunk from the pool, embeds it and drops the images (nothing is
    kept in ``tensors``): for a trunk whose input size is too large to cache the pool at. A
    streamed pass is resumable: every ``checkpoint_every_s`` seconds ``on_checkpoint`` receives
    the rows done so far (``{"stream_rows": e, "stream_raw": [e, D], "failed": {...}}``), and
    ``resume`` (such a dict) skips them."""
    if engine is not None and getattr(engine, "name", "local") != "local":
        raw = _embed_on(engine, trunk, tensors, progress, cancel, step)
    elif stream:
        raw = _embed_streaming(trunk, tensors, progress, cancel, step, resume, on_checkpoint, checkpoint_every_s)
    else:
        raw = compute_features(trunk, tensors, range(len(tensors.pool)), progress=progress, cancel=cancel, step=step)
    failed = sorted(tensors.failed)
    ok = np.setdiff1d(np.arange(len(raw)), np.asarray(failed, dtype=np.int64))
    norm = Standardize.fit(raw[torch.as_tensor(ok)] if 0 < len(ok) < len(raw) else raw)  # no copy when all read
    if not standardize:
        return raw, norm, None
    with torch.no_grad():
        feats = norm(raw)
        if failed:
            feats[torch.as_tensor(failed)] = 0.0
    return raw, norm, feats


def _embed_streaming(trunk: nn.Module, tensors: PoolTensors, progress, cancel, step: str,
                     resume: Optional[Dict[str, Any]] = None,
                     on_checkpoint: Optional[Callable[[Dict[str, Any]], None]] = None,
                     checkpoint_every_s: float = STREAM_CHECKPOINT_S) -> torch.Tensor:
    """Raw features ``[N, D]``: each chunk of ``tensors.chunk_rows`` rows is read from the pool,
    resized, embedded and dropped; unreadable images are recorded in ``tensors.failed``. Rows
    before ``resume["stream_rows"]`` come from ``resume`` (a checkpoint of an interrupted pass)."""
    from ..engine import EmbedTask, chunk_ranges

    n = len(tensors.pool)
    task = EmbedTask.of(trunk, tensors)
    raw: Optional[torch.Tensor] = None
    done = 0
    if resume is not None and 0 < int(resume.get("stream_rows", 0)) <= n:
        done = int(resume["stream_rows"])
        kept = resume["stream_raw"]
        raw = torch.zeros((n, kept.shape[1]), dtype=torch.float32)
        raw[:done] = kept[:done]
        tensors.failed.update({int(k): v for k, v in resume.get("failed", {}).items()})
    last = time.monotonic()
    for _, s, e in chunk_ranges(n, tensors.chunk_rows):
        if e <= done:  # embedded before the interruption
            continue
        s = max(s, done)
        report(progress, step, s / max(1, n))
        result = task(s, e, cancel=cancel)
        feats = torch.from_numpy(result["features"])
        if raw is None:
            raw = torch.zeros((n, feats.shape[1]), dtype=torch.float32)
        raw[s:e] = feats
        tensors.failed.update({int(k): v for k, v in result["failed"].items()})
        if on_checkpoint is not None and e < n and time.monotonic() - last >= checkpoint_every_s:
            on_checkpoint({"stream_rows": e, "stream_raw": raw[:e].clone(),
                           "failed": {int(k): v for k, v in tensors.failed.items()}})
            last = time.monotonic()
    report(progress, step, 1.0)
    return raw if raw is not None else torch.zeros((0, 0))


def _embed_on(engine, trunk: nn.Module, tensors: PoolTensors, progress, cancel, step: str) -> torch.Tensor:
    """Raw features ``[N, D]`` of the pool computed chunk by chunk on ``engine``'s workers."""
    from ..engine import EmbedTask, chunk_ranges

    n = len(tensors.pool)
    ranges = chunk_ranges(n, tensors.chunk_rows)
    raw: Optional[torch.Tensor] = None
    for chunk, result in engine.map_rows(EmbedTask.of(trunk, tensors), ranges, progress=progress, cancel=cancel,
                                         step=step):
        _, s, e = ranges[chunk]
        feats = torch.from_numpy(result["features"])
        if raw is None:
            raw = torch.zeros((n, feats.shape[1]), dtype=torch.float32)
        raw[s:e] = feats
        tensors.failed.update({int(k): v for k, v in result["failed"].items()})
    return raw if raw is not None else torch.zeros((0, 0))


class PoolRepresentation:
    """Builds (once, in the background) and holds the representation of one pool.

    Parameters
    ----------
    tensors : PoolTensors
        The pool's model inputs.
    trunk : nn.Module
        The starting trunk (freshly initialised from the seed, pretrained, or the user's).
    num_features : int
        ``D``.
    method : {"contrastive", "frozen", "pca"}
    config : ContrastiveConfig, optional
        For ``"contrastive"`` (default: :func:`default_contrastive_config`).
    cache : RepresentationCache
    seed : int
        Seeds batches, views and the projection head.
    num_threads : int, optional
        torch threads while building.
    name : str, optional
        What reports call it (``"pretrained"``, ``"contrastive"``, ``"pca"``; default ``method``).
    stream : bool
        Embed the pool chunk by chunk without caching the resized images (see :func:`embed_pool`).
    keep_raw : bool
        Hold the raw features beside the standardised ones (two copies); ``False`` (pools whose
        features the memory plan cannot hold in memory) holds one: see :func:`one_copy`.
    """

    def __init__(self, tensors: PoolTensors, trunk: nn.Module, num_features: int, *, method: str,
                 cache: RepresentationCache, seed: int, config: Optional[ContrastiveConfig] = None,
                 num_threads: Optional[int] = None, engine=None, name: Optional[str] = None,
                 stream: bool = False, keep_raw: bool = True) -> None:
        if method not in METHODS:
            raise ValueError(f"representation method must be one of {METHODS}, got {method!r}")
        self.tensors = tensors
        self._initial = trunk
        self.num_features = int(num_features)
        self.method = method
        self.name = name or method
        self.stream = bool(stream)
        self.keep_raw = bool(keep_raw)
        self.config = config or default_contrastive_config(len(tensors.pool))
        self.cache = cache
        self.seed = int(seed)
        self.num_threads = num_threads
        self.engine = engine
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._token = CancelToken()
        self._result: Optional[Representation] = None
        self._error: Optional[BaseException] = None
        self.step, self.fraction = "pending", 0.0
        self.callbacks: List[ProgressCallback] = []

    # ------------------------------------------------------------------ state
    @property
    def ready(self) -> bool:
        """Whether the representation is built (or loaded)."""
        return self._result is not None

    @property
    def running(self) -> bool:
        """Whether the background build is under way."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def error(self) -> Optional[BaseException]:
        """The exception of the last build attempt (cancellation included), if it failed."""
        return self._error

    def status(self) -> str:
        """One line for a person: what the representation is doing."""
        if self._result is not None:
            src = "loaded from the cache" if self._result.from_cache else f"built in {self._result.seconds:.0f} s"
            return f"representation ready ({self.name}, {src})"
        if self._error is not None and not self.running:
            if isinstance(self._error, CycleCancelled):
                return "representation cancelled; it resumes at the next cycle"
            return f"representation failed: {type(self._error).__name__}: {self._error}"
        if self.running and self.step == "wait":
            return f"waiting for another learner's build of the same representation ({self.name})"
        if self.running:
            return f"learning the pool's representation: {self.step} {100 * self.fraction:.0f} %"
        return "representation not started"

    def _progress(self, step: str, fraction: float) -> None:
        self.step, self.fraction = step, float(fraction)
        for cb in list(self.callbacks):
            try:
                cb(step, fraction)
            except Exception:  # a broken display must not break the build
                pass

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start building in a background thread (no-op when ready or already running; a failed
        or cancelled build is started again, resuming from its checkpoint)."""
        with self._lock:
            if self._result is not None or self.running:
                return
            if exiting():  # no new build while the interpreter exits: a waiter sees it cancelled
                self._error = CycleCancelled("the interpreter is exiting")
                self._done.set()
                return
            self._error = None
            self._done.clear()
            self._token = CancelToken()
            self._thread = threading.Thread(target=self._run, name="alwidget-representation", daemon=True)
            self._thread.start()

    def cancel(self) -> bool:
        """Ask a running build to stop at its next batch; returns whether one was running."""
        if not self.running:
            return False
        self._token.cancel()
        return True

    def result(self, progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
               poll_s: float = 0.1) -> Representation:
        """Wait for the representation (starting it if needed) and return it.

        ``progress`` receives the build's progress while waiting; ``cancel`` stops the *wait*
        (raising :class:`~alwidget.progress.CycleCancelled`), not the build.

        Raises
        ------
        RuntimeError
            The build failed (the message says why); it is retried at the next call.
        """
        if self._result is not None:
            return self._result
        self.start()
        if progress is not None:
            self.callbacks.append(progress)
        try:
            while not self._done.wait(poll_s):
                if cancel is not None and cancel.cancelled:
                    raise CycleCancelled("the cycle was cancelled while the representation was being built")
        finally:
            if progress is not None and progress in self.callbacks:
                self.callbacks.remove(progress)
        if self._result is None:
            err = self._error
            if isinstance(err, CycleCancelled):
                raise CycleCancelled("the representation was cancelled; call retrain() again to resume it")
            raise RuntimeError(f"building the pool's representation failed ({type(err).__name__}: {err}); "
                               "the next cycle tries again") from err
        return self._result

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the current build ends (or ``timeout`` seconds); returns whether it ended."""
        return self._done.wait(timeout)

    # ------------------------------------------------------------------ the build
    def _run(self) -> None:
        before = torch.get_num_threads()
        try:
            if self.num_threads:
                torch.set_num_threads(int(self.num_threads))
            self._result = self.build(progress=self._progress, cancel=self._token)
            # the first query clusters the features: import scikit-learn's clustering now, not then
            import sklearn.cluster  # noqa: F401
            import sklearn.neighbors  # noqa: F401  # pyflakes: imported for its side effect
        except BaseException as exc:  # reported through result()/status(), never lost
            self._error = exc
        finally:
            if self.num_threads:
                torch.set_num_threads(before)
            release_free_memory()  # the build's buffers are free: hand their pages back
            self._done.set()

    def build(self, progress: Optional[ProgressCallback] = None,
              cancel: Optional[CancelToken] = None) -> Representation:
        """Build (or load) the representation on this thread and return it.

        When another :class:`PoolRepresentation` in this process is building the same cached
        representation, this one waits for it (``"wait"`` progress, cancellable) and loads its
        result instead of building it a second time."""
        lock = _build_lock(self.cache)
        if lock is None:
            return self._build(progress, cancel)
        if not lock.acquire(blocking=False):
            report(progress, "wait", 0.0)
            while not lock.acquire(timeout=0.2):
                if cancel is not None and cancel.cancelled:
                    raise CycleCancelled("cancelled while waiting for another learner's build of the same "
                                         "representation")
        try:
            return self._build(progress, cancel)
        finally:
            lock.release()

    def _build(self, progress: Optional[ProgressCallback], cancel: Optional[CancelToken]) -> Representation:
        saved = self.cache.load()
        if saved is not None:
            trunk = copy.deepcopy(self._initial)
            trunk.load_state_dict(saved["trunk"])
            for p in trunk.parameters():
                p.requires_grad_(False)
            from .adapt import norm_from_state  # adapt builds on this module

            norm = norm_from_state(saved["norm"])
            self.tensors.failed.update({int(k): v for k, v in saved.get("failed", {}).items()})
            raw = saved.pop("raw")
            if not self.keep_raw and isinstance(norm, Standardize):
                raw, feats = one_copy(raw, norm)
            else:
                with torch.no_grad():
                    feats = norm(raw)
            report(progress, "embed", 1.0)
            return Representation(trunk.eval(), raw, norm, feats, 0.0, True)
        t0 = time.perf_counter()
        trunk = copy.deepcopy(self._initial)
        if self.method == "contrastive":
            trunk = self._train(trunk, progress, cancel)
        elif self.method == "pca":
            from .pca import fit_pca

            trunk = fit_pca(trunk, self.tensors, self.seed, progress=progress, cancel=cancel)
        for p in trunk.parameters():
            p.requires_grad_(False)
        resume = self.cache.load_partial() if self.stream else None
        raw, norm, feats = embed_pool(trunk, self.tensors, progress=progress, cancel=cancel, step="embed",
                                       engine=self.engine, stream=self.stream,
                                       resume=resume if resume and "stream_rows" in resume else None,
                                       on_checkpoint=self.cache.save_partial if self.stream else None,
                                       checkpoint_every_s=STREAM_CHECKPOINT_S, standardize=self.keep_raw)
        self.cache.save({"trunk": trunk.state_dict(), "raw": raw, "norm": norm.state_dict(),
                         "failed": {int(k): v for k, v in self.tensors.failed.items()}})
        if feats is None:  # keep_raw=False: one copy, the raw rows standardised in place
            raw, feats = one_copy(raw, norm, self.tensors.failed)
        return Representation(trunk.eval(), raw, norm, feats, time.perf_counter() - t0, False)

    def _train(self, trunk: nn.Module, progress, cancel) -> nn.Module:
        tensors = self.tensors
        n = len(tensors.pool)
        report(progress, "load", 0.0)
        tensors.ensure(range(n), progress=progress, cancel=cancel)  # read every image once
        readable = np.flatnonzero(tensors.ok(range(n)))
        if len(readable) < 2:
            raise ValueError("fewer than two readable images: nothing to learn a representation from")
        resume = self.cache.load_partial()
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, 11]).generate_state(1)[0]))

        def batch_of(idx: np.ndarray) -> torch.Tensor:
            return tensors.raw_batch(readable[idx])

        def normalize(x: torch.Tensor) -> torch.Tensor:
            return (x - tensors.mean) / tensors.std

        # never torch's global generator: this runs beside the cycle thread, which seeds and draws from it
        init = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, 12]).generate_state(1)[0]))
        return train_contrastive(trunk, len(readable), batch_of, normalize, self.num_features, self.config,
                                 generator=gen, init_generator=init, resume=resume,
                                 on_checkpoint=self.cache.save_partial, progress=progress, cancel=cancel)


def representation_key(*, pool_fingerprint: str, backbone: str, weights: str, image_size: int, in_chans: int,
                       method: str, config: Optional[ContrastiveConfig], seed: int) -> Dict[str, Any]:
    """Everything a representation depends on, as the cache key."""
    return {"pool": pool_fingerprint, "backbone": backbone, "weights": weights, "image_size": int(image_size),
            "in_chans": int(in_chans), "method": method,
            "config": config.to_dict() if (config is not None and method == "contrastive") else None,
            "seed": int(seed) if method in ("contrastive", "pca") else None}

