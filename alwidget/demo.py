"""``python -m alwidget.demo``: an active-learning run on scikit-learn's digits, offline.

Labels are answered from the known truth (a simulation), so the run shows in a few minutes
what the widget does with a person: the pool's candidate representations are built first,
without labels (in the widget this happens while the person labels the validation set; offline,
as here, the pixels' principal components and a self-supervised trunk), the labels choose one,
then cycles of fast cycle → query, validation accuracy with its interval, and how the default
selection (budget-aware: typical points first, then BADGE) compares with random sampling at the
same labels. Both runs share the one representation (same seed, same pool: a cache folder); the
slow cycle (every 50 labels) is shortened to 200 fine-tuning steps (600 by default) to keep the
demo short. Environment variables shrink or grow it: ``ALWIDGET_DEMO_BUDGET`` (default 90),
``ALWIDGET_DEMO_STEP`` (default 10), ``ALWIDGET_DEMO_SEEDS`` (default 1),
``ALWIDGET_DEMO_REPR_STEPS`` (self-supervised steps; default: the learner's for the pool).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from . import datasets, simulate


def main(argv=None) -> int:
    """Run the demo and print the learning curves; returns the process exit code."""
    budget = int(os.environ.get("ALWIDGET_DEMO_BUDGET", 90))
    step = int(os.environ.get("ALWIDGET_DEMO_STEP", 10))
    seeds = range(int(os.environ.get("ALWIDGET_DEMO_SEEDS", 1)))
    repr_steps = os.environ.get("ALWIDGET_DEMO_REPR_STEPS")
    digits = datasets.digits()
    test, pool = digits.split(0.25, seed=0)
    print(f"alwidget demo: digits, pool {len(pool)}, test {len(test)}, classes {digits.classes}")
    print("Building the pool's representations without labels first (once per seed; the labels choose)...",
          flush=True)
    print(f"{'strategy':<12} {'seed':>4} {'labels':>6} {'test acc':>9} {'val acc':>8} {'cycle s':>8}")
    t0 = time.perf_counter()

    def show(r: simulate.SimulationRecord) -> None:
        print(f"{r.strategy:<12} {r.seed:>4} {r.n_labels:>6} {100 * r.test_accuracy:>8.1f}% "
              f"{100 * r.validation_accuracy:>7.1f}% {r.seconds:>8.2f}", flush=True)

    # the slow cycle (at 50 labels) fine-tunes for 200 steps here instead of 600, and the run
    # stops at 90 labels, so the demo fits in three minutes on two cores
    kwargs = {"refine_config": {"steps": 200}}
    if repr_steps:
        kwargs["representation_config"] = {"steps": int(repr_steps)}
    with tempfile.TemporaryDirectory(prefix="alwidget-demo-") as cache:
        records = simulate.run(pool, test, ["budget_aware", "random"], budget=budget, step=step, init=2 * 10,
                               seeds=seeds, balanced_init=True, on_record=show, cache_dir=cache, **kwargs)
    summary = simulate.summarize(records)
    last = max(r.n_labels for r in records)
    act, rnd = summary["budget_aware"][last]["mean"], summary["random"][last]["mean"]
    print(f"\nat {last} labels: budget_aware (the default) {100 * act:.1f}% vs random {100 * rnd:.1f}% test "
          f"accuracy ({time.perf_counter() - t0:.0f} s in all; the first cycle of each seed includes learning "
          "the representation)")
    print("Next: open notebooks/01_quickstart.ipynb (make lab) to label with the widget.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
