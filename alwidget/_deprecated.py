"""``ActiveLearner`` settings that moved to the component they belong to, still accepted flat.

``pretrained``, ``weights`` and ``image_size`` are the backbone's
(:class:`~alwidget.model.backbone.Backbone`), ``mc_samples`` is the uncertainty estimator's
(``n_samples``). Given to ``ActiveLearner`` they still work, with a ``FutureWarning`` that says
what to write instead.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import replace
from typing import Any, Dict, Tuple, Union

from torch import nn

from .model.backbone import Backbone
from .uncertainty import UncertaintyEstimator, create_estimator
from .uncertainty.base import check_samples

BACKBONE_FIELDS = ("pretrained", "weights", "image_size")
"""Flat ``ActiveLearner`` settings that are now :class:`Backbone` fields."""


def moved_settings(settings: Dict[str, Any], backbone: Union[str, nn.Module, Backbone, dict],
                   uncertainty: Union[str, UncertaintyEstimator]) -> Tuple[Backbone, UncertaintyEstimator]:
    """Take the moved settings out of ``settings`` (the learner's ``**recipe_settings``, changed
    in place) and fold them into ``(backbone, estimator)``, warning once for each call that used them."""
    spec = Backbone.of(backbone)
    moved = {k: settings.pop(k) for k in BACKBONE_FIELDS if k in settings}
    if moved:
        set_twice = [k for k in moved if getattr(spec, k) is not None]
        if set_twice:
            raise TypeError(f"{', '.join(set_twice)} given both to ActiveLearner and in backbone=Backbone(...); "
                            "give them in Backbone only")
        spec = replace(spec, **moved)
        args = ", ".join([repr(spec.name) if isinstance(spec.name, str) else "module"]
                         + [f"{k}={v!r}" for k, v in moved.items()])
        warnings.warn(f"ActiveLearner({', '.join(f'{k}=' for k in moved)}...) is deprecated: these are the "
                      f"backbone's settings now, write backbone=Backbone({args})", FutureWarning, stacklevel=3)
    estimator = create_estimator(uncertainty)
    if "mc_samples" in settings:
        n = settings.pop("mc_samples")
        name = estimator.name or type(estimator).__name__
        warnings.warn(f"ActiveLearner(mc_samples=...) is deprecated: the estimator holds it now, write "
                      f"uncertainty=create_estimator({name!r}, n_samples={n!r}) (or e.g. MCDropout(n_samples={n!r}))",
                      FutureWarning, stacklevel=3)
        estimator = copy.copy(estimator) if estimator is uncertainty else estimator
        estimator.n_samples = check_samples(n)
    return spec, estimator
