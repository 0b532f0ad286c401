"""Helpers for work on more than one thread: torch's thread count, weak progress forwarding."""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import torch

#: Pools from which the fast cycle's two large computations, the graph solve and the pool's
#: posterior, run on every core (``num_threads`` not given): 20 MC-dropout samples over 10,000 /
#: 100,000 items took 0.24 / 2.05 s on one thread here and 0.14 / 1.11 s on two; the float32
#: graph solve at 100,000 items 1.21 s and 0.68 s (BENCHMARKS.md)
ALL_CORES_FROM = 10_000


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


def weak_callback(method: Callable[..., Any]) -> Callable[..., None]:
    """A callback that forwards its arguments to a bound ``method`` without keeping its object
    alive (a background thread holding it must not keep a dropped learner, and its work, alive);
    once the object is gone it does nothing."""
    ref = weakref.WeakMethod(method)

    def forward(*args: Any) -> None:
        target = ref()
        if target is not None:
            target(*args)

    return forward
