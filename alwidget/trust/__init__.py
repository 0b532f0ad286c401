"""Trust and answers: likely mislabels (:mod:`.label_issues`) and how many labels a target
accuracy needs (:mod:`.forecast`, its range calibrated by :mod:`.calibration`). Pure functions on arrays; the learner calls them."""

from .calibration import ForecastCalibration, conformal_bounds, default_calibration
from .forecast import CURVES, DEFAULT_CURVE, Forecast, forecast_labels
from .label_issues import LabelCheck, LabelIssue, out_of_sample_probs, rank_label_issues

__all__ = ["CURVES", "DEFAULT_CURVE", "Forecast", "ForecastCalibration", "LabelCheck", "LabelIssue", "forecast_labels",
           "conformal_bounds", "default_calibration", "out_of_sample_probs", "rank_label_issues"]
