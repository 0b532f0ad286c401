"""The two figures are created once and their data change in place."""

from __future__ import annotations

import math

import numpy as np

from alwidget.report import CycleReport, uncertainty_histogram
from alwidget.simulate import SimulationRecord
from alwidget.ui.plots import (ACCURACY_TRACES, UNCERTAINTY_TRACES, accuracy_figure, baseline_curve,
                               labeling_figure, panel_title, trace, uncertainty_figure, update_accuracy,
                               update_uncertainty)


def _report(cycle, n, acc, ci, u=None, labeled=None, error=None):
    hist = None
    if u is not None:
        hist = uncertainty_histogram(np.asarray(u), np.asarray(labeled))
    return CycleReport(cycle=cycle, n_labels=n, n_validation=20, accuracy=acc, accuracy_ci=ci, histogram=hist,
                       error=error)


def test_uncertainty_histogram_updates_in_place_with_bands():
    fig = uncertainty_figure()
    traces = fig.data
    assert not update_uncertainty(fig, [])
    u = np.array([0.05, 0.1, 0.3, 0.9, 0.95, 0.97])
    lab = np.array([True, False, False, False, False, True])
    assert update_uncertainty(fig, [_report(1, 2, 0.5, (0.3, 0.7), u, lab)])
    assert fig.data[0] is traces[0] and fig.data[1] is traces[1]
    assert sum(fig.data[0].y) == 4 and sum(fig.data[1].y) == 2
    assert [a.text for a in fig.layout.annotations] == ["easy 1", "medium 1", "hard 2"]
    assert "cycle 1" in fig.layout.title.text
    # a failed cycle afterwards does not hide the last histogram
    update_uncertainty(fig, [_report(1, 2, 0.5, (0.3, 0.7), u, lab), _report(2, 2, math.nan, (0, 0), error="boom")])
    assert "cycle 1" in fig.layout.title.text
    shapes = fig.layout.shapes
    assert [(s.x0, s.x1) for s in shapes] == [(0.0, 0.2), (0.2, 0.5), (0.5, 1.0)]


def test_accuracy_curve_with_interval_and_baseline():
    fig = accuracy_figure()
    reports = [_report(1, 10, 0.5, (0.3, 0.7)), _report(2, 20, 0.7, (0.5, 0.85)),
               _report(3, 30, math.nan, (math.nan, math.nan), error="failed"), _report(4, 30, 0.8, (0.6, 0.9))]
    base = [SimulationRecord("random", s, n, 0.0, acc, 1.0)
            for s, n, acc in [(0, 10, 0.4), (1, 10, 0.5), (0, 20, 0.55), (1, 20, 0.65)]]
    assert update_accuracy(fig, reports, base)
    assert list(fig.data[2].x) == [10, 20, 30] and list(fig.data[2].y) == [0.5, 0.7, 0.8]
    assert list(fig.data[1].y) == [0.3, 0.5, 0.6] and list(fig.data[0].y) == [0.7, 0.85, 0.9]
    np.testing.assert_allclose(fig.data[2].error_y.array, [0.2, 0.15, 0.1])
    np.testing.assert_allclose(fig.data[2].error_y.arrayminus, [0.2, 0.2, 0.2])
    assert list(fig.data[5].x) == [10, 20]
    np.testing.assert_allclose(fig.data[5].y, [0.45, 0.6])
    np.testing.assert_allclose(fig.data[4].y, [0.4, 0.55])
    assert "80.0%" in fig.layout.title.text


def test_baseline_curve_accepts_pairs_and_reports():
    assert baseline_curve([(10, 0.5), (10, 0.7)]) == ([10], [0.6], [0.5], [0.7])
    x, m, lo, hi = baseline_curve([_report(1, 5, 0.4, (0, 1)), _report(2, 9, 0.6, (0, 1))])
    assert x == [5, 9] and m == [0.4, 0.6]


def test_a_page_that_connects_late_reads_the_current_data():
    """Voila connects after the notebook ran: the synced state must hold the updates, not the empty start."""
    fig = accuracy_figure()
    assert list(fig._widget_data[2]["x"]) == []
    update_accuracy(fig, [_report(1, 10, 0.5, (0.3, 0.7)), _report(2, 20, 0.7, (0.5, 0.85))])
    state = fig.get_state()
    assert list(state["_widget_data"][2]["x"]) == [10, 20] and list(state["_widget_data"][2]["y"]) == [0.5, 0.7]
    assert "70.0%" in state["_widget_layout"]["title"]["text"]
    hist = uncertainty_figure()
    u, lab = np.array([0.05, 0.3, 0.9]), np.array([False, False, True])
    update_uncertainty(hist, [_report(1, 1, 0.5, (0.3, 0.7), u, lab)])
    assert sum(hist.get_state()["_widget_data"][0]["y"]) == 2


def test_the_widget_figure_holds_both_panels_and_updates_like_the_single_ones():
    fig = labeling_figure()
    assert [t.name for t in fig.data] == list(UNCERTAINTY_TRACES) + list(ACCURACY_TRACES)
    assert {t.xaxis for t in fig.data[:2]} == {"x"} and {t.xaxis for t in fig.data[2:]} == {"x2"}
    u = np.array([0.05, 0.1, 0.3, 0.9, 0.95, 0.97])
    lab = np.array([True, False, False, False, False, True])
    reports = [_report(1, 2, 0.5, (0.3, 0.7), u, lab), _report(2, 6, 0.7, (0.5, 0.85), u, lab)]
    single_u, single_a = uncertainty_figure(), accuracy_figure()
    for f in (fig, single_u):
        assert update_uncertainty(f, reports)
    for f in (fig, single_a):
        assert update_accuracy(f, reports, [(2, 0.4), (6, 0.6)])
    for name in UNCERTAINTY_TRACES:
        assert list(trace(fig, name).y) == list(trace(single_u, name).y)
    for name in ACCURACY_TRACES:
        assert list(trace(fig, name).y) == list(trace(single_a, name).y)
    bands = {a.name: a.text for a in fig.layout.annotations if a.name.startswith("band ")}
    assert bands == {"band easy": "easy 1", "band medium": "medium 1", "band hard": "hard 2"}
    assert panel_title(fig, "uncertainty") == panel_title(single_u, "uncertainty") == "Pool uncertainty after cycle 2"
    assert panel_title(fig, "accuracy") == panel_title(single_a, "accuracy") and "70.0%" in panel_title(fig, "accuracy")
