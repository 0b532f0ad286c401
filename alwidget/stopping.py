"""When to suggest stopping: a label budget, a target validation accuracy, or a plateau.

The learner only *suggests*; the person decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from .report import CycleReport


@dataclass(frozen=True)
class StoppingRule:
    """Settings of :func:`stop_reason`.

    Attributes
    ----------
    label_budget : int or None
        Suggest stopping once this many training labels are used.
    target_accuracy : float or None
        Suggest stopping once the validation accuracy's lower 95 % bound reaches this value
        (a fraction in ``[0, 1]``).
    plateau_cycles : int
        Suggest stopping when the best accuracy has not improved by ``plateau_min_gain`` over
        this many successive cycles (0 disables).
    plateau_min_gain : float
        Smallest gain in accuracy (a fraction) that counts as progress.
    """

    label_budget: Optional[int] = None
    target_accuracy: Optional[float] = None
    plateau_cycles: int = 4
    plateau_min_gain: float = 0.005


def stop_reason(history: Sequence[CycleReport], rule: StoppingRule) -> Optional[str]:
    """Why stopping is suggested after these cycles, or ``None`` to go on."""
    done = [r for r in history if r.ok and not math.isnan(r.accuracy)]
    if not done:
        return None
    last = done[-1]
    if rule.label_budget is not None and last.n_labels >= rule.label_budget:
        return f"the label budget of {rule.label_budget} is used ({last.n_labels} labels)"
    if rule.target_accuracy is not None and last.accuracy_ci[0] >= rule.target_accuracy:
        return (f"validation accuracy {100 * last.accuracy:.1f}% (lower bound {100 * last.accuracy_ci[0]:.1f}%) "
                f"reached the target of {100 * rule.target_accuracy:.1f}%")
    n = rule.plateau_cycles
    if n > 0 and len(done) > n:
        before = max(r.accuracy for r in done[:-n])
        recent = max(r.accuracy for r in done[-n:])
        if recent - before < rule.plateau_min_gain:
            return (f"accuracy gained {100 * (recent - before):.1f} points over the last {n} cycles "
                    f"(less than {100 * rule.plateau_min_gain:.1f})")
    return None
