"""Where the heavy passes over the pool run: this process (``"local"``) or a Ray cluster (``"ray"``).

The passes are the trunk's features of every pool item (:class:`EmbedTask`) and the head's
posterior over them (:class:`ScoreTask`). An engine maps a task over chunks of the pool; the
learner writes the results into its cache. The widget and the label store stay in the notebook.
"""

from __future__ import annotations

from typing import Union

from .local import Engine, EngineError, LocalEngine
from .tasks import EMBED_BATCH, EmbedTask, ScoreTask, chunk_ranges, embed_batch

__all__ = ["ENGINES", "EMBED_BATCH", "EmbedTask", "Engine", "EngineError", "LocalEngine", "ScoreTask", "embed_batch",
           "chunk_ranges", "create_engine"]

ENGINES = ("local", "ray")


def create_engine(engine: Union[str, Engine, None] = "local") -> Engine:
    """An :class:`Engine` from ``"local"`` (the default), ``"ray"`` (a
    :class:`~alwidget.engine.ray_engine.RayEngine` with its defaults) or an engine instance."""
    if engine is None or engine == "local":
        return LocalEngine()
    if isinstance(engine, Engine):
        return engine
    if engine == "ray":
        from .ray_engine import RayEngine

        return RayEngine()
    raise ValueError(f"engine must be one of {ENGINES} or an Engine (e.g. RayEngine(address=...)), got {engine!r}")
