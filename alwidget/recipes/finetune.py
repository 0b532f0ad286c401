"""``mode="finetune"``: the whole network trained from scratch on the labels every cycle (the old recipe)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch

from ..model.backbone import create_backbone
from ..model.classifier import Classifier
from ..model.features import compute_features
from ..model.train import TrainConfig
from ..progress import CancelToken
from .base import FitPlan, Recipe
from .registry import register_recipe

if TYPE_CHECKING:  # pragma: no cover
    from ..learner import ActiveLearner

__all__ = ["FinetuneRecipe"]


@register_recipe
class FinetuneRecipe(Recipe):
    """Each cycle trains a fresh trunk and head on the labels (augmented images, early stopping
    on the validation loss), then embeds the pool with the new trunk. Slow (minutes a cycle on a
    CPU) and weak with few labels; kept for comparison and for users with a GPU and many labels."""

    name = "finetune"
    default_train = TrainConfig()
    local_engine_only = True

    def default_threads(self, cores: int) -> int:
        """All cores but one, which stays free for the kernel and the browser."""
        return max(1, cores - 1)

    def plan(self, learner: "ActiveLearner", pos_l, y_l, pos_v, pos_fit, y_fit, gen, prog, cancel) -> FitPlan:
        trunk = self._fresh_trunk(learner)
        head = learner.estimator.build_head(learner.backbone_info.num_features, len(learner.classes))
        module = Classifier(trunk, head)
        tensors, augment = learner._tensors, learner.train_config.augment
        return FitPlan(
            trunk, head, module,
            forward=lambda idx, training: module(tensors.batch(pos_fit[idx], augment=training and augment,
                                                               generator=gen)),
            val_outputs=lambda: module(tensors.batch(pos_v)), y_fit=y_fit, n_pseudo=len(pos_fit) - len(pos_l))

    def features_after(self, learner: "ActiveLearner", plan: FitPlan, prog, cancel: CancelToken) -> torch.Tensor:
        """The trained trunk's features of every pool item."""
        return compute_features(plan.trunk, learner._tensors, range(len(learner.pool)), progress=prog,
                                cancel=cancel, step="features")

    def check_train_config(self, learner: "ActiveLearner") -> TrainConfig:
        """The fold heads train like the fast cycle's head (the network's own settings train a trunk)."""
        from .semi import SemiRecipe

        return SemiRecipe.default_train

    @staticmethod
    def _fresh_trunk(learner: "ActiveLearner"):
        """A new trunk: a timm model created from the (seeded) global generator, or a copy of the
        user's module as it was given (trained from scratch)."""
        spec = learner._backbone_spec
        if isinstance(spec, str):
            return create_backbone(spec, in_chans=learner.backbone_info.in_chans, pretrained=learner._pretrained,
                                   weights=learner._weights)[0]
        return copy.deepcopy(learner._custom_initial)
