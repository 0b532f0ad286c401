"""The widget's two plots, created once and updated in place after every cycle.

* :func:`update_uncertainty`: the histogram of pool uncertainty (normalised entropy) with the
  easy / medium / hard bands, labelled items overlaid.
* :func:`update_accuracy`: validation accuracy versus the number of training labels with its
  95 % interval, and a baseline (random sampling) when given.
* :func:`update_forecast`: on the accuracy panel, the learning curve projected to a target
  accuracy (dashed) with its bootstrap band, and the target as a dotted line.

The widget shows both as the two panels of one figure (:func:`labeling_figure`);
:func:`uncertainty_figure` and :func:`accuracy_figure` make each as a figure of its own.

The update functions take the learner's list of :class:`~alwidget.report.CycleReport` and
only assign trace data inside ``fig.batch_update()``: the figure is never re-created, so it
does not flicker, and it may be called from the learner's worker thread.
"""

from __future__ import annotations

import math
from copy import deepcopy
from typing import Any, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import plotly.graph_objects as go

from ..report import BAND_EDGES, CycleReport, HISTOGRAM_BINS
from .cards import BAND_COLOURS

__all__ = [
    "ACCURACY_TRACES",
    "UNCERTAINTY_TRACES",
    "accuracy_figure",
    "keep_for_late_pages",
    "labeling_figure",
    "panel_title",
    "trace",
    "baseline_curve",
    "uncertainty_figure",
    "update_accuracy",
    "update_forecast",
    "update_uncertainty",
]

_BANDS = (("easy", 0.0, BAND_EDGES[0]), ("medium", BAND_EDGES[0], BAND_EDGES[1]), ("hard", BAND_EDGES[1], 1.0))
_HEIGHT = 280
_WIDTH = 470


def _figure_widget(*args: Any, **kwargs: Any) -> go.FigureWidget:
    try:
        return go.FigureWidget(*args, **kwargs)
    except ImportError as exc:  # plotly >= 6 renders FigureWidget through anywidget
        raise ImportError(f"{exc}: the widget's plots need it (pip install anywidget)") from exc


UNCERTAINTY_TRACES = ("unlabelled", "labelled")
"""Names of the histogram's traces (bars of unlabelled and of labelled items)."""

ACCURACY_TRACES = ("95% upper", "95% interval", "this session", "baseline upper", "baseline band", "random baseline",
                   "forecast upper", "forecast band", "forecast", "target")
"""Names of the accuracy panel's traces, in order (a band is an upper line and a lower line filled to it)."""


def trace(fig: go.Figure, name: str) -> Any:
    """The trace of ``fig`` called ``name`` (see :data:`UNCERTAINTY_TRACES`, :data:`ACCURACY_TRACES`)."""
    for t in fig.data:
        if t.name == name:
            return t
    raise KeyError(f"no trace named {name!r} in this figure")


def _uncertainty_traces() -> List[Any]:
    width = 1.0 / HISTOGRAM_BINS
    centres = (np.arange(HISTOGRAM_BINS) + 0.5) * width
    return [
        go.Bar(x=centres, y=np.zeros(HISTOGRAM_BINS), width=width, name="unlabelled", marker_color="#5c6bc0",
               hovertemplate="uncertainty %{x:.2f}: %{y} unlabelled<extra></extra>"),
        go.Bar(x=centres, y=np.zeros(HISTOGRAM_BINS), width=width * 0.5, name="labelled", marker_color="#26a69a",
               hovertemplate="uncertainty %{x:.2f}: %{y} labelled<extra></extra>"),
    ]


def _band_decor(xref: str, yref: str) -> Tuple[List[dict], List[dict]]:
    shapes, annotations = [], []
    for name, lo, hi in _BANDS:
        shapes.append(dict(type="rect", xref=xref, yref=yref, x0=lo, x1=hi, y0=0, y1=1, layer="below",
                           line_width=0, fillcolor=BAND_COLOURS[name], opacity=0.10))
        annotations.append(dict(x=(lo + hi) / 2, y=1.0, xref=xref, yref=yref, yanchor="bottom", name=f"band {name}",
                                showarrow=False, text=name, font=dict(color=BAND_COLOURS[name], size=11)))
    return shapes, annotations


def _accuracy_traces() -> List[Any]:
    band = dict(mode="lines", line=dict(width=0), hoverinfo="skip", showlegend=False)
    return [
        go.Scatter(x=[], y=[], name="95% upper", **band),
        go.Scatter(x=[], y=[], name="95% interval", fill="tonexty", fillcolor="rgba(21,101,192,0.18)", **band),
        go.Scatter(x=[], y=[], name="this session", mode="lines+markers", line=dict(color="#1565c0"),
                   error_y=dict(type="data", symmetric=False, array=[], arrayminus=[], color="rgba(21,101,192,0.5)",
                                thickness=1, width=3),
                   hovertemplate="%{x} labels: %{y:.1%}<extra></extra>"),
        go.Scatter(x=[], y=[], name="baseline upper", **band),
        go.Scatter(x=[], y=[], name="baseline band", fill="tonexty", fillcolor="rgba(120,120,120,0.15)", **band),
        go.Scatter(x=[], y=[], name="random baseline", mode="lines", line=dict(color="#757575", dash="dash"),
                   hovertemplate="%{x} labels: %{y:.1%} (random)<extra></extra>"),
        go.Scatter(x=[], y=[], name="forecast upper", **band),
        go.Scatter(x=[], y=[], name="forecast band", fill="tonexty", fillcolor="rgba(230,81,0,0.12)", **band),
        go.Scatter(x=[], y=[], name="forecast", mode="lines", line=dict(color="#e65100", dash="dash"),
                   hovertemplate="%{x:.0f} labels: %{y:.1%} (forecast)<extra></extra>"),
        go.Scatter(x=[], y=[], name="target", mode="lines", line=dict(color="#e65100", dash="dot", width=1),
                   hovertemplate="target %{y:.0%}<extra></extra>"),
    ]


_UNCERTAINTY_TITLE = "Pool uncertainty (no model yet)"
_ACCURACY_TITLE = "Validation accuracy vs labels"


def uncertainty_figure() -> go.FigureWidget:
    """An empty histogram of pool uncertainty with the three bands drawn behind it (a figure of its own).

    Returns
    -------
    plotly.graph_objects.FigureWidget
        Traces: ``[0]`` unlabelled items, ``[1]`` labelled items (overlaid).
    """
    fig = _figure_widget(data=_uncertainty_traces())
    shapes, annotations = _band_decor("x", "paper")
    fig.update_layout(
        title=dict(text=_UNCERTAINTY_TITLE, font_size=13), barmode="overlay", height=_HEIGHT,
        width=_WIDTH,
        margin=dict(l=45, r=10, t=50, b=40), shapes=shapes, annotations=annotations, bargap=0,
        xaxis=dict(title="normalised entropy", range=[0, 1]), yaxis=dict(title="items"),
        legend=dict(orientation="h", y=-0.25, x=0), showlegend=True, uirevision="keep",
    )
    return fig


def labeling_figure() -> go.FigureWidget:
    """Both panels of the widget in one figure: pool uncertainty (left) and accuracy vs labels (right).

    One FigureWidget, not two: each carries its own copy of plotly.js as its ES module, and a
    page that loads two (Voila, on a slow machine) can run past anywidget's start-up limit on
    the second. Update it with :func:`update_uncertainty` and :func:`update_accuracy`; traces
    are found by name (:data:`UNCERTAINTY_TRACES` on the first axes, :data:`ACCURACY_TRACES` on
    the second), panel titles are the annotations named ``"uncertainty title"`` and
    ``"accuracy title"``.

    Returns
    -------
    plotly.graph_objects.FigureWidget
    """
    from plotly.subplots import make_subplots

    fig = _figure_widget(make_subplots(rows=1, cols=2, horizontal_spacing=0.1))
    for t in _uncertainty_traces():
        fig.add_trace(t, row=1, col=1)
    for t in _accuracy_traces():
        fig.add_trace(t, row=1, col=2)
    shapes, annotations = _band_decor("x", "y domain")
    for name, text, x in (("uncertainty title", _UNCERTAINTY_TITLE, 0.225), ("accuracy title", _ACCURACY_TITLE, 0.775)):
        annotations.append(dict(x=x, y=1.13, xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                                showarrow=False, name=name, text=text, font=dict(size=13)))
    fig.update_layout(
        barmode="overlay", bargap=0, height=_HEIGHT + 20, width=2 * _WIDTH,
        margin=dict(l=45, r=10, t=60, b=40), shapes=shapes, annotations=annotations,
        xaxis=dict(title="normalised entropy", range=[0, 1]), yaxis=dict(title="items"),
        xaxis2=dict(title="training labels", rangemode="tozero"),
        yaxis2=dict(title="accuracy", range=[0, 1.02], tickformat=".0%"),
        legend=dict(orientation="h", y=-0.25, x=0), showlegend=True, uirevision="keep",
    )
    return fig


def _set_title(fig: go.Figure, which: str, text: str) -> None:
    for annotation in fig.layout.annotations:
        if annotation.name == f"{which} title":
            annotation.text = text
            return
    fig.layout.title.text = text


def panel_title(fig: go.Figure, which: str) -> str:
    """The title of the ``"uncertainty"`` or ``"accuracy"`` panel of ``fig`` (either kind of figure)."""
    for annotation in fig.layout.annotations:
        if annotation.name == f"{which} title":
            return str(annotation.text)
    return str(fig.layout.title.text)


def keep_for_late_pages(fig: go.FigureWidget) -> None:
    """Copy the figure's current data and layout into the widget state a page reads when it connects.

    A FigureWidget sends its changes to the pages open now; a page that connects later (Voila
    shows the notebook only after every cell ran) reads the synced ``_widget_data`` and
    ``_widget_layout``, which plotly refreshes only when the figure itself is displayed, not
    when it sits inside a box. This refreshes them the way plotly's ``_repr_mimebundle_``
    does; an open page ignores the change (plotly's view redraws from the change messages).
    """
    try:
        fig._widget_layout = deepcopy(fig._layout_obj._props)
        fig._widget_data = deepcopy(fig._data)
    except AttributeError:  # another plotly version: a late page shows the figure as first displayed
        pass


def _latest_histogram(reports: Sequence[CycleReport]) -> Optional[CycleReport]:
    for rep in reversed(list(reports)):
        if rep.error is None and rep.histogram is not None:
            return rep
    return None


def update_uncertainty(fig: go.FigureWidget, reports: Sequence[CycleReport]) -> bool:
    """Show the histogram of the latest successful cycle in ``reports``.

    Parameters
    ----------
    fig : FigureWidget
        Made by :func:`labeling_figure` or :func:`uncertainty_figure`.
    reports : sequence of CycleReport
        The learner's ``history``; failed cycles are skipped.

    Returns
    -------
    bool
        Whether there was a histogram to show.
    """
    rep = _latest_histogram(reports)
    if rep is None:
        return False
    hist = rep.histogram
    edges = np.asarray(hist.edges, dtype=float)
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    bands = hist.bands
    texts = [f"{name} {bands.get(name, 0)}" for name, _, _ in _BANDS]
    unlabelled, labelled = (trace(fig, name) for name in UNCERTAINTY_TRACES)
    band_text = {f"band {name}": text for (name, _, _), text in zip(_BANDS, texts)}
    with fig.batch_update():
        unlabelled.x, unlabelled.y, unlabelled.width = centres, list(hist.unlabeled), widths
        labelled.x, labelled.y, labelled.width = centres, list(hist.labeled), widths * 0.5
        for annotation in fig.layout.annotations:
            if annotation.name in band_text:
                annotation.text = band_text[annotation.name]
        _set_title(fig, "uncertainty", f"Pool uncertainty after cycle {rep.cycle}")
    keep_for_late_pages(fig)
    return True


def accuracy_figure() -> go.FigureWidget:
    """An empty accuracy-versus-labels figure.

    Returns
    -------
    plotly.graph_objects.FigureWidget
        Traces: ``[0]``/``[1]`` upper/lower 95 % interval (a band), ``[2]`` validation accuracy
        (with the interval as error bars, visible from the first point),
        ``[3]``/``[4]`` baseline band, ``[5]`` baseline, ``[6]``/``[7]`` forecast band,
        ``[8]`` forecast, ``[9]`` target (:func:`update_forecast`).
    """
    fig = _figure_widget(data=_accuracy_traces())
    fig.update_layout(
        title=dict(text=_ACCURACY_TITLE, font_size=13), height=_HEIGHT, width=_WIDTH,
        margin=dict(l=45, r=10, t=50, b=40), xaxis=dict(title="training labels", rangemode="tozero"),
        yaxis=dict(title="accuracy", range=[0, 1.02], tickformat=".0%"),
        legend=dict(orientation="h", y=-0.25, x=0), uirevision="keep",
    )
    return fig


def _curve(reports: Sequence[CycleReport]) -> Tuple[List[int], List[float], List[float], List[float]]:
    latest = {}
    for rep in reports:
        if rep.error is None and not math.isnan(rep.accuracy):
            latest[rep.n_labels] = rep
    xs = sorted(latest)
    return (xs, [latest[n].accuracy for n in xs], [latest[n].accuracy_ci[0] for n in xs],
            [latest[n].accuracy_ci[1] for n in xs])


def baseline_curve(records: Iterable[Any], metric: str = "validation") -> Tuple[List[int], List[float], List[float], List[float]]:
    """Mean and min–max band of a baseline run, per number of labels.

    Parameters
    ----------
    records : iterable
        :class:`~alwidget.simulate.SimulationRecord` (several seeds allowed) or
        :class:`~alwidget.report.CycleReport` objects, or ``(n_labels, accuracy)`` pairs.
    metric : {"validation", "test"}
        Which accuracy of simulation records to use.

    Returns
    -------
    x, mean, low, high : lists
    """
    by_n: dict = {}
    for rec in records:
        if isinstance(rec, tuple):
            n, acc = rec
        elif isinstance(rec, CycleReport):
            if rec.error is not None:
                continue
            n = rec.n_labels
            acc = rec.test_accuracy if metric == "test" and rec.test_accuracy is not None else rec.accuracy
        else:
            n = rec.n_labels
            acc = rec.test_accuracy if metric == "test" else getattr(rec, "validation_accuracy", rec.test_accuracy)
        if acc is not None and not math.isnan(float(acc)):
            by_n.setdefault(int(n), []).append(float(acc))
    xs = sorted(by_n)
    return (xs, [float(np.mean(by_n[n])) for n in xs], [float(np.min(by_n[n])) for n in xs],
            [float(np.max(by_n[n])) for n in xs])


def update_accuracy(fig: go.FigureWidget, reports: Sequence[CycleReport], baseline: Optional[Iterable[Any]] = None) -> bool:
    """Redraw the accuracy curve (and the baseline) from ``reports``.

    Parameters
    ----------
    fig : FigureWidget
        Made by :func:`labeling_figure` or :func:`accuracy_figure`.
    reports : sequence of CycleReport
        The learner's ``history``; failed cycles and cycles without validation are skipped;
        for a repeated number of labels the latest cycle counts.
    baseline : iterable, optional
        See :func:`baseline_curve`.

    Returns
    -------
    bool
        Whether there was at least one point to show.
    """
    xs, acc, lo, hi = _curve(reports)
    bx, bmean, blo, bhi = baseline_curve(baseline) if baseline is not None else ([], [], [], [])
    upper, lower, curve, b_upper, b_lower, b_mean = (trace(fig, name) for name in ACCURACY_TRACES[:6])
    with fig.batch_update():
        upper.x, upper.y = xs, hi
        lower.x, lower.y = xs, lo
        curve.x, curve.y = xs, acc
        curve.error_y.array = [h - a for h, a in zip(hi, acc)]
        curve.error_y.arrayminus = [a - lo_ for a, lo_ in zip(acc, lo)]
        b_upper.x, b_upper.y = bx, bhi
        b_lower.x, b_lower.y = bx, blo
        b_mean.x, b_mean.y = bx, bmean
        if xs:
            _set_title(fig, "accuracy", f"Validation accuracy vs labels: {100 * acc[-1]:.1f}% "
                                        f"[{100 * lo[-1]:.0f}–{100 * hi[-1]:.0f}] at {xs[-1]}")
    keep_for_late_pages(fig)
    return bool(xs)


def update_forecast(fig: go.FigureWidget, forecast: Any) -> bool:
    """Draw (or clear, with ``None`` or a forecast without a curve) the projection to the target.

    Parameters
    ----------
    fig : FigureWidget
        Made by :func:`labeling_figure` or :func:`accuracy_figure`.
    forecast : alwidget.trust.Forecast or None
        From :meth:`alwidget.ActiveLearner.forecast`: its ``grid_n`` (labels), ``fit_acc`` and
        ``band_low``/``band_high`` (accuracy in ``[0, 1]``), ``target``.

    Returns
    -------
    bool
        Whether a projection is drawn.
    """
    upper, lower, line, target = (trace(fig, name) for name in ACCURACY_TRACES[6:])
    grid = list(getattr(forecast, "grid_n", None) or [])
    with fig.batch_update():
        line.x, line.y = grid, list(forecast.fit_acc) if grid else []
        has_band = bool(grid) and len(forecast.band_low) == len(grid)
        upper.x, upper.y = (grid, list(forecast.band_high)) if has_band else ([], [])
        lower.x, lower.y = (grid, list(forecast.band_low)) if has_band else ([], [])
        if forecast is not None and grid:
            target.x, target.y = [0, grid[-1]], [forecast.target, forecast.target]
        else:
            target.x, target.y = [], []
    keep_for_late_pages(fig)
    return bool(grid)
