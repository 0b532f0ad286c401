"""The learner's handles on its recipe: the pass over the pool, the representations, the slow cycles.

:class:`RecipeControls` is mixed into :class:`~alwidget.ActiveLearner`; each property or method
hands over to ``self.recipe`` (:mod:`alwidget.recipes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .._threads import torch_threads
from ..progress import CancelToken, ProgressCallback

if TYPE_CHECKING:
    from ..model.backbone import BackboneInfo
    from ..representation import PoolRepresentation, Representation, SlowCycles
    from ..representation.candidates import RepresentationSet
    from ..semi.choice import RepresentationChoice

__all__ = ["RecipeControls"]


class RecipeControls:
    """``prepare``, the representations and the slow cycles' settings and state."""

    @property
    def representations(self) -> Optional[RepresentationSet]:
        """The candidate representations (``semi`` mode; ``None`` otherwise): ``.status()``,
        ``.ready()``, ``.members``, ``.cancel()``."""
        return self.recipe.candidates

    @property
    def representation_choice(self) -> Optional[RepresentationChoice]:
        """Which representation the labels chose last, with the cross-validated figures and why."""
        return self.recipe.choice

    @property
    def pretrained_info(self) -> Optional[BackboneInfo]:
        """The pretrained candidate's backbone (``semi`` mode with weights; ``None`` otherwise)."""
        return self.recipe.pretrained_info

    def prepare(self, progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> None:
        """Run the pass over the pool now, on this thread, instead of inside the first cycle:
        ``embed`` mode computes the frozen trunk's features of every item (a streaming pass in
        chunks when the pool is planned past memory: see :attr:`memory_plan`; cancelled or
        killed, it resumes where it stopped); ``semi`` mode builds every candidate representation.
        ``finetune`` mode reads and resizes every image.

        ``progress(step, fraction)`` reports it; ``cancel`` stops it between chunks (raises
        :class:`~alwidget.progress.CycleCancelled`)."""
        with torch_threads(self.num_threads):
            self.recipe.prepare(self, progress, cancel)

    @property
    def representation(self) -> Optional[PoolRepresentation]:
        """The trunk learned on this machine (``semi`` mode, the self-supervised or given trunk;
        ``None`` otherwise or when ``representation`` names another candidate): ``.status()``,
        ``.ready``, ``.cancel()``, ``.result()``. Every candidate: :attr:`representations`."""
        return self.recipe.representation

    def refine(self, progress: Optional[ProgressCallback] = None) -> Representation:
        """Run the slow cycle now, on this thread: fine-tune the trunk on the current labels (and
        the latest model's confident pseudo-labels), re-embed the pool; the next fast cycle uses
        it. ``semi`` mode only. Returns the new :class:`~alwidget.representation.Representation`."""
        return self.recipe.refine(self, progress)

    @property
    def refine_every(self) -> Optional[int]:
        """Training labels between slow cycles (``None``: off, or a mode without one); settable
        in ``semi`` mode."""
        return None if self.recipe.slow_cycles is None else self.recipe.slow_cycles.every

    @refine_every.setter
    def refine_every(self, value: Optional[int]) -> None:
        self._slow_cycles().every = value

    @property
    def slow_cycle(self) -> str:
        """Where a due slow cycle runs, ``"background"`` or ``"inline"``; settable in ``semi`` mode."""
        return "background" if self.recipe.slow_cycles is None else self.recipe.slow_cycles.where

    @slow_cycle.setter
    def slow_cycle(self, value: str) -> None:
        self._slow_cycles().where = value

    def _slow_cycles(self) -> SlowCycles:
        if self.recipe.slow_cycles is None:
            raise AttributeError(f"mode={self.mode!r} has no slow cycle (mode='semi' has)")
        return self.recipe.slow_cycles

    @property
    def refining(self) -> bool:
        """Whether a background slow cycle (fine-tuning or adapting) is running."""
        return self.recipe.slow_cycles is not None and self.recipe.slow_cycles.running

    @property
    def refine_status(self) -> str:
        """One line: what the slow cycle(s) did last (or why one failed)."""
        return "" if self.recipe.slow_cycles is None else self.recipe.slow_cycles.status
