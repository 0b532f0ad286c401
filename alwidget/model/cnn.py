"""``alwidget_cnn``: a small convolutional network registered in timm's model registry.

Why this is the default backbone: without pretrained weights (none can be downloaded on an
offline machine, and a notebook user may not want to wait for them), the whole network has to
be trained from a handful of labels on a CPU, every cycle. A ResNet-18 takes minutes per cycle
on two cores; this network (about 0.1 M parameters, 3×3 convolutions with batch norm, two
pooling stages, global average pooling) trains on 500 labelled 28×28 images in a few seconds
and scores a pool of 10,000 images in about two. It is created through ``timm.create_model``
like any other timm model, so checkpoints, ``in_chans``, ``num_classes=0`` feature extraction
and ``reset_classifier`` behave as in timm.
"""

from __future__ import annotations

from typing import Any, Dict

import torch
from torch import nn
from timm.models import register_model
from timm.models._builder import build_model_with_cfg
from timm.models._registry import generate_default_cfgs

__all__ = ["AlwidgetCNN", "alwidget_cnn", "alwidget_cnn_wide"]


def _conv_bn_relu(in_chans: int, out_chans: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_chans),
        nn.ReLU(inplace=True),
    )


class AlwidgetCNN(nn.Module):
    """A small VGG-style CNN with the timm model interface.

    Parameters
    ----------
    in_chans : int
        Input channels (1 for grey images, 3 for RGB).
    num_classes : int
        Classifier outputs; 0 returns the pooled features ``[B, num_features]``.
    width : int
        Channels of the first stage; later stages use ``2·width`` and ``4·width``.
    drop_rate : float
        Dropout before the classifier.
    global_pool : str
        Only ``"avg"`` is supported (kept for timm compatibility).
    """

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = 10,
        width: int = 32,
        drop_rate: float = 0.0,
        global_pool: str = "avg",
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if global_pool not in ("avg", ""):
            raise ValueError(f"global_pool={global_pool!r} is not supported; use 'avg'")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.num_features = self.head_hidden_size = 4 * width
        self.stem = _conv_bn_relu(in_chans, width)
        self.stages = nn.Sequential(
            nn.MaxPool2d(2),
            _conv_bn_relu(width, 2 * width),
            _conv_bn_relu(2 * width, 2 * width),
            nn.MaxPool2d(2),
            _conv_bn_relu(2 * width, 4 * width),
        )
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(drop_rate)
        self.fc: nn.Module = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def get_classifier(self) -> nn.Module:
        """The final classifier layer (timm interface)."""
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str = "avg") -> None:
        """Replace the classifier with a fresh one of ``num_classes`` outputs (timm interface)."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature maps ``[B, num_features, H/4, W/4]`` for images ``[B, in_chans, H, W]``."""
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool the feature maps and apply the classifier (timm interface)."""
        x = self.global_pool(x).flatten(1)
        x = self.head_drop(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` (or features ``[B, num_features]`` when num_classes=0)."""
        return self.forward_head(self.forward_features(x))


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    return {
        "url": "",
        "num_classes": 10,
        "input_size": (1, 28, 28),
        "pool_size": (7, 7),
        "crop_pct": 1.0,
        "interpolation": "bilinear",
        "mean": (0.5,),
        "std": (0.5,),
        "first_conv": "stem.0",
        "classifier": "fc",
        **kwargs,
    }


# Registered before the models, as timm's registry reads ``default_cfgs`` at registration.
default_cfgs = generate_default_cfgs({"alwidget_cnn": _cfg(), "alwidget_cnn_wide": _cfg()})


def _create(variant: str, pretrained: bool = False, **kwargs: Any) -> AlwidgetCNN:
    return build_model_with_cfg(AlwidgetCNN, variant, pretrained, **kwargs)


@register_model
def alwidget_cnn(pretrained: bool = False, **kwargs: Any) -> AlwidgetCNN:
    """alwidget's default backbone: width 32, about 0.1 M parameters."""
    return _create("alwidget_cnn", pretrained=pretrained, **dict(dict(width=32), **kwargs))


@register_model
def alwidget_cnn_wide(pretrained: bool = False, **kwargs: Any) -> AlwidgetCNN:
    """A wider variant (width 64, about 0.4 M parameters) for harder data."""
    return _create("alwidget_cnn_wide", pretrained=pretrained, **dict(dict(width=64), **kwargs))
