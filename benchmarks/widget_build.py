"""How many widget models does the labeling widget make, and how long does it take to build?

Builds :class:`alwidget.LabelingWidget` kernel-side on a learner that is already trained (so
only the widget is timed, not the model) and counts the ipywidgets models it creates:

* **models** for ``k`` = 1, 12 and 24 cards (the grid is one model whatever ``k``);
* **build**: seconds to construct a 12-card widget, median of ``--repeats``;
* **new batch**: models created by a submitted batch, and its seconds (median).

The same script runs against any version of alwidget (it uses only ``LabelingWidget(learner,
k)``, ``submit()`` and ``close()``): point ``PYTHONPATH`` at an older checkout to measure it
the same way, which is how BENCHMARKS.md compares with the widget before the board.

Usage::

    python benchmarks/widget_build.py
    python benchmarks/widget_build.py --repeats 9 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Dict

if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ipywidgets as widgets  # noqa: E402

import alwidget  # noqa: E402
from alwidget import ActiveLearner, datasets  # noqa: E402
from alwidget.ui import LabelingWidget  # noqa: E402


def _models() -> set:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return set(widgets.Widget.widgets)


def measure(repeats: int = 5) -> Dict[str, object]:
    """The figures described in the module docstring, on 300 of scikit-learn's digits."""
    pool = datasets.digits()
    pool = pool.subset(pool.ids[:300])
    with tempfile.TemporaryDirectory() as tmp:
        learner = ActiveLearner(pool, store=Path(tmp) / "labels.db", mode="embed", train={"max_steps": 20},
                                validation_size=20, validation_from_truth=True, seed=0)
        truth = pool.truth
        first = learner.query(12)
        learner.teach(first, [truth[i] for i in first])
        learner.retrain()
        LabelingWidget(learner, k=12).close()  # warm: imports, plotly's templates
        models = {}
        for k in (1, 12, 24):
            before = _models()
            w = LabelingWidget(learner, k=k, auto_retrain=False)
            models[k] = len(_models() - before)
            w.close()
        build = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            w = LabelingWidget(learner, k=12, auto_retrain=False)
            build.append(time.perf_counter() - t0)
            w.close()
        w = LabelingWidget(learner, k=12, auto_retrain=False)
        batch, created = [], []
        for _ in range(repeats):
            before = _models()
            t0 = time.perf_counter()
            w.submit()
            batch.append(time.perf_counter() - t0)
            created.append(len(_models() - before))
        w.close()
        learner.close()
    return {"alwidget": str(Path(alwidget.__file__).resolve().parent), "models": models,
            "build_12_s": round(statistics.median(build), 3), "build_12_all_s": [round(b, 3) for b in build],
            "new_batch_models": max(created), "new_batch_s": round(statistics.median(batch), 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed builds and batches (median)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    res = measure(args.repeats)
    print(f"alwidget from {res['alwidget']}")
    print("widget models: " + ", ".join(f"k={k}: {n}" for k, n in res["models"].items()))
    print(f"build a 12-card widget: {res['build_12_s']:.3f} s (median of {args.repeats})")
    print(f"a new batch: {res['new_batch_models']} new models, {1000 * res['new_batch_s']:.1f} ms (median)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
