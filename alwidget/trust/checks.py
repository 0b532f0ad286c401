"""The learner's trust checks: which given labels look wrong, and how many labels a target needs.

:class:`TrustChecks` is mixed into :class:`~alwidget.ActiveLearner`; the computing parts are
:mod:`alwidget.trust.label_issues`, :mod:`alwidget.trust.fold_classifier` and
:mod:`alwidget.trust.forecast`.
"""

from __future__ import annotations

import time
from typing import Optional, Sequence, Union

import numpy as np

from .._threads import torch_threads
from ..progress import CancelToken, ProgressCallback, report
from ..session import seed_for
from .calibration import ForecastCalibration
from .fold_classifier import fast_cycle_fit_predict
from .forecast import DEFAULT_CURVE, Forecast, forecast_labels
from .label_issues import LabelCheck, check_inputs, label_issues_of, out_of_sample_probs

__all__ = ["TrustChecks"]


class TrustChecks:
    """``confirm``, ``label_issues`` and ``forecast``."""

    def confirm(self, ids: Union[str, Sequence[str]]) -> list:
        """Confirm items' current labels as checked (a ``"review"`` event repeating the label):
        :meth:`label_issues` leaves them out from now on. The training set does not change.

        Returns the stored events. Raises ``KeyError`` for an unknown or unlabelled item
        (nothing is written then)."""
        return self.session.confirm(ids)

    def label_issues(self, n_folds: int = 5, *, method: str = "self_confidence", include_reviewed: bool = False,
                     progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> LabelCheck:
        """Rank the given labels (train and validation) by how likely they are wrong.

        Every labelled item gets probabilities from the fast cycle's head trained on the other
        ``n_folds - 1`` folds (stratified), on the pool's features, with the graph's
        pseudo-labels in ``semi`` mode. cleanlab ranks them (:mod:`alwidget.trust.label_issues`).
        Takes seconds; runs on the calling thread and waits for a running cycle.

        Parameters
        ----------
        n_folds : int
            Folds (at least 2; at most the number of labels).
        method : str
            cleanlab's label-quality score: ``"self_confidence"`` (default),
            ``"normalized_margin"`` or ``"confidence_weighted_entropy"``.
        include_reviewed : bool
            Also list labels already confirmed or corrected in a review (source ``"review"``).
        progress, cancel
            As for :meth:`retrain`.

        Returns
        -------
        LabelCheck
            A sequence of :class:`~alwidget.trust.LabelIssue`, most suspicious first.
        """
        cancel = cancel or CancelToken()
        t_start = time.perf_counter()
        with self._lock:
            version = self.session.version
        train, val = self.store.labels(split="train"), self.store.labels(split="validation")
        items = [i for i in list(train) + list(val) if i in self._pos]
        given = {**train, **val}
        y_N = np.array([self._class_index[given[i]] for i in items], dtype=np.int64)
        n_folds = int(n_folds)
        notes = check_inputs(y_N, n_folds, self.classes)

        def prog(step: str, fraction: float) -> None:
            report(progress, step, fraction)
            self._notify(step, fraction)

        with self._cycle_lock, torch_threads(self.num_threads):
            feats, origin = self.recipe.check_features(self, prog, cancel)
            notes.append(f"features: {origin}")
            pos_N = np.array([self._pos[i] for i in items], dtype=np.int64)
            graph = self.recipe.check_graph(self, prog, cancel)
            fit_predict = fast_cycle_fit_predict(
                feats, pos_N, len(self.classes), estimator=self.estimator, config=self.recipe.check_train_config(self),
                n_samples=self.mc_samples, seed=lambda fold: seed_for(self.seed, 17, fold), graph=graph,
                unlabelled_N=self._selectable_mask(), pseudo_fraction=getattr(self.recipe, "pseudo_fraction", 0.0),
                propagation=getattr(self.recipe, "propagation", "poisson"), prior_C=self._prior_C,
                prior_labels=self._prior_n, cancel=cancel)
            prog("check labels", 0.0)
            probs_N_C = out_of_sample_probs(y_N, fit_predict, len(self.classes), n_folds=n_folds,
                                            seed=seed_for(self.seed, 19, len(items)),
                                            cancel=cancel.raise_if_cancelled,
                                            progress=lambda f: prog("check labels", f))
        events = [self.store.get(item) for item in items]
        issues = label_issues_of(items, y_N, probs_N_C, self.classes,
                                 ["validation" if item in val else "train" for item in items],
                                 [e is not None and e.source == "review" for e in events], method=method,
                                 include_reviewed=include_reviewed)
        check = LabelCheck(issues, n_checked=len(items), n_folds=n_folds, method=method,
                           seconds=time.perf_counter() - t_start, labels_version=version, notes=notes)
        self.last_label_check = check
        return check

    def forecast(self, target: Optional[float] = None, *, curve: str = DEFAULT_CURVE, level: float = 0.8,
                 n_boot: int = 200, calibration: Union[str, ForecastCalibration, None] = "default") -> Forecast:
        """How many training labels validation accuracy ``target`` needs, from the cycles so far.

        Fits a learning curve to validation accuracy against labels
        (:func:`alwidget.trust.forecast.forecast_labels`) and solves it for ``target``. The range
        (``level``: the share it claims) comes from what such forecasts got wrong on recorded
        development runs at the same number of cycles (the shipped calibration,
        :mod:`alwidget.trust.calibration`), or, with ``calibration=None``, from a bootstrap of the
        validation set alone.

        Parameters
        ----------
        target : float, optional
            Validation accuracy in ``(0, 1]``; default: the stopping rule's
            ``target_accuracy``.
        curve, level, n_boot, calibration
            See :func:`~alwidget.trust.forecast.forecast_labels`.

        Returns
        -------
        Forecast
            ``forecast.summary()`` reads e.g. ``"≈ 420 labels to 95 % (300–650)"``; with fewer
            than three cycles it says it cannot forecast yet.
        """
        if target is None:
            target = self.stopping.target_accuracy
            if target is None:
                raise ValueError("no target: pass forecast(target=0.95), or set "
                                 "stopping=StoppingRule(target_accuracy=...) on the learner")
        ok = [r for r in list(self.history) if r.error is None and r.n_validation > 0]
        return forecast_labels([r.n_labels for r in ok], [r.accuracy for r in ok], [r.n_validation for r in ok],
                               float(target), curve=curve, level=level, n_boot=n_boot, seed=self.seed,
                               calibration=calibration)
