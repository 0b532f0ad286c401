"""The notebook face of alwidget: :class:`LabelingWidget`.

Modules: :mod:`~alwidget.ui.widget` (layout, toolbar, background-cycle wiring),
:mod:`~alwidget.ui.board` (the labeling board: one anywidget whose ES module ``board.js`` and
stylesheet ``board.css`` ship in this folder and travel inline), :mod:`~alwidget.ui.cards`
(one card's state and thumbnail), :mod:`~alwidget.ui.plots` (the two plots, as panels of one plotly figure),
:mod:`~alwidget.ui.keyboard` (which key does what).
"""

from .widget import LabelingWidget

__all__ = ["LabelingWidget"]
