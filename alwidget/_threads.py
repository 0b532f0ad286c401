"""Helpers for work on more than one thread: torch's thread count, weak progress forwarding."""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import Iterator, Optional

import torch

from .progress import ProgressCallback


@contextmanager
def torch_threads(n: Optional[int]) -> Iterator[None]:
    """Run a block with ``n`` torch threads (``None``: leave the setting alone)."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def weak_progress(method: ProgressCallback) -> ProgressCallback:
    """A progress callback that forwards to a bound ``method`` without keeping its object alive
    (a background thread holding it must not keep a dropped learner, and its work, alive)."""
    ref = weakref.WeakMethod(method)

    def forward(step: str, fraction: float) -> None:
        target = ref()
        if target is not None:
            target(step, fraction)

    return forward
