"""What the learner asks next: the selectable items, the query, the cold start, the strategy.

:class:`Selection` is mixed into :class:`~alwidget.ActiveLearner`; the strategies themselves
are :mod:`alwidget.strategies`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Union

import numpy as np
import torch.nn.functional as F

from .session import seed_for
from .strategies import PoolEstimate, Strategy, create_strategy

__all__ = ["Selection"]


class Selection:
    """``query``, ``selectable_ids`` and ``set_strategy``, and the label masks a strategy reads."""

    def _selectable_mask(self) -> np.ndarray:
        return self.session.selectable_N(self._tensors.failed)

    def selectable_ids(self) -> List[str]:
        """Ids :meth:`query` may return: unlabelled, not in the validation set, readable."""
        mask = self._selectable_mask()
        return [self.pool.ids[i] for i in np.flatnonzero(mask)]

    def query(self, k: int, exclude: Sequence[str] = ()) -> List[str]:
        """The ``k`` most informative unlabelled items, most informative first.

        Never returns labelled or validation items, unreadable images, nor the ids in
        ``exclude`` (e.g. images the person skipped): they are removed before selection, so
        batch-aware strategies build their batch without them. Before the first cycle this
        is the cold start (``random`` or ``kmeans``). Returns fewer than ``k`` ids when fewer
        are left.
        """
        k = int(k)
        if k < 0:
            raise ValueError(f"k must be non-negative, got {k}")
        with self._lock:
            model, version, n_cycles = self._model, self.session.version, len(self.history)
        selectable = self._selectable_mask()
        for item in exclude:
            if item in self._pos:
                selectable[self._pos[item]] = False
        rng = np.random.default_rng(seed_for(self.seed, 2, n_cycles, version))
        start = self.recipe.start_estimate(self) if model is None else None
        if start is not None:
            picked = self.strategy.select(start, k, selectable, rng)
        elif model is None:
            picked = self._cold_start(k, selectable, rng)
        else:
            picked = self.strategy.select(model.estimate, k, selectable, rng)
        picked = np.asarray(picked, dtype=np.int64)
        with self._lock:
            self._last_k = k
        return [self.pool.ids[i] for i in picked]

    def _labeled_mask(self) -> np.ndarray:
        """``[N]`` bool: which pool items have a training label."""
        return self._training_labels() >= 0

    def _label_fields(self) -> Dict[str, np.ndarray]:
        """``labeled_N`` and ``labels_N`` of a :class:`PoolEstimate`."""
        given = self._training_labels()
        return dict(labeled_N=given >= 0, labels_N=given)

    def _training_labels(self) -> np.ndarray:
        """``[N]`` int: the class index of each pool item's training label, ``-1`` for none."""
        return self.session.training_labels_N()

    def _cold_start(self, k: int, selectable: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        candidates = np.flatnonzero(selectable)
        if self.recipe.cold_start == "random" or k == 0 or len(candidates) <= k:
            return rng.permutation(candidates)[:k]
        feats = self.recipe.cold_start_features(self)
        if feats is None:  # pixels, shrunk to 8×8, are features enough to spread the first labels out
            x = self._tensors.batch(np.arange(len(self.pool)))
            feats = F.adaptive_avg_pool2d(x, 8).flatten(1).numpy()
        estimate = PoolEstimate(probs_N_C=np.full((len(self.pool), len(self.classes)), 1.0 / len(self.classes)),
                                features_N_D=feats)
        return create_strategy("kmeans").select(estimate, k, selectable, rng)

    def _compatible_strategy(self, strategy: Strategy) -> Strategy:
        missing = set(strategy.requires) - set(self.estimator.produces) - {"features"}
        if missing:
            need = {"samples": "posterior samples (e.g. uncertainty='mc_dropout', 'ensemble' or 'laplace')",
                    "alpha": "Dirichlet concentrations (uncertainty='evidential')"}
            raise ValueError(f"strategy {strategy.name!r} needs " + " and ".join(need.get(m, m) for m in sorted(missing))
                             + f", which uncertainty={self.estimator.name!r} does not give")
        return strategy

    def set_strategy(self, strategy: Union[str, Strategy], **params: Any) -> None:
        """Switch the acquisition strategy (takes effect at the next query; scores at the next cycle)."""
        self.strategy = self._compatible_strategy(create_strategy(strategy, **params))
