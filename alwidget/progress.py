"""Progress reporting and cancellation shared by every long step.

Every long step (embedding, training, scoring) takes a ``progress`` callback of type
:data:`ProgressCallback` and a :class:`CancelToken`. The callback receives the step's
name and the fraction done in ``[0, 1]``; the token is polled between batches and
raises :class:`CycleCancelled` once cancelled.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

ProgressCallback = Callable[[str, float], None]
"""``callback(step, fraction)``: ``fraction`` is the share of the step done, in ``[0, 1]``.

Steps of a cycle, in order: ``"embed"`` (embed mode: computing the pool's features, once),
``"train"``, ``"features"`` (finetune mode: the new trunk's features of the pool),
``"score"``; then exactly one of ``"done"`` (the cycle's results are installed) or
``"failed"`` (it raised or was cancelled; see the last report), each with fraction 1."""


class CycleCancelled(RuntimeError):
    """Raised inside a long step once its :class:`CancelToken` has been cancelled."""


class CancelToken:
    """A thread-safe flag that a long step polls between batches.

    Examples
    --------
    >>> token = CancelToken()
    >>> token.cancelled
    False
    >>> token.cancel()
    >>> token.cancelled
    True
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the step holding this token to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` has been called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`CycleCancelled` if :meth:`cancel` has been called."""
        if self._event.is_set():
            raise CycleCancelled("the cycle was cancelled")


def report(progress: Optional[ProgressCallback], step: str, fraction: float) -> None:
    """Call ``progress(step, fraction)`` if a callback is given, clamping to ``[0, 1]``."""
    if progress is not None:
        progress(step, min(1.0, max(0.0, float(fraction))))


def check(token: Optional[CancelToken]) -> None:
    """Raise :class:`CycleCancelled` if ``token`` is given and cancelled."""
    if token is not None:
        token.raise_if_cancelled()
