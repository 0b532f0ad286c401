"""What the latest model says: its beliefs over the pool, predictions, the posterior, its inputs.

:class:`Predictions` is mixed into :class:`~alwidget.ActiveLearner`: every method reads the
latest cycle's :class:`FittedModel` (or a loaded one) under the learner's lock. ``_estimate`` is
the one place a model's beliefs about the pool are made: each cycle, and a loaded model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ._threads import ALL_CORES_FROM
from .data.pool import ImagePool
from .data.tensors import PoolTensors
from .engine import ScoreTask
from .engine.scoring import score_pool
from .model.classifier import Classifier
from .progress import CancelToken
from .report import normalized_entropy
from .strategies import PoolEstimate
from .uncertainty import Posterior

__all__ = ["FittedModel", "Predictions", "streamed_features"]


@dataclass
class FittedModel:
    """A cycle's trained classifier and the estimate it gave over the pool (the learner's latest)."""

    classifier: Classifier
    estimate: PoolEstimate
    scores_N: np.ndarray
    uncertainty_N: np.ndarray
    sample_seed: int
    """Seed of the posterior samples: new images are scored with the same dropout masks."""
    inputs: Optional[Tuple[int, int, Tuple[float, ...], Tuple[float, ...]]] = None
    """``(size, in_chans, mean, std)`` of the trunk's inputs (``None``: the learner's own)."""
    class_weights_C: Optional[np.ndarray] = None
    """Per-class factors on the head's beliefs: the label priors over the head's uniform training
    priors (``C * prior``; ``None``: none)."""


def streamed_features(trunk: nn.Module, pool: ImagePool, spec: Mapping[str, Any]) -> torch.Tensor:
    """Raw trunk features ``[len(pool), D]`` of any pool read at ``spec``'s size, channels and
    normalisation: one streamed pass, no resized copy of the pool kept."""
    from .representation.builder import embed_pool

    tensors = PoolTensors(pool, spec["size"], spec["in_chans"], spec["mean"], spec["std"], chunk_rows=512)
    return embed_pool(trunk, tensors, stream=True)[0]


class Predictions:
    """The learner's read side: beliefs over its pool, predictions on any pool, the posterior."""

    def _estimate(self, head: nn.Module, features: torch.Tensor, sample_seed: int, prog, cancel: CancelToken,
                  class_weights: Optional[np.ndarray]) -> Tuple[PoolEstimate, np.ndarray, np.ndarray]:
        """The pool scored by ``head`` on ``features`` ``[N, D]``: the estimate the strategy reads,
        the normalised entropy ``[N]`` and the strategy's scores ``[N]`` (the entropy when it has none).
        The one place a model's beliefs about the pool are made: each cycle, and a loaded model."""
        n = len(self.pool)
        # samples only where they fit the budget or the strategy reads them
        keep = self.memory_plan.keep_samples or "samples" in self.strategy.requires
        task = ScoreTask(head, self.estimator, self.mc_samples, sample_seed, keep_samples=keep,
                         class_weights=None if class_weights is None else [float(w) for w in class_weights])
        probs, samples, alpha = score_pool(
            task, features, n, engine=self.engine, chunk_rows=self.memory_plan.chunk_rows,
            in_one_call=isinstance(features, torch.Tensor) and not self._chunked,
            threads=self._all_cores if n >= ALL_CORES_FROM else None, progress=prog, cancel=cancel)
        estimate = PoolEstimate(probs_N_C=probs, samples_T_N_C=samples, features_N_D=features.numpy(),
                                alpha_N_C=alpha, **self._label_fields())
        if not np.all(np.isfinite(estimate.probs_N_C)):
            raise FloatingPointError("the model produced non-finite probabilities; the previous model is kept")
        uncertainty = normalized_entropy(estimate.probs_N_C)
        scores = self.strategy.score(estimate)
        return estimate, uncertainty, (uncertainty if scores is None else np.asarray(scores, dtype=np.float64))

    @property
    def scores(self) -> Optional[np.ndarray]:
        """The strategy's score of every pool item ``[N]`` (aligned with ``pool.ids``; higher =
        more informative; normalised entropy for batch-only strategies); ``None`` before the
        first cycle."""
        with self._lock:
            return None if self._model is None else self._model.scores_N.copy()

    @property
    def uncertainty(self) -> Optional[np.ndarray]:
        """Normalised predictive entropy of every pool item ``[N]`` in ``[0, 1]``."""
        with self._lock:
            return None if self._model is None else self._model.uncertainty_N.copy()

    def predict_proba(self, ids: Union[str, Sequence[str]]) -> np.ndarray:
        """Predictive probabilities ``[n, C]`` (columns in :attr:`classes` order) of pool items
        from the latest cycle's model."""
        model = self._latest_model()
        if isinstance(ids, str):
            ids = [ids]
        pos = []
        for item in ids:
            if item not in self._pos:
                raise KeyError(f"item {item!r} is not in the pool")
            pos.append(self._pos[item])
        return model.estimate.probs_N_C[np.asarray(pos, dtype=np.int64)].copy()

    def predict(self, ids: Union[str, Sequence[str]]) -> np.ndarray:
        """Deprecated name of :meth:`predict_proba` (probabilities ``[n, C]``).

        In scikit-learn ``predict`` gives classes and ``predict_proba`` probabilities; this
        method gave probabilities, and does so still, with a ``FutureWarning``: a later release
        makes it return class names.
        """
        warnings.warn("learner.predict(ids) returns probabilities, which is predict_proba's job in scikit-learn; "
                      "use learner.predict_proba(ids) (a later release makes predict return class names)",
                      FutureWarning, stacklevel=2)
        return self.predict_proba(ids)

    def evaluate(self, pool: ImagePool) -> float:
        """Accuracy in ``[0, 1]`` of the latest model on another pool with known ``truth``."""
        self._latest_model()
        if not pool.truth:
            raise ValueError("evaluate needs a pool with known truth")
        probs = self.predict_pool(pool)
        y = np.array([self._class_index[pool.truth[i]] for i in pool.ids])
        return float(np.mean(probs.argmax(1) == y))

    def predict_pool(self, pool: ImagePool) -> np.ndarray:
        """Predictive probabilities ``[len(pool), C]`` of the latest model on any pool."""
        return self.posterior(pool).probs_N_C.numpy().astype(np.float64)

    def _latest_model(self) -> FittedModel:
        with self._lock:
            model = self._model
        if model is None:
            raise RuntimeError("no model yet: label some items and call retrain() first")
        return model

    @property
    def classifier(self) -> Classifier:
        """The latest cycle's trained network, in eval mode: ``classifier(x)`` maps model inputs
        ``[B, C_in, S, S]`` (see :meth:`model_inputs`) to head outputs (logits ``[B, C]``);
        ``classifier.embedder()`` maps them to features ``[B, D]`` and ``classifier.head`` the
        features to outputs. Shared with the learner: copy it (``copy.deepcopy``) before changing
        it. Raises ``RuntimeError`` before the first cycle."""
        return self._latest_model().classifier

    @property
    def class_weights(self) -> Optional[np.ndarray]:
        """Per-class factors ``[C]`` the latest model's beliefs carry on top of its head: the label
        priors over the head's uniform training priors (``C * prior``). ``softmax(classifier(x)) *
        class_weights``, renormalised, is the dropout-free prediction; ``None`` before a cycle."""
        with self._lock:
            model = self._model
        return None if model is None or model.class_weights_C is None else model.class_weights_C.copy()

    def model_inputs(self, ids: Optional[Sequence[str]] = None) -> torch.Tensor:
        """The normalised float inputs ``[n, C_in, S, S]`` the network sees for pool items ``ids``
        (all of the pool, in ``pool.ids`` order, when ``None``): resized, channel-converted and
        normalised exactly as in training and scoring, without augmentation."""
        if ids is None:
            positions = np.arange(len(self.pool))
        else:
            if isinstance(ids, str):
                ids = [ids]
            missing = [i for i in ids if i not in self._pos]
            if missing:
                raise KeyError(f"{len(missing)} item(s) not in the pool, e.g. {missing[0]!r}")
            positions = np.array([self._pos[i] for i in ids], dtype=np.int64)
        return self._tensors.batch(positions)

    def posterior(self, pool: Optional[ImagePool] = None, *, n_samples: Optional[int] = None,
                  seed: Optional[int] = None) -> Posterior:
        """The latest model's posterior over ``pool`` (the learner's own pool when ``None``): the
        trunk runs once, the head ``n_samples`` times (default ``mc_samples``), with the
        cycle's dropout masks unless another ``seed`` is given. Returns a
        :class:`~alwidget.uncertainty.Posterior` (``probs_N_C``, ``samples_T_N_C``, ...)."""
        model = self._latest_model()
        if pool is None or pool is self.pool:  # the cycle's own features of the pool
            feats = torch.as_tensor(np.asarray(model.estimate.features_N_D), dtype=torch.float32)
        else:
            feats = self._features_of(model, pool)
        gen = torch.Generator().manual_seed(model.sample_seed if seed is None else int(seed))
        post = self.estimator.posterior(model.classifier.head, feats,
                                        n_samples=self.mc_samples if n_samples is None else int(n_samples),
                                        generator=gen)
        return post.with_class_weights(model.class_weights_C)

    def _features_of(self, model: FittedModel, pool: ImagePool) -> torch.Tensor:
        """The head's inputs ``[len(pool), D]`` for another pool: its images read, resized and
        embedded chunk by chunk by the model's trunk (cached for the last pool and trunk, so a
        simulation that evaluates a test pool every cycle embeds it once per representation)."""
        spec = model.inputs or dict(size=self.image_size, in_chans=self.backbone_info.in_chans,
                                    mean=self.backbone_info.mean, std=self.backbone_info.std)
        trunk = model.classifier.trunk
        key = (pool.fingerprint(), spec["size"], spec["in_chans"])
        cached = self._foreign
        if cached is not None and cached[0] == key and cached[1] is trunk:
            raw = cached[2]
        else:
            raw = streamed_features(trunk, pool, spec)
            self._foreign = (key, trunk, raw)
        with torch.no_grad():
            return model.classifier.norm(raw)
