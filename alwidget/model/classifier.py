"""The classifier (trunk + owned head) and its checkpoint format.

A checkpoint is two files: ``model.pt`` holds ``state_dict`` — the trunk's weights under
timm's own keys, so ``timm.create_model(name, num_classes=0, in_chans=c,
checkpoint_path="model.pt")`` loads it — ``head_state_dict`` and, in embed mode,
``norm_state_dict`` (the feature standardisation); ``model.json`` beside it
holds what rebuilds the whole classifier (backbone, input size, normalisation, classes,
estimator).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

CHECKPOINT_VERSION = 1


class Classifier(nn.Module):
    """``head(norm(trunk(x)))``: images ``[B, C_in, S, S]`` to head outputs (logits ``[B, C]``).

    ``norm`` is the feature standardisation of ``embed`` mode (identity in ``finetune`` mode).
    """

    def __init__(self, trunk: nn.Module, head: nn.Module, norm: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head
        self.norm = norm if norm is not None else nn.Identity()

    def embedder(self) -> nn.Module:
        """A module (sharing this one's weights) mapping images to the head's input ``[B, D]``."""
        return nn.Sequential(self.trunk, self.norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.trunk(x)))


def config_path(path: Union[str, Path]) -> Path:
    """The JSON config that goes with a checkpoint file."""
    return Path(path).with_suffix(".json")


def save_checkpoint(path: Union[str, Path], classifier: Classifier, config: Dict[str, Any]) -> Tuple[Path, Path]:
    """Write ``path`` (weights) and its ``.json`` config; return both paths."""
    path = Path(path).expanduser()
    if path.suffix == ".json":
        raise ValueError("give the weights file name (e.g. 'model.pt'); the .json config is written beside it")
    if not path.parent.exists():
        raise FileNotFoundError(f"folder {str(path.parent)!r} does not exist; create it first")
    cfg = dict(config, checkpoint_version=CHECKPOINT_VERSION)
    torch.save({"state_dict": classifier.trunk.state_dict(), "head_state_dict": classifier.head.state_dict(),
                "norm_state_dict": classifier.norm.state_dict(), "alwidget": cfg}, path)
    cpath = config_path(path)
    cpath.write_text(json.dumps(cfg, indent=2, sort_keys=True))
    return path, cpath


def read_checkpoint(path: Union[str, Path]) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor],
                                                     Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """Return ``(config, trunk_state, head_state, norm_state)`` from a checkpoint written by
    :func:`save_checkpoint` (``norm_state`` is empty for finetune-mode models)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{str(path)!r} is not a readable alwidget checkpoint: {exc}") from None
    if not isinstance(blob, dict) or "head_state_dict" not in blob:
        raise ValueError(f"{str(path)!r} is not an alwidget checkpoint (no head weights); save one with save_model")
    cfg = blob.get("alwidget") or json.loads(config_path(path).read_text())
    if int(cfg.get("checkpoint_version", 0)) > CHECKPOINT_VERSION:
        raise ValueError(f"{str(path)!r} was written by a newer alwidget; upgrade alwidget to load it")
    return cfg, blob["state_dict"], blob["head_state_dict"], blob.get("norm_state_dict", {})
