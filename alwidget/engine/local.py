"""Engines run the heavy passes over a pool: here, in the notebook's process."""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, Optional, Sequence, Tuple

import numpy as np

from ..progress import CancelToken, ProgressCallback, check, report

__all__ = ["Engine", "LocalEngine", "EngineError"]


class EngineError(RuntimeError):
    """A pass over the pool failed on the engine (a worker died for good, the cluster cannot be
    reached, a worker cannot read the pool's files). Chunks finished before the failure stay in
    the cache; none is half-written."""


class Engine:
    """Runs a task over chunks of a pool.

    Subclasses implement :meth:`map_rows` (tasks that read pool rows, e.g.
    :class:`~alwidget.engine.tasks.EmbedTask`) and :meth:`map_arrays` (tasks on arrays the
    notebook holds, e.g. :class:`~alwidget.engine.tasks.ScoreTask`). Results come back as they
    finish, not necessarily in order; the caller writes each one where it belongs.
    """

    name = ""

    def map_rows(self, task: Any, ranges: Sequence[Tuple[int, int, int]], *, tensors: Any = None,
                 progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
                 step: str = "embed") -> Iterator[Tuple[int, Dict[str, Any]]]:
        """``(chunk, task(start, stop))`` for each ``(chunk, start, stop)`` in ``ranges``."""
        raise NotImplementedError

    def map_arrays(self, task: Any, items: Iterable[Tuple[int, np.ndarray]], n_items: int, *,
                   progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
                   step: str = "score") -> Iterator[Tuple[int, Dict[str, Any]]]:
        """``(chunk, task(array))`` for each ``(chunk, array)`` in ``items`` (``n_items`` of them)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line: where the passes run."""
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LocalEngine(Engine):
    """Every pass in this process, on the calling thread, chunk after chunk (the default)."""

    name = "local"

    def map_rows(self, task, ranges, *, tensors=None, progress=None, cancel=None, step="embed"):
        ranges = list(ranges)
        for i, (chunk, start, stop) in enumerate(ranges):
            check(cancel)
            report(progress, step, i / max(1, len(ranges)))
            yield chunk, task(start, stop, tensors=tensors, cancel=cancel)
        report(progress, step, 1.0)

    def map_arrays(self, task, items, n_items, *, progress=None, cancel=None, step="score"):
        for i, (chunk, array) in enumerate(items):
            check(cancel)
            report(progress, step, i / max(1, n_items))
            yield chunk, task(array)
        report(progress, step, 1.0)

    def describe(self) -> str:
        return "local (this process)"
