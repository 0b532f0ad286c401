"""A learner's saved model: what goes into the checkpoint's config, and the classifier rebuilt from it.

The file format itself (two files, timm-compatible trunk weights) is
:mod:`alwidget.model.classifier`'s; this module knows the learner's side: which settings make a
checkpoint loadable by another learner (:func:`checkpoint_config`), and how to rebuild the
:class:`~alwidget.model.classifier.Classifier` of any trunk the package trains — a timm model,
the pixels' PCA, or the user's own module (:func:`classifier_from_checkpoint`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from .model.backbone import BackboneInfo, create_backbone
from .model.classifier import Classifier, read_checkpoint, save_checkpoint
from .model.features import compute_features
from .predictions import FittedModel, streamed_features
from .progress import CancelToken, ProgressCallback, report
from .session import seed_for
from .representation.adapt import norm_from_state
from .representation.pca import PCAEmbedder
from .uncertainty import UncertaintyEstimator

__all__ = ["Persistence", "checkpoint_config", "classifier_from_checkpoint", "load_classifier"]


def checkpoint_config(inputs: Optional[Mapping[str, Any]], info: BackboneInfo, *, image_size: int, timm: bool,
                      num_features: int, classes: Sequence[str], estimator: UncertaintyEstimator, mode: str,
                      seed: int, n_labels: int) -> Dict[str, Any]:
    """The config saved beside a model's weights.

    Parameters
    ----------
    inputs : mapping, optional
        The model's own input spec (``size``, ``in_chans``, ``mean``, ``std``, ``backbone``,
        ``timm``) when it differs from the learner's (a candidate representation's trunk); else
        the learner's backbone ``info`` and ``image_size`` (pixels) describe the inputs.
    num_features : int
        ``D``, the trunk's feature width (the head's input).
    """
    spec = inputs or dict(size=image_size, in_chans=info.in_chans, mean=info.mean, std=info.std,
                          backbone=info.name, timm=timm)
    return dict(backbone=spec["backbone"], timm=spec["timm"], in_chans=spec["in_chans"], num_features=int(num_features),
                image_size=spec["size"], mean=list(spec["mean"]), std=list(spec["std"]), classes=list(classes),
                estimator=estimator.name, estimator_config=estimator.config(), mode=mode, seed=int(seed),
                n_labels=int(n_labels))


def classifier_from_checkpoint(cfg: Mapping[str, Any], trunk_state: Mapping[str, Any], head_state: Mapping[str, Any],
                               norm_state: Mapping[str, Any], estimator: UncertaintyEstimator, n_classes: int, *,
                               custom_trunk: Optional[nn.Module] = None,
                               custom_image_size: Optional[int] = None) -> Classifier:
    """Rebuild a saved classifier (in eval mode).

    The trunk is the pixels' PCA (``backbone`` starting with ``"pca"``), a timm model, or a copy
    of ``custom_trunk`` (the learner's own module, only when the saved input size equals
    ``custom_image_size``); the head is ``estimator``'s for ``num_features`` inputs and
    ``n_classes`` outputs.

    Raises
    ------
    ValueError
        The trunk is neither a timm model nor the given module.
    """
    if str(cfg["backbone"]).startswith("pca"):
        trunk: nn.Module = PCAEmbedder(cfg["in_chans"] * cfg["image_size"] ** 2, cfg["num_features"])
    elif cfg.get("timm", True) and isinstance(cfg["backbone"], str):
        trunk, _ = create_backbone(cfg["backbone"], in_chans=cfg["in_chans"])
    elif custom_trunk is not None and cfg.get("image_size") == custom_image_size:
        trunk = copy.deepcopy(custom_trunk)
    else:
        raise ValueError(f"the checkpoint's trunk {cfg['backbone']!r} is neither a timm model nor this "
                         "learner's own module")
    trunk.load_state_dict(trunk_state)
    head = estimator.build_head(cfg["num_features"], n_classes)
    head.load_state_dict(head_state)
    norm = norm_from_state(norm_state) if norm_state else None
    return Classifier(trunk, head, norm).eval()


def load_classifier(path: Union[str, Path], estimator: UncertaintyEstimator, classes: Sequence[str], in_chans: int, *,
                    custom_trunk: Optional[nn.Module] = None, custom_image_size: Optional[int] = None
                    ) -> Tuple[Dict[str, Any], Classifier]:
    """Read a checkpoint written by ``ActiveLearner.save_model`` and rebuild its classifier.

    Returns ``(config, classifier)``. Raises ``ValueError`` when the checkpoint's classes or
    image channels differ from ``classes`` / ``in_chans`` (it was made for another task),
    ``FileNotFoundError`` when ``path`` does not exist.
    """
    cfg, trunk_state, head_state, norm_state = read_checkpoint(path)
    if cfg.get("classes") != list(classes):
        raise ValueError(f"the checkpoint's classes {cfg.get('classes')} differ from this learner's {list(classes)}")
    if cfg.get("in_chans") != in_chans:
        raise ValueError(f"the checkpoint reads {cfg.get('in_chans')}-channel images; this learner's pool has "
                         f"{in_chans}")
    return cfg, classifier_from_checkpoint(cfg, trunk_state, head_state, norm_state, estimator, len(classes),
                                           custom_trunk=custom_trunk, custom_image_size=custom_image_size)


class Persistence:
    """``save_model`` and ``load_model``, mixed into :class:`~alwidget.ActiveLearner`."""

    def save_model(self, path: Union[str, Path]) -> Tuple[Path, Path]:
        """Save the latest model: ``path`` (timm-compatible weights) and ``path`` with ``.json``."""
        with self._lock:
            model = self._model
        if model is None:
            raise RuntimeError("no model yet: call retrain() before save_model")
        cfg = checkpoint_config(model.inputs, self.backbone_info, image_size=self.image_size,
                                timm=isinstance(self._backbone_spec, str),
                                num_features=model.estimate.features_N_D.shape[1], classes=self.classes,
                                estimator=self.estimator, mode=self.mode, seed=self.seed, n_labels=len(self.labels))
        weights = None if model.class_weights_C is None else [float(w) for w in model.class_weights_C]
        return save_checkpoint(path, model.classifier, dict(cfg, sample_seed=model.sample_seed, class_weights=weights))

    def load_model(self, path: Union[str, Path], progress: Optional[ProgressCallback] = None,
                   cancel: Optional[CancelToken] = None) -> None:
        """Load a model saved by :meth:`save_model` and score the pool with it (as a cycle does:
        in chunks on the engine when the pool is large)."""
        cfg, classifier = load_classifier(path, self.estimator, self.classes, self.backbone_info.in_chans,
                                          custom_trunk=self._custom_initial, custom_image_size=self.image_size)
        cancel = cancel or CancelToken()
        if cfg["image_size"] == self.image_size:
            features = compute_features(classifier.embedder(), self._tensors, range(len(self.pool)))
        else:  # another input size (a pretrained trunk): one streamed pass, nothing cached
            spec = dict(size=cfg["image_size"], in_chans=cfg["in_chans"], mean=cfg["mean"], std=cfg["std"])
            with torch.no_grad():
                features = classifier.norm(streamed_features(classifier.trunk, self.pool, spec))
        sample_seed = int(cfg.get("sample_seed", seed_for(self.seed, 3, 0)))
        class_weights = None if cfg.get("class_weights") is None else np.asarray(cfg["class_weights"], dtype=np.float64)
        # the beliefs the saved cycle gave: its head times its priors
        estimate, unc, scores = self._estimate(classifier.head, features, sample_seed,
                                               lambda step, f: report(progress, step, f), cancel, class_weights)
        with self._lock:
            self._model = FittedModel(classifier, estimate, scores, unc, sample_seed,
                                 dict(size=cfg["image_size"], in_chans=cfg["in_chans"], mean=tuple(cfg["mean"]),
                                      std=tuple(cfg["std"]), backbone=cfg["backbone"], timm=cfg.get("timm", True)),
                                 class_weights)
