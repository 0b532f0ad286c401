"""How much memory the process keeps from glibc's allocator (Linux with glibc only): a cap on its
arenas, and free pages handed back when a long step ends.

A learner runs several threads at once: the cycle, the representation builds, the slow cycle,
and torch's own workers. glibc gives each thread that allocates its own arena (up to eight per
core), and memory freed in one arena is kept for that arena rather than returned to the system,
so the kernel's resident set grows with the number of threads that ever allocated. Two arenas
took 66 MB off the peak of the quickstart's cells run as one script (1,549 → 1,483 MB), and the
passes and the fast cycle ran no slower than the run-to-run noise here (BENCHMARKS.md, "The
quickstart kernel's memory").

The setting is process-wide. It is left alone when ``MALLOC_ARENA_MAX`` is set (glibc then
follows it) and when ``ALWIDGET_MALLOC_ARENAS=0``; ``ALWIDGET_MALLOC_ARENAS=N`` asks for ``N``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from typing import Optional

__all__ = ["DEFAULT_ARENAS", "limit_malloc_arenas", "out_of_memory", "release_free_memory"]

DEFAULT_ARENAS = 2
"""Arenas asked for when nothing says otherwise."""

_M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h
_lock = threading.Lock()
_applied: Optional[int] = None


def limit_malloc_arenas(n: Optional[int] = None) -> Optional[int]:
    """Cap glibc's malloc arenas for this process, once; returns the cap in force (``None``: left alone).

    Parameters
    ----------
    n : int, optional
        Arenas to allow (default: ``$ALWIDGET_MALLOC_ARENAS``, else :data:`DEFAULT_ARENAS`);
        ``0`` leaves the allocator alone.

    Returns
    -------
    int or None
        The cap this process now runs with, or ``None`` when nothing was changed: not Linux with
        glibc, ``MALLOC_ARENA_MAX`` set by the user, ``0`` asked for, or ``mallopt`` refused.
    """
    global _applied
    if n is None:
        raw = os.environ.get("ALWIDGET_MALLOC_ARENAS", "").strip()
        try:
            n = int(raw) if raw else DEFAULT_ARENAS
        except ValueError:
            raise ValueError(f"ALWIDGET_MALLOC_ARENAS must be a whole number of arenas (0: leave malloc "
                             f"alone), got {raw!r}") from None
    if n < 0:
        raise ValueError(f"malloc arenas must be ≥ 0 (0: leave malloc alone), got {n}")
    with _lock:
        if _applied is not None:
            return _applied
        if n == 0 or not sys.platform.startswith("linux") or os.environ.get("MALLOC_ARENA_MAX"):
            return None
        mallopt = _libc_function("mallopt", (ctypes.c_int, ctypes.c_int))
        if mallopt is None:  # musl and other C libraries: nothing to tune
            return None
        if mallopt(_M_ARENA_MAX, int(n)) != 1:
            return None
        _applied = int(n)
        return _applied


_trim = None  # glibc's malloc_trim, looked up once (False: not available)


def release_free_memory() -> bool:
    """Hand the allocator's free pages back to the system (glibc's ``malloc_trim(0)``).

    Called when a representation build, a cycle or a slow cycle ends: their buffers are freed,
    but glibc keeps free pages inside its heaps, so the kernel's resident set stays at the step's
    peak and the next step adds to it. On the quickstart (plain script of its cells, with the
    Lite0 weights) the peak fell from 1,483 to 1,430 MB and the resident set at the end from 1,372
    to 1,170 MB. Takes milliseconds; returns whether anything was returned (always ``False``
    without glibc).
    """
    global _trim
    if _trim is None:
        _trim = (_libc_function("malloc_trim", (ctypes.c_size_t,)) if sys.platform.startswith("linux")
                 else None) or False
    return bool(_trim(0)) if _trim else False


def _libc_function(name: str, argtypes: tuple):
    """The C library's function ``name`` returning ``int`` (``None``: no such library or function)."""
    try:
        fn = getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = argtypes, ctypes.c_int
    return fn


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed allocation: Python's ``MemoryError`` or torch's CPU allocator error."""
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))
