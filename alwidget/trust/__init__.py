"""Trust and answers: likely mislabels (:mod:`.label_issues`) and how many labels a target
accuracy needs (:mod:`.forecast`). Pure functions on arrays; the learner calls them."""

from .forecast import CURVES, DEFAULT_CURVE, Forecast, forecast_labels
from .label_issues import LabelCheck, LabelIssue, out_of_sample_probs, rank_label_issues

__all__ = ["CURVES", "DEFAULT_CURVE", "Forecast", "LabelCheck", "LabelIssue", "forecast_labels",
           "out_of_sample_probs", "rank_label_issues"]
