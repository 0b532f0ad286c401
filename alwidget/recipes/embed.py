"""``mode="embed"``: a frozen trunk's features of the pool, computed once; each cycle trains a head on the labels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Tuple

import numpy as np
import torch

from ..engine.features import FeatureCache
from ..model.features import weights_digest
from ..model.train import TrainConfig
from ..progress import CancelToken
from .base import FitPlan, Recipe
from .registry import register_recipe

if TYPE_CHECKING:  # pragma: no cover
    from ..learner import ActiveLearner

__all__ = ["EmbedRecipe"]


@register_recipe
class EmbedRecipe(Recipe):
    """The trunk stays frozen (with ``backbone="auto"``: the pretrained one when weights are
    found); its standardised features of every pool item are computed once — a streaming,
    resumable pass in chunks on disk when the pool is planned past memory — and cached; each
    cycle trains the estimator's head on the labels alone (a second or two)."""

    name = "embed"
    default_train = TrainConfig(max_steps=500, max_epochs=200, lr=3e-3, augment=False, patience=15)

    def __init__(self, **common: Any) -> None:
        """``common``: the settings every mode takes (:class:`~alwidget.recipes.Recipe`)."""
        super().__init__(**common)
        self.features: Optional[FeatureCache] = None
        """The pool's features (after :meth:`setup`)."""

    def choose_trunk(self, auto):
        """Embed mode has one trunk: the strongest at hand."""
        return (auto.pretrained, True, auto.weights) if auto.pretrained else None

    def needs_disk(self, learner: "ActiveLearner") -> bool:
        """Feature chunks go to disk when the pool is planned past memory or runs on another engine."""
        return learner._chunked

    def setup(self, learner: "ActiveLearner", *, threads: int, notify) -> None:
        for p in learner._trunk.parameters():
            p.requires_grad_(False)
        info = learner.backbone_info
        key = f"{info.name}|{weights_digest(learner._trunk)}|{learner.image_size}|{learner.pool.fingerprint()}"
        self.features = FeatureCache(key, learner._disk if learner._chunked else learner.cache_dir,
                                     chunked=learner._chunked, in_memory=learner.memory_plan.features_in_memory,
                                     num_features=info.num_features, engine=learner.engine)

    def pool_features(self, learner: "ActiveLearner", progress=None, cancel: Optional[CancelToken] = None
                      ) -> torch.Tensor:
        """The frozen trunk's standardised features ``[N, D]`` of the pool (computed on the first call)."""
        return self.features.get(learner._trunk, learner._tensors, progress=progress, cancel=cancel)

    def prepare(self, learner: "ActiveLearner", progress, cancel) -> None:
        """The frozen trunk's features of every item."""
        self.pool_features(learner, progress, cancel)

    def plan(self, learner: "ActiveLearner", pos_l, y_l, pos_v, pos_fit, y_fit, gen, prog, cancel) -> FitPlan:
        feats_all = self.pool_features(learner, prog, cancel)
        head = learner.estimator.build_head(feats_all.shape[1], len(learner.classes))
        feats_fit, feats_v = feats_all[torch.as_tensor(pos_fit)], feats_all[torch.as_tensor(pos_v)]
        return FitPlan(learner._trunk, head, head, forward=lambda idx, training: head(feats_fit[torch.as_tensor(idx)]),
                       val_outputs=lambda: head(feats_v), y_fit=y_fit, n_pseudo=len(pos_fit) - len(pos_l),
                       features=feats_all, norm=self.features.norm)

    def cold_start_features(self, learner: "ActiveLearner") -> Optional[np.ndarray]:
        return self.pool_features(learner).numpy()

    def check_features(self, learner: "ActiveLearner", prog, cancel) -> Tuple[torch.Tensor, str]:
        """The frozen trunk's features (they have not seen the labels)."""
        return self.pool_features(learner, prog, cancel), "frozen trunk"
