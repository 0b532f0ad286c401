"""The notebook face of alwidget: :class:`LabelingWidget` (ipywidgets + plotly, no custom JavaScript).

Modules: :mod:`~alwidget.ui.widget` (layout, toolbar, background-cycle wiring),
:mod:`~alwidget.ui.cards` (one card per image), :mod:`~alwidget.ui.plots` (the two figures),
:mod:`~alwidget.ui.keyboard` (which key does what).
"""

from .widget import LabelingWidget

__all__ = ["LabelingWidget"]
