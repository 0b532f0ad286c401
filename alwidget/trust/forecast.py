"""How many labels a target accuracy needs: learning curves fitted to validation accuracy.

After each cycle the learner knows validation accuracy against the number of training labels.
:func:`forecast_labels` fits a learning-curve family to those points (weighted by each point's
binomial standard error), solves the fitted curve for the target, and gives a range by a
parametric bootstrap: each replicate redraws every cycle's validation accuracy from a binomial
with the fitted curve's accuracy at that cycle and the cycle's number of validation labels
(the validation set's sampling noise), refits, and solves again. The range is the central ``level`` share of the replicates'
answers. A replicate whose curve levels off below the target counts as "more than any number".

The families (:data:`CURVES`), with ``n`` the number of training labels:

- ``"pow3"``: ``a - b * n**-c`` (inverse power law with a free plateau ``a <= 1``),
- ``"pow2"``: ``1 - b * n**-c`` (error falls as a power of ``n``, towards 0),
- ``"exp3"``: ``a - b * exp(-c * n)``,
- ``"log2"``: ``a + b * log(n)``.

The default, ``log2``, was chosen by backtests on recorded runs of MNIST, Fashion-MNIST and digits
(``benchmarks/forecast_backtest.py``, BENCHMARKS.md): forecasting from the first 3, 5 and 8
cycles, it had the smallest median error and the truth fell inside its 80 % range most often;
the plateau families often level off below the target from a few noisy points and answer "not
reachable". ``log2`` never levels off, so far targets get large, not infinite, answers.

The bootstrap covers only the validation set's noise; against accuracy on new images its range
held the truth less often than it claimed. By default the stated number and range are therefore
*calibrated* (:mod:`alwidget.trust.calibration`): the fitted curve's answer is shifted by, and
the range taken from, the errors such forecasts made at the same number of cycles on recorded
development runs, judged by when those runs' test accuracy reached the target. Pure numpy;
nothing here knows the learner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .calibration import ForecastCalibration, default_calibration

__all__ = ["CURVES", "DEFAULT_CURVE", "MIN_CYCLES", "Forecast", "fit_curve", "forecast_labels", "labels_for"]

#: Fewest cycles (distinct label counts) a forecast is made from.
MIN_CYCLES = 3

#: Largest label count the forecast names; beyond it the answer is "more than this".
MAX_LABELS = 10_000_000


def _pow3(n, a, b, c):
    return a - b * np.power(n, -c)


def _pow2(n, a, b, c):
    return a - b * np.power(n, -c)  # a is 1


def _exp3(n, a, b, c):
    return a - b * np.exp(-c * n)


def _log2(n, a, b, c):
    return a + b * np.log(n)  # c unused


def _inv_pow(t, a, b, c):
    return math.exp(min(math.log(b / (a - t)) / c, 700.0)) if a > t and b > 0 and c > 0 else math.inf


def _inv_exp3(t, a, b, c):
    if a <= t or b <= 0 or c <= 0:
        return math.inf
    return max(0.0, -math.log((a - t) / b) / c)


def _inv_log2(t, a, b, c):
    return math.exp(min((t - a) / b, 700.0)) if b > 0 else math.inf


#: ``name: (curve(n, a, b, c), inverse(target, a, b, c) -> n)``; every family has three parameters
#: ``(a, b, c)`` (``pow2`` fixes ``a = 1``, ``log2`` ignores ``c``).
CURVES: Dict[str, Tuple[Callable, Callable]] = {
    "pow3": (_pow3, _inv_pow),
    "pow2": (_pow2, _inv_pow),
    "exp3": (_exp3, _inv_exp3),
    "log2": (_log2, _inv_log2),
}

DEFAULT_CURVE = "log2"

#: Plateaus ``a`` tried by ``pow3`` and ``exp3`` (above the best accuracy seen, up to 1).
_PLATEAU_STEPS = 64


@dataclass
class Forecast:
    """The answer to "how many labels to reach ``target``?".

    Attributes
    ----------
    target : float
        Accuracy asked for, in ``(0, 1]``.
    labels : int or None
        Training labels the target needs (``None``: not reachable by this curve, or no
        forecast; see ``message``). Calibrated (``calibrated``): the fitted curve's answer times
        the calibration's median error at this horizon, an estimate of when accuracy on new
        images reaches the target; else the fitted curve's answer (validation accuracy).
    low, high : int or None
        The range that claims ``level``: calibrated, the split-conformal range of the
        calibration's errors at this horizon; else the bootstrap's (``level`` of the replicates
        fall inside). ``high`` is ``None`` when the range is unbounded above.
    level : float
        Share the range claims, e.g. 0.8.
    reachable : bool
        The fitted curve reaches the target.
    reached : bool
        The latest validation accuracy is already at or above the target.
    n_cycles : int
        Points the curve was fitted to.
    current_labels : int
        Training labels of the latest cycle.
    current_accuracy : float
        Its validation accuracy.
    curve : str
        The family fitted (:data:`CURVES`).
    calibrated : bool
        ``low``/``high`` come from residuals of backtested forecasts at this horizon
        (:mod:`alwidget.trust.calibration`), not from the bootstrap alone.
    params : tuple of float
        Its fitted parameters.
    message : str
        One line for a status bar (see :meth:`summary`).
    grid_n, fit_acc, band_low, band_high : list of float
        The fitted curve and the bootstrap band over ``grid_n`` (labels), for a plot.
    """

    target: float
    labels: Optional[int] = None
    low: Optional[int] = None
    high: Optional[int] = None
    level: float = 0.8
    reachable: bool = False
    reached: bool = False
    n_cycles: int = 0
    current_labels: int = 0
    current_accuracy: float = math.nan
    curve: str = DEFAULT_CURVE
    calibrated: bool = False
    params: Tuple[float, ...] = ()
    message: str = ""
    grid_n: List[float] = field(default_factory=list)
    fit_acc: List[float] = field(default_factory=list)
    band_low: List[float] = field(default_factory=list)
    band_high: List[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A number of labels was forecast."""
        return self.labels is not None

    def summary(self) -> str:
        """E.g. ``"≈ 420 labels to 95 % (300–650)"``, or why there is no number."""
        return self.message


def _pct(x: float) -> str:
    v = 100 * x
    return f"{v:.0f} %" if abs(v - round(v)) < 1e-9 else f"{v:.1f} %"


def _wls_line(x_BAK: np.ndarray, z_BAK: np.ndarray, w_BAK: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares line ``z = b0 + b1 x`` along the last axis: ``(b0, b1)`` ``[B, A]``."""
    sw = w_BAK.sum(-1)
    mx = (w_BAK * x_BAK).sum(-1) / sw
    mz = (w_BAK * z_BAK).sum(-1) / sw
    dx = x_BAK - mx[..., None]
    sxx = (w_BAK * dx * dx).sum(-1)
    b1 = (w_BAK * dx * (z_BAK - mz[..., None])).sum(-1) / np.maximum(sxx, 1e-300)
    return mz - b1 * mx, b1


def fit_curve(n_K: np.ndarray, acc_BK: np.ndarray, sigma_BK: np.ndarray, curve: str = DEFAULT_CURVE) -> np.ndarray:
    """Parameters ``(a, b, c)`` ``[B, 3]`` of ``curve`` fitted to each row of ``acc_BK``.

    ``log2`` is a weighted least-squares line in ``log n``. The plateau families are fitted
    through their linear form, ``log(a - acc) = log b - c * g(n)`` with ``g = log`` (``pow``) or
    the identity (``exp3``), weighted by the delta method (``(a - acc)**2 / sigma**2``); ``pow3``
    and ``exp3`` profile the plateau ``a`` over a grid above the best accuracy seen and keep the
    ``a`` of least weighted squared error in accuracy. A fit whose curve does not rise gets
    ``c = 0`` (it never reaches a target above its points). Vectorised over the ``B`` rows: the
    bootstrap fits all its replicates at once.

    Parameters
    ----------
    n_K : float array ``[K]``
        Training labels per cycle (positive).
    acc_BK : float array ``[B, K]`` (or ``[K]``)
        Validation accuracy per cycle, in ``[0, 1]``.
    sigma_BK : float array, same shape
        Standard errors (weights ``1 / sigma**2``).
    curve : str
        One of :data:`CURVES`.
    """
    n_K = np.asarray(n_K, dtype=np.float64)
    acc = np.atleast_2d(np.asarray(acc_BK, dtype=np.float64))
    sig = np.broadcast_to(np.atleast_2d(np.asarray(sigma_BK, dtype=np.float64)), acc.shape)
    B, K = acc.shape
    w = 1.0 / (sig * sig)
    if curve == "log2":
        b0, b1 = _wls_line(np.broadcast_to(np.log(n_K), acc.shape)[:, None], acc[:, None], w[:, None])
        return np.stack([b0[:, 0], np.maximum(b1[:, 0], 0.0), np.zeros(B)], 1)
    if curve == "pow2":
        return _fit_plateau(n_K, acc, w, curve, np.ones((B, 1)))[0]
    best = acc.max(1, keepdims=True)
    lo = np.minimum(best + 0.002, 1.0)
    a_BA = lo + (1.0 - lo) * np.linspace(0.0, 1.0, _PLATEAU_STEPS)[None, :]
    params, j = _fit_plateau(n_K, acc, w, curve, a_BA)
    # refine the plateau between the grid neighbours of the best one
    step = (1.0 - lo[:, 0]) / (_PLATEAU_STEPS - 1)
    centre = params[:, 0]
    fine = np.clip(centre[:, None] + step[:, None] * np.linspace(-1.0, 1.0, _PLATEAU_STEPS)[None, :], lo, 1.0)
    return _fit_plateau(n_K, acc, w, curve, fine)[0]


def _fit_plateau(n_K: np.ndarray, acc: np.ndarray, w: np.ndarray, curve: str,
                 a_BA: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Best ``(a, b, c)`` ``[B, 3]`` over the plateaus ``a_BA`` (and the index of the one chosen)."""
    B = acc.shape[0]
    x = np.log(n_K) if curve in ("pow3", "pow2") else n_K
    gap = np.maximum(a_BA[:, :, None] - acc[:, None, :], 1e-3)  # [B, A, K]
    z = np.log(gap)
    wz = gap * gap * w[:, None, :]
    b0, b1 = _wls_line(np.broadcast_to(x, z.shape), z, wz)
    b, c = np.exp(b0), np.maximum(-b1, 0.0)
    f = CURVES[curve][0]
    a_full = np.broadcast_to(a_BA, b.shape)
    pred = f(n_K[None, None, :], a_full[:, :, None], b[:, :, None], c[:, :, None])
    sse = (w[:, None, :] * (pred - acc[:, None, :]) ** 2).sum(-1)  # [B, A]
    j = np.argmin(sse, axis=1)
    rows = np.arange(B)
    return np.stack([a_full[rows, j], b[rows, j], c[rows, j]], 1), j


def labels_for(target: float, params: Sequence[float], curve: str = DEFAULT_CURVE) -> float:
    """Labels at which ``curve`` with ``params`` ``(a, b, c)`` reaches ``target`` (``inf``: never)."""
    a, b, c = (float(v) for v in params)
    return float(CURVES[curve][1](float(target), a, b, c))


def _sigma(acc_K: np.ndarray, m_K: np.ndarray) -> np.ndarray:
    """Binomial standard errors, floored at that of one error in ``m`` (no zero weights)."""
    p = np.clip(acc_K, 1.0 / (m_K + 1.0), 1.0 - 1.0 / (m_K + 1.0))
    return np.sqrt(p * (1.0 - p) / m_K)


def forecast_labels(n_labels_K: Sequence[float], accuracy_K: Sequence[float], n_validation_K: Sequence[int],
                    target: float, *, curve: str = DEFAULT_CURVE, level: float = 0.8, n_boot: int = 200,
                    seed: int = 0,
                    calibration: Union[str, ForecastCalibration, None] = "default") -> Forecast:
    """Forecast the training labels needed for validation accuracy ``target``.

    Parameters
    ----------
    n_labels_K : sequence of float ``[K]``
        Training labels of each cycle, increasing (a repeated count keeps its latest cycle).
    accuracy_K : sequence of float ``[K]``
        Validation accuracy of each cycle, in ``[0, 1]`` (NaN cycles are dropped).
    n_validation_K : sequence of int ``[K]``
        Validation labels each accuracy was measured on.
    target : float
        In ``(0, 1]``.
    curve : str
        Family (:data:`CURVES`).
    level : float
        Share the range claims, in ``(0, 1)``.
    n_boot : int
        Bootstrap replicates.
    seed : int
    calibration : "default", ForecastCalibration or None
        Where the range comes from. ``"default"``: the calibration shipped with the package
        (:func:`~alwidget.trust.calibration.default_calibration`) when it is for ``curve``, else
        the bootstrap; a :class:`~alwidget.trust.calibration.ForecastCalibration` (for
        ``curve``); ``None``: the bootstrap alone (the validation set's sampling noise only).
        A calibrated range is the forecast times the conformal factors of the horizon
        (``n_cycles``), and ``calibrated`` is set.

    Returns
    -------
    Forecast
        Also when there is no number: then ``labels`` is ``None`` and ``message`` says why
        (too few cycles, already reached, not reachable by the curve).
    """
    target = float(target)
    if not (math.isfinite(target) and 0.0 < target <= 1.0):
        hint = f" (did you mean {target / 100:g}?)" if 1.0 < target <= 100.0 else ""
        raise ValueError(f"target is a validation accuracy in (0, 1], got {target}{hint}")
    if curve not in CURVES:
        raise ValueError(f"curve must be one of {sorted(CURVES)}, got {curve!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    cal = _resolve_calibration(calibration, curve)
    n = np.asarray(n_labels_K, dtype=np.float64)
    acc = np.asarray(accuracy_K, dtype=np.float64)
    m = np.asarray(n_validation_K, dtype=np.float64)
    if not (len(n) == len(acc) == len(m)):
        raise ValueError(f"n_labels_K, accuracy_K and n_validation_K differ in length: {len(n)}, {len(acc)}, {len(m)}")
    keep = np.isfinite(acc) & (m > 0) & (n > 0)
    n, acc, m = n[keep], acc[keep], m[keep]
    last: Dict[float, int] = {}
    for i, v in enumerate(n):
        last[float(v)] = i  # a count seen twice (a retrain without new labels): its latest cycle
    idx = np.array(sorted(last.values(), key=lambda i: n[i]), dtype=np.int64)
    n, acc, m = n[idx], acc[idx], m[idx]
    out = Forecast(target=target, level=level, curve=curve, n_cycles=len(n))
    if len(n):
        out.current_labels, out.current_accuracy = int(n[-1]), float(acc[-1])
    if len(n) < MIN_CYCLES:
        out.message = (f"cannot forecast yet: {len(n)} cycle{'s' if len(n) != 1 else ''} with validation "
                       f"accuracy, {MIN_CYCLES} needed")
        return out
    if acc[-1] >= target:
        out.reached = True
        out.labels = out.low = out.high = int(n[-1])
        out.reachable = True
        out.message = (f"{_pct(target)} already reached: validation accuracy {_pct(acc[-1])} at "
                       f"{int(n[-1])} labels")
        return out
    params = fit_curve(n, acc, _sigma(acc, m), curve)[0]
    out.params = tuple(float(p) for p in params)
    point = labels_for(target, params, curve)

    rng = np.random.default_rng(seed)
    centre = np.clip(CURVES[curve][0](n, *params), 0.0, 1.0)  # the fitted curve: a parametric bootstrap
    acc_BK = rng.binomial(m.astype(np.int64), centre, size=(n_boot, len(n))) / m
    boot_params = fit_curve(n, acc_BK, _sigma(acc_BK, m), curve)
    answers = np.array([labels_for(target, p, curve) for p in boot_params])
    answers = np.clip(answers, n[-1], 10.0 * MAX_LABELS)  # not fewer than the labels already given; inf: never
    tail = (1.0 - level) / 2.0
    lo_q, hi_q = np.quantile(answers, [tail, 1.0 - tail])  # inf sorts last
    cap = lambda v: None if not math.isfinite(v) or v > MAX_LABELS else int(math.ceil(v))
    out.low, out.high = cap(lo_q), cap(hi_q)
    out.reachable = math.isfinite(point) and point <= MAX_LABELS
    f_lo, f_hi, shift = 1.0, 1.0, 1.0
    if cal is not None and out.reachable:
        f_lo, f_hi = cal.factors(len(n), level)
        shift = cal.shift(len(n))
        base = math.ceil(max(point, n[-1]))  # the fitted curve's answer
        out.low = cap(max(float(n[-1]), base * f_lo))
        out.high = cap(base * f_hi)
        out.calibrated = True
    if out.reachable:
        out.labels = int(math.ceil(max(point * shift, n[-1])))
        rng_text = (f"{out.low}–{out.high}" if out.high is not None
                    else f"{out.low} or more" if out.low is not None else "range unbounded")
        out.message = f"≈ {out.labels} labels to {_pct(target)} ({rng_text})"
    else:
        plateau = f"; it levels off near {_pct(params[0])}" if curve in ("pow3", "exp3") else ""
        low = f" (if at all, at least {out.low})" if out.low is not None else ""
        out.message = f"{_pct(target)} not reachable by this curve{plateau}{low}"

    # the curve and its band, for the plot
    top = out.high if out.high is not None else (out.labels if out.labels is not None else int(n[-1]))
    end = float(min(max(2.0 * n[-1], 1.2 * top), 20.0 * n[-1]))
    grid = np.unique(np.round(np.geomspace(n[-1], max(end, n[-1] + 1.0), 40)))
    f = CURVES[curve][0]
    out.grid_n = grid.tolist()
    out.fit_acc = np.clip(f(grid / shift, *params), 0.0, 1.0).tolist()  # calibrated: crosses at ``labels``
    if out.calibrated:  # the fitted curve stretched along the labels by the range's factors
        # unbounded above: the accuracy may not rise at all, so the band's floor is today's fit
        out.band_low = (np.clip(f(grid / f_hi, *params), 0.0, 1.0) if math.isfinite(f_hi)
                        else np.full_like(grid, float(np.clip(f(n[-1], *params), 0.0, 1.0)))).tolist()
        out.band_high = np.clip(f(grid / max(f_lo, 1e-12), *params), 0.0, 1.0).tolist()
    elif len(boot_params):
        curves = np.clip(f(grid[None, :], *(boot_params[:, i:i + 1] for i in range(3))), 0.0, 1.0)
        out.band_low = np.quantile(curves, tail, axis=0).tolist()
        out.band_high = np.quantile(curves, 1.0 - tail, axis=0).tolist()
    return out


def _resolve_calibration(calibration: Union[str, ForecastCalibration, None], curve: str) -> Optional[ForecastCalibration]:
    """The calibration ``forecast_labels`` applies (``None``: the bootstrap range)."""
    if calibration is None:
        return None
    if isinstance(calibration, str):
        if calibration != "default":
            raise ValueError(f"calibration must be 'default', a ForecastCalibration or None, got {calibration!r}")
        shipped = default_calibration()
        return shipped if shipped is not None and shipped.curve == curve else None
    if not isinstance(calibration, ForecastCalibration):
        raise TypeError(f"calibration must be 'default', a ForecastCalibration or None, got {type(calibration).__name__}")
    if calibration.curve != curve:
        raise ValueError(f"this calibration is for curve {calibration.curve!r}, not {curve!r}: make one for "
                         f"{curve!r} with benchmarks/forecast_backtest.py --write-calibration, or pass calibration=None")
    return calibration
