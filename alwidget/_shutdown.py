"""Background work ends before the interpreter does.

A learner runs work on threads of its own: the representation builds, the slow cycle, the
widget's label check, a cycle started with ``retrain_async``. They are daemon threads, so a
script that ends without ``close()`` does not wait for them; but Python lets daemon threads run
until it finalises, and one still inside torch is then torn down mid-call: the process aborts
with ``terminate called without an active exception`` (exit status 134). Each owner of such work
keeps a :class:`Background`; when the interpreter exits — before it joins its own threads, so a
cycle waiting on a build ends too — :func:`stop_all` cancels every watched :class:`Background`
(each loop checks its token at the next step or batch) and joins the package's threads with one
bound (``ALWIDGET_EXIT_WAIT`` seconds, default :data:`EXIT_WAIT_S`). Labels are written to the
store as they are given, so nothing acknowledged is lost; a cancelled build keeps its checkpoint
and a cancelled slow cycle leaves the cache as it was (only finished results are written, by a
rename).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from typing import Any, Dict, List, Optional

__all__ = ["Background", "FutureWork", "watch", "stop_all", "exiting", "exit_wait", "EXIT_WAIT_S", "THREAD_PREFIX"]

EXIT_WAIT_S = 60.0
"""Default seconds the interpreter's exit waits for cancelled background work (one bound for all of
it). A cancelled build or slow cycle stops at its next batch or step: well under a second here."""

THREAD_PREFIX = "alwidget-"
"""Every thread the package starts is named with this prefix (the exit joins them by name)."""

_IDLE_WORKERS = ("alwidget-cycle",)
"""Thread-pool workers that idle between tasks (their pool's own exit hook ends them; their task
is waited for through its :class:`Background`)."""

_watched: "weakref.WeakSet[Background]" = weakref.WeakSet()
_installed = False
_exiting = False
_install_lock = threading.Lock()


class Background:
    """The background work of one owner (a learner), cancelled together.

    Parts are registered by name with :meth:`add`: anything with a ``cancel()`` method, and
    optionally ``join(timeout) -> bool``. Registering a name again replaces the part (e.g. the
    current cycle's handle). The object holds its parts, never its owner, so it can be the
    owner's ``weakref.finalize`` callback.
    """

    def __init__(self) -> None:
        self._parts: Dict[str, Any] = {}
        self._lock = threading.Lock()

    def add(self, name: str, part: Any, *, weak: bool = False) -> None:
        """Register ``part`` (with ``cancel()``) under ``name``, replacing what was there.

        ``weak=True`` holds it weakly: for a part that holds the owner (a widget's label checker
        holds its learner), which would otherwise keep the owner alive through its own
        finalizer."""
        if not callable(getattr(part, "cancel", None)):
            raise TypeError(f"a background part needs a cancel() method, got {type(part).__name__}")
        with self._lock:
            self._parts[name] = weakref.ref(part) if weak else part

    def _live_parts(self) -> List[Any]:
        with self._lock:
            held = list(self._parts.values())
        parts = [p() if isinstance(p, weakref.ref) else p for p in held]
        return [p for p in parts if p is not None]

    def cancel(self) -> None:
        """Ask every part to stop; does not wait."""
        parts = self._live_parts()
        for part in parts:
            try:
                part.cancel()
            except Exception:  # one failing part must not keep the others running
                pass

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for the parts that can be joined, all within ``timeout`` seconds; returns whether
        they all ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        parts = self._live_parts()
        ended = True
        for part in parts:
            join = getattr(part, "join", None)
            if join is None:
                continue
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ended = bool(join(left)) and ended
            except Exception:
                pass
        return ended

    def stop(self, timeout: Optional[float] = None) -> bool:
        """:meth:`cancel`, then :meth:`join` within ``timeout`` seconds."""
        self.cancel()
        return self.join(timeout)


class FutureWork:
    """A :class:`Background` part for work submitted to an executor: ``cancel()`` sets its
    cancel token, ``join(timeout)`` waits for its future (whatever it ends with)."""

    def __init__(self, future: Any, token: Any) -> None:
        self.future = future
        self.token = token

    def cancel(self) -> None:
        """Set the work's cancel token (it stops at its next check)."""
        self.token.cancel()

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait up to ``timeout`` seconds for the work to end; returns whether it did."""
        from concurrent.futures import wait

        return not wait([self.future], timeout=timeout).not_done


def exit_wait() -> float:
    """Seconds the exit waits for background work: ``$ALWIDGET_EXIT_WAIT`` or :data:`EXIT_WAIT_S`."""
    raw = os.environ.get("ALWIDGET_EXIT_WAIT", "").strip()
    if not raw:
        return EXIT_WAIT_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"ALWIDGET_EXIT_WAIT must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"ALWIDGET_EXIT_WAIT must be 0 or more seconds, got {raw!r}")
    return value


def exiting() -> bool:
    """Whether the interpreter is exiting (no new background work is started then)."""
    return _exiting


def watch(background: Background) -> None:
    """Have :func:`stop_all` stop ``background`` when the interpreter exits (held weakly)."""
    _install()
    _watched.add(background)


def _own_threads() -> List[threading.Thread]:
    me = threading.current_thread()
    return [t for t in threading.enumerate()
            if t is not me and t.is_alive() and t.name.startswith(THREAD_PREFIX)
            and not t.name.startswith(_IDLE_WORKERS)]


def stop_all(timeout: Optional[float] = None) -> List[str]:
    """Cancel every watched :class:`Background` and wait for the package's threads.

    Parameters
    ----------
    timeout : float, optional
        One bound in seconds for all of it (default :func:`exit_wait`).

    Returns
    -------
    list of str
        Names of the package's threads still running when the bound ran out (empty: all ended).
    """
    timeout = exit_wait() if timeout is None else float(timeout)
    deadline = time.monotonic() + timeout
    watched = list(_watched)
    for background in watched:
        background.cancel()
    for background in watched:  # a cycle may start a slow cycle as it ends: wait for those first
        background.join(max(0.0, deadline - time.monotonic()))
    for background in watched:  # ... and cancel what they started
        background.cancel()
    while True:  # threads of owners already collected (cancelled by their finalizer) too
        alive = _own_threads()
        left = deadline - time.monotonic()
        if not alive or left <= 0:
            return [t.name for t in alive]
        alive[0].join(min(left, 0.5))


def _at_exit() -> None:
    global _exiting
    _exiting = True
    try:
        still = stop_all()
    except Exception as exc:  # never turn an exit into a traceback
        print(f"alwidget: stopping background work at exit failed: {exc}", file=sys.stderr)
        return
    if still:
        print(f"alwidget: background work still running after {exit_wait():.0f} s at exit "
              f"({', '.join(still)}); the process may abort. Call learner.close() before the end "
              "of a script, or raise ALWIDGET_EXIT_WAIT.", file=sys.stderr)


def _install() -> None:
    """Register :func:`_at_exit` once: with ``threading``'s exit hooks where Python has them (they
    run before it joins its own threads and before ``concurrent.futures`` waits for its workers),
    else with :mod:`atexit`."""
    global _installed
    with _install_lock:
        if _installed:
            return
        register = getattr(threading, "_register_atexit", None)
        try:
            if register is None:
                raise RuntimeError
            register(_at_exit)
        except RuntimeError:  # no such hook, or the interpreter is already shutting down
            atexit.register(_at_exit)
        _installed = True
