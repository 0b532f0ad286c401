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
from typing import Optional, Tuple, Union

import numpy as np

from .._memory import release_free_memory
from .._shutdown import exiting
from .._threads import torch_threads
from ..model.preprocess import PoolTensors
from ..progress import CancelToken, CycleCancelled, ProgressCallback
from .adapt import AdaptConfig, adapt_representation
from .builder import PoolRepresentation, Representation
from .refine import RefineConfig, refine_representation

__all__ = ["SlowCycle", "WHERE", "KINDS"]

KINDS = ("finetune", "adapt")
"""What a slow cycle does: fine-tune the trunk learned here and re-embed the pool
(:func:`~alwidget.representation.refine.refine_representation`), or adapt a frozen pretrained
trunk's features with a residual block (:func:`~alwidget.representation.adapt.adapt_representation`)."""

WHERE = ("background", "inline")
"""Where a due slow cycle runs."""


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
        if where not in WHERE:
            raise ValueError(f"slow_cycle must be 'background' or 'inline', got {where!r}")
        if every is not None and int(every) < 1:
            raise ValueError(f"refine_every must be a positive number of labels or None, got {every}")
        self.base = base
        self.tensors = tensors
        self.n_classes = int(n_classes)
        self.config = config
        self.kind = kind
        self.every = None if every is None else int(every)
        self.where = where
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
