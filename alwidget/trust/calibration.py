"""A forecast's range calibrated on learning curves it never saw: split-conformal, per horizon.

The bootstrap range of :func:`~alwidget.trust.forecast.forecast_labels` reflects one source of
error, the validation set's sampling noise. Backtested against *test* accuracy it held the truth
less often than it claimed (69 % of 80 % ranges from 5 cycles, 67 % from 8), because the curve
family is only an approximation and the validation set is not the population. A
:class:`ForecastCalibration` holds what the forecast actually got wrong on recorded runs: for
each horizon (the number of cycles the forecast had seen) the residuals

    r = log(truth / forecast)

where *forecast* is the fitted curve's answer and *truth* the label count at which that run's
test accuracy first reached the target. A new forecast from ``K`` cycles then gets the range
``forecast * exp([r_lo, r_hi])`` with ``r_lo, r_hi`` the split-conformal quantiles of the
residuals of horizon ``K`` (:func:`conformal_bounds`): for a new run exchangeable with the
recorded ones the range holds the truth with probability at least ``level`` (the quantiles are
taken at ``level + margin``, since a new dataset is not quite exchangeable with the recorded
ones; horizons with few residuals are pooled, :data:`MIN_RESIDUALS`). The number stated is
``forecast * exp(median r)`` (:meth:`ForecastCalibration.shift`): on the development runs the
fitted curve answered too early (validation accuracy, which it is fitted to, ran ahead of test
accuracy), and the shift halved the error there; on the held-out runs it did not (BENCHMARKS.md).
A run that never reached the target is a residual of ``+inf`` (its truth lies beyond its last
label count; taken as far as possible, which can only widen the upper end).

The shipped calibration (:func:`default_calibration`, ``forecast_calibration.json`` beside this
module) was made by ``benchmarks/forecast_backtest.py --write-calibration`` from development runs
only; BENCHMARKS.md says which runs and scores it on held-out ones. Pure numpy and json.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["ForecastCalibration", "conformal_bounds", "default_calibration", "DEFAULT_CALIBRATION_PATH",
           "MIN_RESIDUALS"]

#: The calibration shipped with the package.
DEFAULT_CALIBRATION_PATH = Path(__file__).with_name("forecast_calibration.json")

#: Consecutive horizons are pooled until a group holds this many residuals. Chosen on the
#: development runs: with 20, the upper end of an 80 % range (85 % with the margin) is the
#: largest residual of its group, and one run that never reached its target made it unbounded
#: at every horizon; with 40 it is the third largest.
MIN_RESIDUALS = 40


def conformal_bounds(residuals_R: Sequence[float], level: float) -> Tuple[float, float]:
    """Split-conformal lower and upper bounds of a central ``level`` range from residuals ``[R]``.

    With the residuals sorted ``r_(1) <= ... <= r_(R)`` and ``tail = (1 - level) / 2``, the upper
    bound is ``r_(ceil((R + 1) * (1 - tail)))`` and the lower ``r_(floor((R + 1) * tail))``; an
    index past either end is ``+inf`` / ``-inf``. For a new residual exchangeable with these,
    ``P(lower <= r <= upper) >= level`` (Lei et al. 2018, split conformal, each tail at half the
    miscoverage).

    Parameters
    ----------
    residuals_R : sequence of float ``[R]``
        May hold ``+inf`` (never reached). NaN is not allowed.
    level : float
        In ``(0, 1)``.

    Returns
    -------
    (lower, upper) : tuple of float
        In the residuals' units (here: log of a ratio of label counts).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    r = np.sort(np.asarray(residuals_R, dtype=np.float64))
    if np.isnan(r).any():
        raise ValueError("residuals must not be NaN")
    n = len(r)
    if n == 0:
        return -math.inf, math.inf
    tail = (1.0 - level) / 2.0
    hi_i = math.ceil((n + 1) * (1.0 - tail) - 1e-9)
    lo_i = math.floor((n + 1) * tail + 1e-9)
    upper = float(r[hi_i - 1]) if hi_i <= n else math.inf
    lower = float(r[lo_i - 1]) if lo_i >= 1 else -math.inf
    return lower, upper


@dataclass(frozen=True)
class ForecastCalibration:
    """Residuals ``log(truth / forecast)`` of backtested forecasts, per horizon.

    Attributes
    ----------
    residuals : mapping of int to tuple of float
        Horizon (cycles the forecast had seen, ``>= 3``) to its residuals, sorted; ``+inf``: the
        run never reached the target.
    curve : str
        The curve family whose forecasts these are (a calibration applies to that family only).
    source : str
        Which runs made it (for the record; shown nowhere else).
    margin : float
        Added to the level asked for before the conformal quantiles are taken (a range that
        claims 80 % uses the residuals' 85 % range with ``margin=0.05``): conformal coverage holds
        for runs exchangeable with the recorded ones, and a new dataset is not quite that. The
        shipped margin was chosen on the development runs by leaving one dataset out at a time.
    """

    residuals: Mapping[int, Tuple[float, ...]]
    curve: str = "log2"
    source: str = ""
    margin: float = 0.0
    _horizons: Tuple[int, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        clean: Dict[int, Tuple[float, ...]] = {}
        for k, rs in self.residuals.items():
            arr = np.sort(np.asarray(list(rs), dtype=np.float64))
            if np.isnan(arr).any():
                raise ValueError(f"horizon {k}: residuals must not be NaN")
            if len(arr):
                clean[int(k)] = tuple(float(v) for v in arr)
        if not clean:
            raise ValueError("a calibration needs residuals for at least one horizon")
        if not 0.0 <= self.margin < 1.0:
            raise ValueError(f"margin must be in [0, 1), got {self.margin}")
        object.__setattr__(self, "residuals", clean)
        object.__setattr__(self, "_horizons", self._pool_small(clean))

    @staticmethod
    def _pool_small(res: Mapping[int, Tuple[float, ...]]) -> Tuple[int, ...]:
        """First horizons of the groups that get their own quantiles: consecutive horizons are
        pooled until a group holds ``MIN_RESIDUALS``; a short last group joins the one before."""
        starts, count = [], 0
        for k in sorted(res):
            if not starts or count >= MIN_RESIDUALS:
                starts.append(k)
                count = 0
            count += len(res[k])
        if len(starts) > 1 and count < MIN_RESIDUALS:
            starts.pop()
        return tuple(starts)

    def horizon(self, n_cycles: int) -> int:
        """The calibrated horizon used for a forecast from ``n_cycles`` cycles.

        The largest calibrated horizon not above ``n_cycles`` (fewer cycles seen: a wider
        range, so the choice errs wide), or the smallest one when ``n_cycles`` is below all.
        """
        below = [k for k in self._horizons if k <= n_cycles]
        return below[-1] if below else self._horizons[0]

    def residuals_for(self, n_cycles: int) -> np.ndarray:
        """Residuals ``[R]`` behind the range at ``n_cycles``: its horizon's and any small ones pooled in."""
        h = self.horizon(n_cycles)
        later = [k for k in self._horizons if k > h]
        stop = later[0] if later else math.inf
        return np.sort(np.concatenate([np.asarray(v) for k, v in self.residuals.items() if h <= k < stop]))

    def shift(self, n_cycles: int) -> float:
        """Multiplier that makes the forecast median-unbiased at ``n_cycles``: ``exp`` of the
        residuals' median (1 when more than half of them never reached their target)."""
        m = float(np.median(self.residuals_for(n_cycles)))
        return math.exp(m) if math.isfinite(m) else 1.0

    def factors(self, n_cycles: int, level: float) -> Tuple[float, float]:
        """Multipliers ``(low, high)`` of the forecast that bound the ``level`` range (``high`` may be
        inf); the quantiles are taken at ``level + margin`` (at most 0.995)."""
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {level}")
        lo, hi = conformal_bounds(self.residuals_for(n_cycles), min(level + self.margin, 0.995))
        return math.exp(lo) if math.isfinite(lo) else 0.0, math.exp(hi) if math.isfinite(hi) else math.inf

    def to_dict(self) -> dict:
        """JSON-ready: ``+inf`` residuals are written as the string ``"inf"``."""
        return dict(curve=self.curve, source=self.source, margin=self.margin,
                    residuals={str(k): [v if math.isfinite(v) else "inf" for v in rs]
                               for k, rs in sorted(self.residuals.items())})

    @classmethod
    def from_dict(cls, d: Mapping) -> "ForecastCalibration":
        """Inverse of :meth:`to_dict`."""
        res = {int(k): tuple(math.inf if v == "inf" else float(v) for v in rs) for k, rs in d["residuals"].items()}
        return cls(res, curve=str(d.get("curve", "log2")), source=str(d.get("source", "")),
                   margin=float(d.get("margin", 0.0)))

    def save(self, path: Union[str, Path]) -> None:
        """Write as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Union[str, Path]) -> "ForecastCalibration":
        """Read a file written by :meth:`save`."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"cannot read a forecast calibration from {path}: {e}") from e


@lru_cache(maxsize=1)
def default_calibration() -> Optional[ForecastCalibration]:
    """The calibration shipped with the package (``None`` if its file is missing)."""
    if not DEFAULT_CALIBRATION_PATH.exists():
        return None
    return ForecastCalibration.load(DEFAULT_CALIBRATION_PATH)
