"""Layers initialised from an explicit generator, never from torch's global one.

Background threads (the representation build, the slow cycle) create layers while the cycle
thread seeds and draws from torch's global generator; a layer made there with the default
initialisation would draw from (and race on) that shared state. These helpers give the same
values as the default initialisation would after ``torch.manual_seed(s)`` when passed
``torch.Generator().manual_seed(s)``.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn


def seeded_linear(in_features: int, out_features: int, generator: Optional[torch.Generator]) -> nn.Linear:
    """An ``nn.Linear(in_features, out_features)`` with PyTorch's default initialisation
    (weight ``kaiming_uniform_(a=√5)``, bias ``U(-1/√in, 1/√in)``) drawn from ``generator``.

    ``generator=None`` draws from the global generator, exactly like ``nn.Linear``.
    """
    if generator is None:
        return nn.Linear(in_features, out_features)
    with torch.device("meta"):
        layer = nn.Linear(in_features, out_features)
    layer = layer.to_empty(device="cpu")
    with torch.no_grad():
        nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer
