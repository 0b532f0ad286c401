"""Oracle-driven runs: active learning with a known ground truth, and strategy comparisons.

An oracle answers every query from ``pool.truth``. Used for teaching, benchmarks and tests:
"how many labels does entropy save over random on my data?".
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from .data.pool import ImagePool
from .learner import ActiveLearner
from .strategies import Strategy


@dataclass(frozen=True)
class SimulationRecord:
    """One point of a learning curve.

    Attributes
    ----------
    strategy : str
    seed : int
    n_labels : int
        Training labels (validation labels not counted).
    test_accuracy : float
        Accuracy on the held-out test pool, in ``[0, 1]``.
    validation_accuracy : float
        Accuracy on the learner's validation set.
    seconds : float
        Wall time of the cycle (train + score).
    train_steps : int
        Optimiser steps of the cycle's training.
    n_validation : int
        Validation labels ``validation_accuracy`` was measured on.
    representation : str
        What the cycle's head learned on (``report.representation``: e.g. ``"pca"``,
        ``"contrastive+refined on 50 labels"``; empty outside ``semi`` mode).
    selection : str
        The rule that picks the next batch (``report.selection``).
    """

    strategy: str
    seed: int
    n_labels: int
    test_accuracy: float
    validation_accuracy: float
    seconds: float
    train_steps: int = 0
    n_validation: int = 0
    representation: str = ""
    selection: str = ""

    def to_dict(self) -> Dict[str, Any]:
        """A plain dict (for pandas, JSON)."""
        return asdict(self)


def run(
    pool: ImagePool,
    test: ImagePool,
    strategy: Union[str, Strategy, Sequence[Union[str, Strategy]], None] = None,
    budget: int = 200,
    step: int = 20,
    init: int = 20,
    seeds: Union[int, Iterable[int]] = (0,),
    *,
    balanced_init: bool = False,
    stop_at: Optional[float] = None,
    on_record: Optional[Callable[[SimulationRecord], None]] = None,
    **learner_kwargs: Any,
) -> List[SimulationRecord]:
    """Simulate labelling with an oracle and record test accuracy along the way.

    For each strategy and seed: label the validation set and ``init`` items from the truth
    (the learner's cold start, or a class-balanced draw), then repeat *train → evaluate on*
    ``test`` *→ query* ``step`` *→ label* until ``budget`` training labels are reached (the last
    cycle is trained on exactly ``budget``) or the test accuracy reaches ``stop_at``.

    Parameters
    ----------
    pool : ImagePool
        Pool with ``truth``; the learner never sees it except through the oracle.
    test : ImagePool
        Held-out pool with ``truth`` for the test accuracy.
    strategy : str, Strategy or a sequence of them, optional
        Strategies to compare, by name or as configured instances (recorded under their
        ``name``; default: the learner's default for its mode, ``"budget_aware"`` in ``semi`` mode).
    budget, step, init : int
        Final number of training labels, labels per query, random labels to start with.
    seeds : int or iterable of int
        One run per seed (the seed drives the validation set, the start and the model).
    balanced_init : bool
        Start from ``init / n_classes`` random items of each class, drawn from the truth (the
        protocol of Gal et al. 2017); ``init`` must then be a multiple of the number of classes.
    stop_at : float, optional
        Stop a run once its test accuracy reaches this value (in ``[0, 1]``).
    on_record : callable, optional
        Called with each record as it is made (progress display).
    **learner_kwargs
        Passed to :class:`~alwidget.ActiveLearner` (``mode``, ``backbone``, ``train``, ...). In
        ``semi`` mode ``slow_cycle`` defaults to ``"inline"`` here, so the same seed gives the
        same curve.

    Returns
    -------
    list of SimulationRecord
    """
    if pool.truth is None or test.truth is None:
        raise ValueError("simulate.run needs pools with known truth (pool.truth and test.truth)")
    if not 0 < init <= budget:
        raise ValueError(f"need 0 < init <= budget, got init={init}, budget={budget}")
    if step < 1:
        raise ValueError(f"step must be at least 1, got {step}")
    if stop_at is not None and not 0.0 < stop_at <= 1.0:
        raise ValueError(f"stop_at is a test accuracy in (0, 1], got {stop_at}")
    single = strategy is None or isinstance(strategy, (str, Strategy))
    strategies = [strategy] if single else list(strategy)
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    learner_kwargs.setdefault("validation_from_truth", True)
    if learner_kwargs.get("mode", "semi") == "semi":
        learner_kwargs.setdefault("slow_cycle", "inline")  # reproducible curves: the slow cycle runs when due
    records: List[SimulationRecord] = []
    for spec in strategies:
        for seed in seeds:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # in-memory store is intended here
                learner = ActiveLearner(pool, strategy=spec, seed=seed, **learner_kwargs)
            name = spec if isinstance(spec, str) else learner.strategy.name
            try:
                if balanced_init:
                    if init % len(learner.classes):
                        raise ValueError(f"balanced_init needs init to be a multiple of the {len(learner.classes)} "
                                         f"classes, got init={init}")
                    first = balanced_start(learner, init // len(learner.classes), seed)
                else:
                    first = learner.query(init)
                learner.teach(first, [pool.truth[i] for i in first], source="oracle")
                while True:
                    rep = learner.retrain()
                    rec = SimulationRecord(name, seed, rep.n_labels, learner.evaluate(test), rep.accuracy,
                                           rep.timings.get("total", float("nan")), rep.train_steps, rep.n_validation,
                                           rep.representation or "", rep.selection or "")
                    rep.test_accuracy = rec.test_accuracy
                    records.append(rec)
                    if on_record is not None:
                        on_record(rec)
                    if rep.n_labels >= budget or (stop_at is not None and rec.test_accuracy >= stop_at):
                        break
                    ids = learner.query(min(step, budget - rep.n_labels))
                    if not ids:
                        break
                    learner.teach(ids, [pool.truth[i] for i in ids], source="oracle")
            finally:
                learner.close()
    return records


def balanced_start(learner: ActiveLearner, per_class: int, seed: int) -> List[str]:
    """``per_class`` random items of each of the learner's classes, drawn from ``pool.truth``
    among the selectable ones (never validation items), in class order. Seeded by ``seed``.

    Raises
    ------
    ValueError
        If the pool has no truth or a class has fewer than ``per_class`` selectable items.
    """
    pool = learner.pool
    if pool.truth is None:
        raise ValueError("a balanced start draws from the truth: the pool has none")
    rng = np.random.default_rng([seed, 20170303])
    selectable = set(learner.selectable_ids())
    by_class: Dict[str, List[str]] = {}
    for item in pool.ids:
        if item in selectable and item in pool.truth:
            by_class.setdefault(pool.truth[item], []).append(item)
    picked: List[str] = []
    for c in learner.classes:
        items = by_class.get(c, [])
        if len(items) < per_class:
            raise ValueError(f"class {c!r} has only {len(items)} selectable items, need {per_class}")
        picked += [items[i] for i in rng.choice(len(items), per_class, replace=False)]
    return picked


def summarize(records: Sequence[SimulationRecord]) -> Dict[str, Dict[int, Dict[str, float]]]:
    """Mean, standard deviation, min and max of test accuracy per strategy and label count."""
    out: Dict[str, Dict[int, Dict[str, float]]] = {}
    for name in sorted({r.strategy for r in records}):
        by_n: Dict[int, List[float]] = {}
        for r in records:
            if r.strategy == name:
                by_n.setdefault(r.n_labels, []).append(r.test_accuracy)
        out[name] = {n: {"mean": float(np.mean(v)), "std": float(np.std(v)), "min": float(np.min(v)),
                         "max": float(np.max(v)), "runs": len(v)} for n, v in sorted(by_n.items())}
    return out


def labels_to_reach(records: Sequence[SimulationRecord], target: float) -> Dict[str, Dict[int, Optional[int]]]:
    """Per strategy and seed, the fewest training labels at which test accuracy reached ``target``
    (``None`` if never)."""
    out: Dict[str, Dict[int, Optional[int]]] = {}
    for r in sorted(records, key=lambda r: (r.strategy, r.seed, r.n_labels)):
        seen = out.setdefault(r.strategy, {}).setdefault(r.seed, None)
        if seen is None and r.test_accuracy >= target:
            out[r.strategy][r.seed] = r.n_labels
    return out
