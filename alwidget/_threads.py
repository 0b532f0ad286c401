"""Helpers for work on more than one thread: torch's thread count, weak progress forwarding."""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import torch



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
