"""Split-conformal calibration of the forecast's range: hand-computed quantiles, coverage, horizons, files."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alwidget.trust.calibration import (MIN_RESIDUALS, ForecastCalibration, conformal_bounds,
                                        default_calibration)
from alwidget.trust.forecast import forecast_labels

N_K = np.array([20.0, 30, 40, 50, 60])
ACC_K = np.array([0.60, 0.65, 0.68, 0.70, 0.72])


def test_conformal_bounds_by_hand():
    # 9 residuals, level 0.8: tail 0.1; upper index ceil(10 * 0.9) = 9, lower floor(10 * 0.1) = 1
    assert conformal_bounds(range(1, 10), 0.8) == (1.0, 9.0)
    # 19 residuals: upper ceil(20 * 0.9) = 18, lower floor(20 * 0.1) = 2
    assert conformal_bounds(list(range(19, 0, -1)), 0.8) == (2.0, 18.0)
    # 4 residuals: upper index ceil(5 * 0.9) = 5 > 4 -> inf; lower floor(0.5) = 0 -> -inf
    assert conformal_bounds([0.1, 0.2, 0.3, 0.4], 0.8) == (-math.inf, math.inf)
    assert conformal_bounds([0.0, math.inf] * 10, 0.5)[1] == math.inf  # a never-reached run widens the top
    assert conformal_bounds([], 0.8) == (-math.inf, math.inf)
    with pytest.raises(ValueError, match="level"):
        conformal_bounds([1.0], 1.0)
    with pytest.raises(ValueError, match="NaN"):
        conformal_bounds([1.0, math.nan], 0.8)


def test_conformal_range_covers_a_fresh_draw_at_its_level():
    """Exchangeable residuals: the range from 30 of them holds the 31st at least 80 % of the time
    (averaged over 4,000 repeats; the guarantee is >= 0.8, and at most 0.8 + 2 / 31)."""
    rng = np.random.default_rng(0)
    hits = 0
    reps = 4000
    for _ in range(reps):
        r = rng.lognormal(0.0, 0.7, size=31) - 1.0  # skewed on purpose
        lo, hi = conformal_bounds(r[:30], 0.8)
        hits += lo <= r[30] <= hi
    assert 0.8 - 0.02 <= hits / reps <= 0.8 + 2 / 31 + 0.02


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=60), st.floats(0.05, 0.95))
def test_bounds_are_ordered_residuals_and_widen_with_the_level(res, level):
    lo, hi = conformal_bounds(res, level)
    assert lo <= hi
    assert (lo in res or lo == -math.inf) and (hi in res or hi == math.inf)
    lo2, hi2 = conformal_bounds(res, min(level + 0.04, 0.99))
    assert lo2 <= lo and hi2 >= hi


def test_horizons_pool_until_a_group_is_large_enough():
    # MIN_RESIDUALS = 40: 3 alone (45); 4 + 5 (24 + 24); 6 + 7 + 8 (16 + 16 + 16); 9 (10) is too
    # few for a group of its own and joins 6-8
    sizes = {3: 45, 4: 24, 5: 24, 6: 16, 7: 16, 8: 16, 9: 10}
    assert MIN_RESIDUALS == 40
    cal = ForecastCalibration({k: tuple(np.linspace(-1, 1, n) * k) for k, n in sizes.items()})
    assert [cal.horizon(k) for k in (1, 3, 4, 5, 6, 9, 30)] == [3, 3, 4, 4, 6, 6, 6]
    assert len(cal.residuals_for(5)) == 48 and len(cal.residuals_for(12)) == 58
    cal = ForecastCalibration({3: tuple(np.linspace(-3, 3, 25))})
    lo, hi = cal.factors(3, 0.8)  # 25 residuals: lower floor(2.6) = 2nd, upper ceil(23.4) = 24th
    grid = np.linspace(-3, 3, 25)
    assert (lo, hi) == pytest.approx((math.exp(grid[1]), math.exp(grid[23])))
    assert cal.shift(3) == pytest.approx(1.0)  # median residual 0
    never = ForecastCalibration({3: (0.5,) * 9 + (math.inf,) * 11})
    assert never.shift(3) == 1.0 and never.factors(3, 0.8)[1] == math.inf  # most never reached: no shift
    wide = ForecastCalibration({3: tuple(grid)}, margin=0.1)  # quantiles at 0.9: floor(1.3) = 1st, ceil(24.7) = 25th
    assert wide.factors(3, 0.8) == pytest.approx((math.exp(grid[0]), math.exp(grid[24])))
    with pytest.raises(ValueError, match="margin"):
        ForecastCalibration({3: (0.0,)}, margin=1.0)


def test_save_and_load_keep_infinite_residuals(tmp_path):
    cal = ForecastCalibration({3: (0.2, -0.1, math.inf), 5: (0.0,)}, curve="log2", source="toy")
    cal.save(tmp_path / "c.json")
    back = ForecastCalibration.load(tmp_path / "c.json")
    assert back == cal and back.residuals[3] == (-0.1, 0.2, math.inf)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="cannot read a forecast calibration"):
        ForecastCalibration.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="at least one horizon"):
        ForecastCalibration({3: ()})


def test_calibrated_forecast_is_the_point_times_the_horizons_factors():
    res = tuple(np.linspace(-0.6, 0.9, 29))  # 29 residuals: lower 3rd, upper 27th at level 0.8
    cal = ForecastCalibration({3: res}, curve="log2")
    raw = forecast_labels(N_K, ACC_K, [100] * 5, 0.8, calibration=None)
    fc = forecast_labels(N_K, ACC_K, [100] * 5, 0.8, calibration=cal)
    assert fc.calibrated and not raw.calibrated
    # the stated number: the fitted curve's answer times exp(median residual), median-unbiased
    assert cal.shift(5) == pytest.approx(math.exp(res[14]))
    assert fc.labels == pytest.approx(raw.labels * math.exp(res[14]), abs=1.5)
    assert fc.low == math.ceil(max(60.0, raw.labels * math.exp(res[2])))
    assert fc.high == math.ceil(raw.labels * math.exp(res[26]))
    # the plotted band crosses the target where the range ends
    grid = np.asarray(fc.grid_n)
    assert np.all(np.asarray(fc.band_low) <= np.asarray(fc.fit_acc) + 1e-12)
    assert np.all(np.asarray(fc.band_high) >= np.asarray(fc.fit_acc) - 1e-12)
    crossing = grid[np.argmax(np.asarray(fc.band_low) >= 0.8)]
    assert crossing == pytest.approx(fc.high, rel=0.1)
    assert grid[np.argmax(np.asarray(fc.fit_acc) >= 0.8)] == pytest.approx(fc.labels, rel=0.1)
    # an unbounded top: no high, the summary says so
    top = forecast_labels(N_K, ACC_K, [100] * 5, 0.8, calibration=ForecastCalibration({3: (0.0,) * 6 + (math.inf,) * 5}))
    assert top.high is None and "or more" in top.summary()
    assert top.labels == raw.labels  # median 0: no shift
    floor = top.band_low[0]  # unbounded above: the band's floor is today's fitted accuracy, flat
    assert all(v == floor for v in top.band_low) and floor == pytest.approx(top.fit_acc[0]) and floor < 0.8


def test_a_calibration_for_another_curve_is_refused():
    cal = ForecastCalibration({3: (0.0,)}, curve="pow3")
    with pytest.raises(ValueError, match="for curve 'pow3'"):
        forecast_labels(N_K, ACC_K, [100] * 5, 0.8, curve="log2", calibration=cal)
    with pytest.raises(ValueError, match="calibration must be"):
        forecast_labels(N_K, ACC_K, [100] * 5, 0.8, calibration="shipped")


def test_the_shipped_calibration_is_for_the_default_curve_and_used_by_default():
    cal = default_calibration()
    assert cal is not None and cal.curve == "log2" and "development" in cal.source
    assert all(k >= 3 for k in cal.residuals) and sum(len(v) for v in cal.residuals.values()) >= 100
    fc = forecast_labels(N_K, ACC_K, [100] * 5, 0.8)
    assert fc.calibrated
    raw = forecast_labels(N_K, ACC_K, [100] * 5, 0.8, calibration=None)
    lo, hi = cal.factors(5, 0.8)
    assert fc.low == math.ceil(max(60.0, raw.labels * lo))
    assert fc.labels == pytest.approx(raw.labels * cal.shift(5), abs=1.5)
    assert (fc.high is None) == (not math.isfinite(hi))
