"""Which representation the labels choose, and the kNN graph of each candidate (``semi`` mode).

:class:`RepresentationJudge` keeps what the choice needs between cycles: the candidates' kNN
graphs (built once per representation, ahead of the first cycle when possible), the current
choice and the labels it was made on, and a judgement running in the background for a large
pool. The choice itself (graph classifiers cross-validated on the labels) is computed by
:func:`alwidget.semi.choice.choose_representation`; the learner asks :meth:`RepresentationJudge.judge`
once per cycle and uses what it answers for the whole cycle.
"""

from __future__ import annotations

import threading
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from ._shutdown import exiting
from .representation import Representation
from .representation.slow_cycle import ADAPTED_NAME
from .semi import DEFAULT_K, KNNGraph, knn_graph
from .semi.choice import NEAR_DUPLICATE_COS, RepresentationChoice, choose_representation, without_near_copies

__all__ = ["RepresentationJudge", "REJUDGE_GROWTH", "JUDGE_INLINE_UP_TO"]

NEAR_COPY_FILTER = True
"""Judge the adapted features without the validation labels that are near-copies of training
labels (:func:`~alwidget.semi.choice.without_near_copies`)."""

REJUDGE_GROWTH = 1.2
"""The labels judge the candidates again once they have grown by this factor (or a candidate
arrived): cross-validation costs a few graph solves per candidate."""

JUDGE_INLINE_UP_TO = 5_000
"""Pools up to this many items are judged inside the cycle; larger ones on the "alwidget-judge"
thread after it (in background mode), so that the person does not wait for the judgement: a
judgement of two or three candidates took 4-5 s of a 10,000-image cycle and 30 s of a
60,000-image one here (BENCHMARKS.md), about a second at 2,000."""

Progress = Callable[[str, float], None]


def _quiet(step: str, fraction: float) -> None:
    pass


class RepresentationJudge:
    """The labels' choice among candidate representations, and their kNN graphs.

    Parameters
    ----------
    n_classes : int
        ``C``.
    propagation : {"poisson", "laplace"}
        How the judged graph classifiers spread labels.
    seed : int
        The folds' seed.
    alive : callable
        Returns the representations that are still candidates (``{name: Representation}``); the
        graphs of the others are dropped when a new one is built.
    lock : threading.RLock
        The learner's lock (guards the background judgement's start).
    max_graphs : int, optional
        How many kNN graphs may be held at once (the memory plan's
        :attr:`~alwidget.data.budget.MemoryPlan.graphs_in_memory`; ``None``: no bound). The
        candidates that get a graph first keep it while they are candidates; the others are judged,
        and learned on, with the linear classifier only.
    """

    def __init__(self, n_classes: int, *, propagation: str, seed: int,
                 alive: Callable[[], Dict[str, Representation]], lock: threading.RLock,
                 max_graphs: Optional[int] = None) -> None:
        if max_graphs is not None and int(max_graphs) < 0:
            raise ValueError(f"max_graphs must be ≥ 0 or None, got {max_graphs}")
        self.n_classes = int(n_classes)
        self.propagation = propagation
        self.seed = int(seed)
        self.max_graphs = None if max_graphs is None else int(max_graphs)
        self._alive = alive
        self._lock = lock
        self.graphs: Dict[int, Tuple[Representation, KNNGraph]] = {}
        """``id(representation) -> (representation, graph)`` for the candidates' graphs built so far."""
        self._graph_lock = threading.Lock()  # one build per graph, by the cycle or ahead of it
        self.choice: Optional[RepresentationChoice] = None
        """The latest choice (``None`` before the first judgement)."""
        self._judged: Tuple[int, Tuple[str, ...]] = (0, ())  # how many labels, which candidates
        self.thread: Optional[threading.Thread] = None
        """The background judgement ("alwidget-judge"), if one was started."""
        self._verdict: Optional[Tuple[RepresentationChoice, Tuple[int, Tuple[str, ...]]]] = None
        self._due: Optional[tuple] = None

    @property
    def chosen_base(self) -> Optional[str]:
        """The candidate the latest choice stems from (``"contrastive"`` for
        ``"contrastive+refined"``), or ``None`` before the first choice."""
        return None if self.choice is None else self.choice.name.split("+")[0]

    # ------------------------------------------------------------------ graphs
    def graph(self, rep: Representation, n_items: int, prog: Progress = _quiet) -> Optional[KNNGraph]:
        """The kNN graph of ``rep``'s features (built once per representation and kept while it is
        a candidate); ``None`` for a pool of fewer than 4 items, or when :attr:`max_graphs` graphs
        of other candidates are held already."""
        if n_items < 4:
            return None
        with self._graph_lock:  # a build ahead of the cycle (see ahead) is waited for, not repeated
            hit = self.graphs.get(id(rep))
            if hit is not None and hit[0] is rep:
                return hit[1]
            alive = {id(r) for r in self._alive().values()} | {id(rep)}
            self.graphs = {k: v for k, v in self.graphs.items() if k in alive}
            if self.max_graphs is not None and len(self.graphs) >= self.max_graphs:
                return None  # the memory plan holds no more graphs: this candidate is linear only
            prog("graph", 0.0)
            graph = knn_graph(rep.graph_features(), k=min(DEFAULT_K, n_items - 2))
            self.graphs[id(rep)] = (rep, graph)
            prog("graph", 1.0)
            return graph

    def ahead(self, rep: Representation, n_items: int) -> None:
        """Build ``rep``'s graph and Poisson system now (on the representations' build thread, as
        each candidate is ready), so that the first cycle, which judges every candidate on its
        graph, does not build them while the person waits."""
        if exiting():
            return
        graph = self.graph(rep, n_items)
        if graph is not None:
            graph.poisson()

    # ------------------------------------------------------------------ the choice
    def judge(self, reps: Dict[str, Representation], pos: np.ndarray, y: np.ndarray, scored: Optional[np.ndarray],
              *, n_items: int, inline: bool, prior_C: Optional[np.ndarray], prog: Progress = _quiet
              ) -> RepresentationChoice:
        """Let the labels (positions ``pos`` ``[L]``, classes ``y`` ``[L]``; ``scored`` ``[L]`` the
        ones scored, ``None`` for all) choose among ``reps``; the choice is kept until a candidate
        arrives or the labels grow by :data:`REJUDGE_GROWTH`.

        ``inline=False`` with two or more candidates and a pool of more than
        :data:`JUDGE_INLINE_UP_TO` items defers the judgement to :meth:`start_due` (after the
        cycle, so that the two do not share the cores): the cycle goes on with the current choice
        (before the first: the first candidate at hand, marked provisional) and the next cycle
        takes the verdict.
        """
        verdict = self._verdict
        if verdict is not None:  # adopted by the cycle thread only: one choice for a whole cycle
            self._verdict = None
            self.choice, self._judged = verdict
        names = tuple(reps)
        last_n, last_names = self._judged
        if (self.choice is not None and not self.choice.provisional and self.choice.name in reps
                and names == last_names and len(pos) < REJUDGE_GROWTH * max(1, last_n)):
            return self.choice
        if inline or len(reps) < 2 or len(pos) < 2 or n_items <= JUDGE_INLINE_UP_TO:
            choice = self.now(reps, pos, y, scored, n_items=n_items, prior_C=prior_C, prog=prog)
            self.choice, self._judged = choice, (len(pos), names)
            return choice
        self._due = (reps, pos, y, scored, n_items, prior_C)
        if self.choice is not None and self.choice.name in reps:
            return self.choice
        first = next(iter(reps))
        self.choice = RepresentationChoice(first, {}, f"{first}: in use while the labels judge {', '.join(reps)} "
                                           "in the background", provisional=True)
        return self.choice

    def start_due(self) -> None:
        """Start the judgement :meth:`judge` deferred, on the "alwidget-judge" thread (no-op when
        none is due, while one runs, or while the interpreter exits); its verdict waits for the
        next :meth:`judge`."""
        due, self._due = self._due, None
        if due is None:
            return
        reps, pos, y, scored, n_items, prior_C = due
        with self._lock:
            if (self.thread is not None and self.thread.is_alive()) or exiting():
                return
            names = tuple(reps)

            def work() -> None:
                try:
                    choice = self.now(reps, pos, y, scored, n_items=n_items, prior_C=prior_C)
                except Exception:  # the cycle judges again when labels or candidates change
                    return
                self._verdict = (choice, (len(pos), names))

            self.thread = threading.Thread(target=work, name="alwidget-judge", daemon=True)
            self.thread.start()

    def now(self, reps: Dict[str, Representation], pos: np.ndarray, y: np.ndarray, scored: Optional[np.ndarray], *,
            n_items: int, prior_C: Optional[np.ndarray], prog: Progress = _quiet) -> RepresentationChoice:
        """The labels' choice among ``reps``, computed on this thread."""
        order = list(reps)
        if len(reps) < 2 or len(pos) < 2:
            return choose_representation({n: None for n in order}, pos, y, self.n_classes, order=order,
                                         scored_L=scored)
        if n_items < 4:
            return RepresentationChoice(order[0], {}, f"{order[0]}: the pool is too small for a graph")
        # None for a candidate the memory plan holds no graph for: judged by its linear probe only
        graphs = {name: self.graph(rep, n_items, prog) for name, rep in reps.items()}
        prior = prior_C if prior_C is not None and len(prior_C) == self.n_classes else None
        prog("choose representation", 0.0)
        incumbent = self.choice if self.choice is not None and not self.choice.provisional else None
        current = f"{incumbent.name} {incumbent.classifier}" if incumbent else None
        if incumbent is not None:
            # the fine-tuned trunk succeeds the trunk it started from: it is the incumbent, kept
            # unless another is better by more than the noise (the judge's folds of 100 validation
            # labels rarely show what fine-tuning on every training label adds; on the
            # Fashion-MNIST development split holding on to the frozen trunk instead left the
            # default at 74.5 % with 320 labels, against 80.6 %). The adapted pretrained features
            # are not: they must win (on the emoji development split a fresh adapter, made the
            # incumbent, cost 5-7 points on held-out emoji twice in ten cycles)
            base = incumbent.name.split("+")[0]
            successor = next((n for n in reps if n == f"{base}+refined"), None)
            if successor is not None:
                current = f"{successor} {incumbent.classifier}"
        feats = {name: np.asarray(rep.features_N_D) for name, rep in reps.items()}
        dropped = 0
        if ADAPTED_NAME in reps and "pretrained" in reps and NEAR_COPY_FILTER:
            # the adapter learned the training labels: judge without their near-copies
            scored, dropped = without_near_copies(scored, pos, reps["pretrained"].raw_N_D)
        choice = choose_representation(graphs, pos, y, self.n_classes, order=order, prior_C=prior, current=current,
                                       seed=self.seed, method=self.propagation, scored_L=scored, features=feats)
        if dropped:
            choice.reason += (f"; {dropped} validation labels left out as near-copies of training labels "
                              f"(cosine ≥ {NEAR_DUPLICATE_COS} in the pretrained features)")
        no_graph = [name for name, g in graphs.items() if g is None]
        if no_graph:
            choice.reason += (f"; no kNN graph for {', '.join(no_graph)} within memory_limit "
                              f"({self.max_graphs} held): linear classifier only")
        prog("choose representation", 1.0)
        return choice

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a background judgement."""
        if self.thread is not None:
            self.thread.join(timeout)
