"""``python -m alwidget.demo``: an active-learning run on scikit-learn's digits, offline.

Labels are answered from the known truth (a simulation), so the run shows in a minute what
the widget does with a person: cycles of train → score → query, validation accuracy with
its interval, and how margin sampling (the default) compares with random sampling at the same labels.
Environment variables shrink or grow it: ``ALWIDGET_DEMO_BUDGET`` (default 150),
``ALWIDGET_DEMO_STEP`` (default 25), ``ALWIDGET_DEMO_SEEDS`` (default 1).
"""

from __future__ import annotations

import os
import sys
import time

from . import datasets, simulate


def main(argv=None) -> int:
    """Run the demo and print the learning curves; returns the process exit code."""
    budget = int(os.environ.get("ALWIDGET_DEMO_BUDGET", 150))
    step = int(os.environ.get("ALWIDGET_DEMO_STEP", 25))
    seeds = range(int(os.environ.get("ALWIDGET_DEMO_SEEDS", 1)))
    digits = datasets.digits()
    test, pool = digits.split(0.25, seed=0)
    print(f"alwidget demo: digits, pool {len(pool)}, test {len(test)}, classes {digits.classes}")
    print(f"{'strategy':<10} {'seed':>4} {'labels':>6} {'test acc':>9} {'val acc':>8} {'cycle s':>8}")
    t0 = time.perf_counter()

    def show(r: simulate.SimulationRecord) -> None:
        print(f"{r.strategy:<10} {r.seed:>4} {r.n_labels:>6} {100 * r.test_accuracy:>8.1f}% "
              f"{100 * r.validation_accuracy:>7.1f}% {r.seconds:>8.2f}", flush=True)

    records = simulate.run(pool, test, ["margin", "random"], budget=budget, step=step, init=step,
                           seeds=seeds, on_record=show)
    summary = simulate.summarize(records)
    last = max(r.n_labels for r in records)
    act, rnd = summary["margin"][last]["mean"], summary["random"][last]["mean"]
    print(f"\nat {last} labels: margin {100 * act:.1f}% vs random {100 * rnd:.1f}% test accuracy "
          f"({time.perf_counter() - t0:.0f} s in all)")
    print("Next: open notebooks/01_quickstart.ipynb (make lab) to label with the widget.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
