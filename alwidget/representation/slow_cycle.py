"""When and where the slow cycle runs, and what it leaves behind.

The slow cycle (:func:`~alwidget.representation.refine.refine_representation`) fine-tunes a
copy of the pool's trunk on the labels plus confident pseudo-labels and re-embeds the pool.
:class:`SlowCycle` decides when it is due (every ``every`` new training labels), runs it on its
own thread (``"background"``: the fast cycles go on with the previous representation) or on the
caller's (``"inline"``: reproducible), keeps the latest result, and says in one line what it did.
A failure or a cancel keeps the previous representation.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from .._memory import release_free_memory
from .._shutdown import exiting
from .._threads import torch_threads
from ..data.tensors import PoolTensors
from ..progress import CancelToken, CycleCancelled, ProgressCallback
from .adapt import AdaptConfig, adapt_representation
from .builder import PoolRepresentation, Representation
from .refine import RefineConfig, refine_representation

__all__ = ["SlowCycle", "SlowCycles", "WHERE", "KINDS"]

ADAPTED_NAME = "pretrained+adapted"
"""The name the adapted pretrained features take among the candidates."""

KINDS = ("finetune", "adapt")
"""What a slow cycle does: fine-tune the trunk learned here and re-embed the pool
(:func:`~alwidget.representation.refine.refine_representation`), or adapt a frozen pretrained
trunk's features with a residual block (:func:`~alwidget.representation.adapt.adapt_representation`)."""

WHERE = ("background", "inline")
"""Where a due slow cycle runs."""


def _checked_every(every: Optional[int]) -> Optional[int]:
    if every is not None and int(every) < 1:
        raise ValueError(f"refine_every must be a positive number of labels or None, got {every}")
    return None if every is None else int(every)


def _checked_where(where: str) -> str:
    if where not in WHERE:
        raise ValueError(f"slow_cycle must be 'background' or 'inline', got {where!r}")
    return where


class SlowCycle:
    """The slow cycle of one learner.

    Parameters
    ----------
    base : PoolRepresentation
        The representation every slow cycle starts from: the pool's self-supervised one
        (``kind="finetune"``) or the pretrained one (``kind="adapt"``).
    tensors : PoolTensors
        The pool's model inputs.
    n_classes : int
        ``C``.
    config : RefineConfig or AdaptConfig
        As ``kind`` needs.
    every : int, optional
        Due after this many new training labels since the last one; ``None``: only on demand.
    where : {"background", "inline"}
    num_threads : int, optional
        torch threads of a background run.
    kind : {"finetune", "adapt"}
        See :data:`KINDS`.
    """

    def __init__(self, base: PoolRepresentation, tensors: PoolTensors, n_classes: int,
                 config: Union[RefineConfig, AdaptConfig], *, every: Optional[int], where: str = "background",
                 num_threads: Optional[int] = None, engine=None, kind: str = "finetune") -> None:
        if kind not in KINDS:
            raise ValueError(f"a slow cycle's kind must be one of {KINDS}, got {kind!r}")
        self.every, self.where = _checked_every(every), _checked_where(where)
        self.base = base
        self.tensors = tensors
        self.n_classes = int(n_classes)
        self.config = config
        self.kind = kind
        self.num_threads = num_threads
        self.engine = engine
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._token = CancelToken()
        self._result: Optional[Representation] = None
        self._labels = 0
        self.status = "pretrained features not adapted yet" if kind == "adapt" else "slow cycle not run yet"
        """One line: what the slow cycle did last (or why it failed)."""

    @property
    def result(self) -> Optional[Representation]:
        """The latest refined representation (``None`` before the first slow cycle ends)."""
        return self._result

    @property
    def labels(self) -> int:
        """Training labels the latest refined representation was fine-tuned on (0: none yet)."""
        return self._labels

    @property
    def running(self) -> bool:
        """Whether a background slow cycle is under way."""
        return self._thread is not None and self._thread.is_alive()

    def due(self, n_labels: int) -> bool:
        """Whether ``n_labels`` training labels call for a slow cycle (``every`` new ones since the last)."""
        return self.every is not None and n_labels - self._labels >= self.every

    def run(self, positions_L: np.ndarray, y_L: np.ndarray, *, n_labels: int, n_pseudo: int, seed: int,
            progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> Representation:
        """Run a slow cycle on this thread and keep its result.

        ``positions_L`` / ``y_L`` are what it trains on: the ``n_labels`` training labels and
        ``n_pseudo`` pseudo-labels (for the status line)."""
        base = self.base.result()
        t0 = time.perf_counter()
        if self.kind == "adapt":
            refined = adapt_representation(base, positions_L, y_L, self.n_classes, self.config, seed=seed,
                                           progress=progress, cancel=cancel)
        else:
            refined = refine_representation(base, self.tensors, positions_L, y_L, self.n_classes, self.config,
                                            seed=seed, progress=progress, cancel=cancel, engine=self.engine)
        with self._lock:
            if n_labels < self._labels:  # a run on more labels ended meanwhile: it stays in use
                return refined
            self._result, self._labels = refined, int(n_labels)
        what = "adapted the pretrained features" if self.kind == "adapt" else "slow cycle done"
        self.status = (f"{what} on {n_labels} labels + {n_pseudo} pseudo-labels "
                       f"in {time.perf_counter() - t0:.0f} s")
        return refined

    def latest(self) -> Tuple[Optional[Representation], int]:
        """``(result, labels)`` read together (a background run may replace both meanwhile)."""
        with self._lock:
            return self._result, self._labels

    def start(self, positions_L: np.ndarray, y_L: np.ndarray, *, n_labels: int, n_pseudo: int, seed: int,
              progress: Optional[ProgressCallback] = None, num_threads: Optional[int] = None) -> bool:
        """Start a slow cycle on its own thread (``num_threads`` torch threads, default
        :attr:`num_threads`); returns ``False`` (and does nothing) while one runs.

        It draws no random number from torch's global generator (the cycle thread seeds and
        draws from that), except what a trunk with dropout layers of its own draws: such a
        background run is not reproducible; ``where="inline"`` runs are."""
        threads = self.num_threads if num_threads is None else num_threads
        with self._lock:
            if self.running or exiting():
                return False
            self._token = token = CancelToken()

            def work() -> None:
                try:
                    with torch_threads(threads):
                        self.run(positions_L, y_L, n_labels=n_labels, n_pseudo=n_pseudo, seed=seed,
                                 progress=progress, cancel=token)
                except CycleCancelled:
                    self.status = "slow cycle cancelled; the previous representation stays in use"
                except Exception as exc:  # the fast cycle goes on with the previous representation
                    self.status = (f"slow cycle failed ({type(exc).__name__}: {exc}); the previous "
                                   "representation stays in use")
                finally:
                    release_free_memory()  # the fine-tuning's buffers are free: hand their pages back

            self.status = (f"adapting the pretrained features on {n_labels} labels" if self.kind == "adapt"
                           else f"slow cycle running on {n_labels} labels")
            self._thread = threading.Thread(target=work, name="alwidget-refine", daemon=True)
            self._thread.start()
            return True

    def cancel(self, wait: Optional[float] = None) -> bool:
        """Ask a background slow cycle to stop (and wait up to ``wait`` s); returns whether one ran."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return False
        self._token.cancel()
        if wait is not None:
            thread.join(wait)
        return True


class SlowCycles:
    """A learner's slow cycles: the fine-tuning of the trunk learned from the pool (``trunk``)
    and the adapter of the pretrained features (``adapt``), each ``None`` when the learner has
    no such representation; with their shared settings and the rule that picks which one runs.

    Parameters
    ----------
    every : int, optional
        Training labels between slow cycles (``None``: only on demand); settable.
    where : {"background", "inline"}
        Where a due slow cycle runs; settable.
    num_threads : int
        torch threads of a background run.
    notify : callable, optional
        ``notify(step, fraction)``: a background run's progress.
    """

    def __init__(self, *, every: Optional[int], where: str, num_threads: int = 1,
                 notify: Optional[ProgressCallback] = None) -> None:
        self.trunk: Optional[SlowCycle] = None
        """Fine-tunes the trunk learned here (its results are ``"<name>+refined"``)."""
        self.adapt: Optional[SlowCycle] = None
        """Adapts the pretrained features (its results are ``"pretrained+adapted"``)."""
        self.num_threads = int(num_threads)
        self.notify = notify
        self.every, self.where = every, where  # the setters validate them

    @property
    def cycles(self) -> List[SlowCycle]:
        """The slow cycles there are."""
        return [c for c in (self.trunk, self.adapt) if c is not None]

    @property
    def every(self) -> Optional[int]:
        """Training labels between slow cycles (``None``: only on demand)."""
        return self._every

    @every.setter
    def every(self, value: Optional[int]) -> None:
        self._every = _checked_every(value)
        for cycle in self.cycles:
            cycle.every = self._every

    @property
    def where(self) -> str:
        """``"background"`` or ``"inline"``."""
        return self._where

    @where.setter
    def where(self, value: str) -> None:
        self._where = _checked_where(value)
        for cycle in self.cycles:
            cycle.where = value

    @property
    def running(self) -> bool:
        """Whether a background slow cycle is running."""
        return any(c.running for c in self.cycles)

    @property
    def status(self) -> str:
        """One line: what the slow cycle(s) did last (or why one failed)."""
        return "no slow cycle in this mode" if not self.cycles else "; ".join(c.status for c in self.cycles)

    def results(self, own_name: Optional[str]) -> Dict[str, Tuple[str, Representation, int]]:
        """``{candidate it replaces: (name, representation, labels it saw)}`` for the latest results:
        the refined trunk as ``"<own_name>+refined"``, the adapted features as ``"pretrained+adapted"``."""
        out: Dict[str, Tuple[str, Representation, int]] = {}
        if self.trunk is not None and own_name is not None:
            rep, n = self.trunk.latest()
            if rep is not None:
                out[own_name] = (f"{own_name}+refined", rep, n)
        if self.adapt is not None:
            rep, n = self.adapt.latest()
            if rep is not None:
                out["pretrained"] = (ADAPTED_NAME, rep, n)
        return out

    def run_trunk(self, positions_L: np.ndarray, y_L: np.ndarray, *, n_labels: int, n_pseudo: int, seed: int,
                  progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> Representation:
        """The trunk's slow cycle on this thread, with torch's global generator seeded too (a
        trunk with dropout of its own draws from it; a background run cannot seed it)."""
        if self.trunk is None:
            raise RuntimeError("refine() fine-tunes the trunk learned from the pool; this learner has none "
                               "(representation='pca' or 'pretrained')")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.trunk.run(positions_L, y_L, n_labels=n_labels, n_pseudo=n_pseudo, seed=seed,
                                  progress=progress, cancel=cancel)

    def step(self, chosen: Optional[str], own_name: Optional[str], n_labels: int,
             trunk_set: Callable[[], Tuple[np.ndarray, np.ndarray, int]], labels: Tuple[np.ndarray, np.ndarray], *,
             seeds: Tuple[int, int], progress: Optional[ProgressCallback] = None,
             cancel: Optional[CancelToken] = None) -> None:
        """Run (inline) or start (background) the slow cycle that is due, and only for the
        representation the labels chose (``chosen``, its base name): the adapter while they choose
        ``"pretrained"``, the trunk's fine-tuning while they choose ``own_name`` (or have not
        chosen yet). Refining a representation the labels do not use would spend the CPU for nothing.

        ``labels`` are the training labels (positions ``[L]``, classes ``[L]``; ``n_labels`` = L);
        ``trunk_set()`` gives the fine-tuning's training set ``(positions, classes, n_pseudo)``
        (labels plus pseudo-labels), computed only when that cycle runs. ``seeds``: the adapter's
        and the fine-tuning's.
        """
        pos_l, y_l = labels
        adapt = self.adapt
        if adapt is not None and chosen == "pretrained" and adapt.due(n_labels) and not adapt.running:
            # the labels alone: in an exploratory check on the emoji development split (a script not
            # kept), adding the fast cycle's pseudo-labels did not help the adapter
            kw = dict(n_labels=n_labels, n_pseudo=0, seed=seeds[0])
            if adapt.where == "inline":
                adapt.run(pos_l, y_l, progress=progress, cancel=cancel, **kw)
            else:
                adapt.start(pos_l, y_l, progress=self.notify, num_threads=self.num_threads, **kw)
        trunk = self.trunk
        if trunk is None or not trunk.due(n_labels) or trunk.running:
            return
        if chosen is not None and chosen != own_name:
            return
        pos, y, n_pseudo = trunk_set()
        if trunk.where == "inline":
            self.run_trunk(pos, y, n_labels=n_labels, n_pseudo=n_pseudo, seed=seeds[1], progress=progress,
                           cancel=cancel)
        else:
            trunk.start(pos, y, n_labels=n_labels, n_pseudo=n_pseudo, seed=seeds[1], progress=self.notify,
                        num_threads=self.num_threads)

    def cancel(self, wait: Optional[float] = None) -> None:
        """Cancel both (waiting up to ``wait`` seconds for each)."""
        for cycle in self.cycles:
            cycle.cancel(wait=wait)
