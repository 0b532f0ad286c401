"""Several representations of one pool, built one after another in the background.

The learner keeps a :class:`RepresentationSet`: the candidates the labels choose from (see
:mod:`alwidget.semi.choice`), e.g. principal components of the pixels (seconds), a pretrained
trunk's features (a minute or a few), a self-supervised trunk (minutes). One thread builds them
in ``build_order`` — cheapest first, so a usable representation exists within seconds and the
stronger ones arrive while the person labels — each with its own cache, progress and cancel
(:class:`~alwidget.representation.builder.PoolRepresentation`). Builds run one at a time: on a
CPU two at once only compete for the same cores.
"""

from __future__ import annotations

import threading
from typing import Callable, Dict, List, Mapping, Optional, Sequence

from .._shutdown import exiting
from ..progress import CancelToken, CycleCancelled, ProgressCallback
from .builder import PoolRepresentation, Representation

__all__ = ["RepresentationSet"]


class RepresentationSet:
    """Candidate representations of one pool, built in the background in ``build_order``.

    Parameters
    ----------
    members : mapping of str to PoolRepresentation
        The candidates by name, in order of preference (used when the labels cannot decide yet).
    build_order : sequence of str, optional
        Which to build first (default: the order of ``members``).
    """

    def __init__(self, members: Mapping[str, PoolRepresentation], build_order: Optional[Sequence[str]] = None) -> None:
        if not members:
            raise ValueError("a representation set needs at least one candidate")
        self.members: Dict[str, PoolRepresentation] = dict(members)
        self.preference: List[str] = list(self.members)
        self.build_order: List[str] = list(build_order or self.preference)
        unknown = set(self.build_order) ^ set(self.members)
        if unknown:
            raise ValueError(f"build_order must name every candidate once, got {self.build_order} for {self.preference}")
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.on_ready: List[Callable[[str, Representation], None]] = []
        """Called as ``hook(name, representation)`` on the build thread once each candidate is
        ready (a cached one too), before the next build starts: work that every candidate needs
        before the person's first cycle (the learner builds its kNN graph there)."""
        self._announced: set = set()

    # ------------------------------------------------------------------ state
    def ready(self) -> Dict[str, Representation]:
        """The finished candidates ``{name: Representation}``, in order of preference."""
        return {name: m.result() for name, m in self.members.items() if m.ready}

    @property
    def all_ready(self) -> bool:
        """Whether every candidate is built."""
        return all(m.ready for m in self.members.values())

    @property
    def running(self) -> bool:
        """Whether the background builds are under way."""
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> str:
        """One line per candidate, joined by ``"; "``."""
        return "; ".join(m.status() for m in self.members.values())

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start building the candidates one after another (no-op while running or when all are ready)."""
        with self._lock:
            unannounced = self.on_ready and not self._announced >= set(self.members)
            if self.running or (self.all_ready and not unannounced) or exiting():
                return
            self._stop.clear()
            first = next((m for name in self.build_order if not (m := self.members[name]).ready), None)
            if first is not None:
                first.start()  # at once: status() says "learning" from the first moment
            self._thread = threading.Thread(target=self._run, name="alwidget-representations", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        for name in self.build_order:
            member = self.members[name]
            with self._lock:  # a cancel() either sees this member running or stops the loop first
                if self._stop.is_set() or exiting():
                    return
                started = not member.ready
                if started:
                    member.start()
            if started:
                member.wait()
            # a failed candidate is reported by its status and skipped; the others still come
            if member.ready and name not in self._announced:
                self._announced.add(name)
                for hook in list(self.on_ready):
                    if self._stop.is_set() or exiting():
                        return
                    try:
                        hook(name, member.result())
                    except Exception:  # the cycle does that work itself when it needs it
                        pass

    def cancel(self) -> bool:
        """Stop after the running build (which is cancelled at its next batch); returns whether
        anything was running."""
        with self._lock:
            self._stop.set()
            cancelled = [m.cancel() for m in self.members.values()]
        return any(cancelled) or self.running

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the background builds end (or ``timeout`` seconds); returns whether they ended."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        threads = [self._thread] + [m._thread for m in self.members.values()]
        for thread in threads:  # the driver, then each build's own thread (it outlives its done flag briefly)
            if thread is not None:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t is not None and t.is_alive() for t in threads)

    def _wait_until(self, done, progress: Optional[ProgressCallback], cancel: Optional[CancelToken],
                    poll_s: float = 0.1) -> Dict[str, Representation]:
        self.start()
        if progress is not None:
            for m in self.members.values():
                m.callbacks.append(progress)
        try:
            while not done():
                if cancel is not None and cancel.cancelled:
                    raise CycleCancelled("the cycle was cancelled while the representations were being built")
                if not self.running:
                    break
                self._thread.join(poll_s)
        finally:
            if progress is not None:
                for m in self.members.values():
                    if progress in m.callbacks:
                        m.callbacks.remove(progress)
        ready = self.ready()
        if not ready:
            raise RuntimeError("every representation failed (the next cycle tries again): " + self.status())
        return ready

    def wait_any(self, progress: Optional[ProgressCallback] = None,
                 cancel: Optional[CancelToken] = None) -> Dict[str, Representation]:
        """Wait until at least one candidate is ready; returns the ready ones.

        Raises
        ------
        CycleCancelled
            ``cancel`` was set while waiting (the builds go on).
        RuntimeError
            Every candidate failed (the message says why); the next call builds them again.
        """
        return self._wait_until(lambda: any(m.ready for m in self.members.values()), progress, cancel)

    def wait_all(self, progress: Optional[ProgressCallback] = None,
                 cancel: Optional[CancelToken] = None) -> Dict[str, Representation]:
        """Wait until every candidate is built (a failed one is left out: its status says why)
        and return the ready ones. Simulations use this, so that a seed gives one curve."""
        return self._wait_until(lambda: self.all_ready, progress, cancel)
