"""alwidget: active-learning image labeling in a Jupyter notebook, and headless.

Public names: :class:`ImagePool`, :class:`LabelStore`, :class:`ActiveLearner`, :class:`Backbone`,
:class:`CycleReport`, :class:`LabelingWidget`, and the modules :mod:`alwidget.datasets`,
:mod:`alwidget.simulate`, :mod:`alwidget.strategies`, :mod:`alwidget.uncertainty`.
"""

from .data.pool import ImagePool
from .data.store import LabelStore
from .learner import ActiveLearner
from .model.backbone import Backbone
from .report import CycleReport
from . import datasets, strategies, uncertainty

__version__ = "0.1.0"

__all__ = ["ImagePool", "LabelStore", "ActiveLearner", "Backbone", "CycleReport", "LabelingWidget", "datasets",
           "simulate", "strategies", "uncertainty", "__version__"]


def __getattr__(name: str):
    # the widget and the simulation runner load lazily: a headless script never imports ipywidgets
    if name == "LabelingWidget":
        from .ui import LabelingWidget

        return LabelingWidget
    if name == "simulate":
        import importlib

        return importlib.import_module(".simulate", __name__)
    raise AttributeError(f"module 'alwidget' has no attribute {name!r}")
