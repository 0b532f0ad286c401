"""Training recipe check: test accuracy after one cycle on random labels, per augmentation.

For each dataset, label count, seed and ``TrainConfig.augment`` setting, a fresh
:class:`~alwidget.ActiveLearner` (default settings otherwise: ``alwidget_cnn`` from scratch,
300 steps, MC-dropout head) is given ``labels`` items drawn at random from the truth (plus its
validation set), trained once, and evaluated on the test set. This is how the default
augmentation was chosen (see ``TrainConfig.augment``): it isolates the recipe from the
query strategy.

Data: as in ``label_efficiency.py`` (MNIST: the 8,000/2,000 split of the test split;
Fashion-MNIST: a seeded 10,000-image subset of the training set and 2,000 of the test set).

Usage::

    python benchmarks/augmentation.py --data ../shared/datasets --dataset mnist fashion \\
        --labels 50 200 --seeds 0 1 --augment none shift affine
    python benchmarks/augmentation.py --quick      # one small configuration (smoke test)
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import List, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from label_efficiency import load_data  # noqa: E402  (same data and splits)


def one(pool, test, labels: int, seed: int, augment: str, threads: int, max_steps: Optional[int]) -> dict:
    """Train once on ``labels`` random items; return test accuracy and seconds."""
    from alwidget import ActiveLearner

    train = {"augment": augment}
    if max_steps:
        train["max_steps"] = max_steps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # in-memory store is intended here
        learner = ActiveLearner(pool, seed=seed, validation_from_truth=True, num_threads=threads, train=train)
    try:
        selectable = learner.selectable_ids()
        rng = np.random.default_rng([seed, labels])
        ids = [selectable[i] for i in rng.choice(len(selectable), labels, replace=False)]
        learner.teach(ids, [pool.truth[i] for i in ids], source="oracle")
        t0 = time.perf_counter()
        rep = learner.retrain()
        return {"test_accuracy": learner.evaluate(test), "seconds": time.perf_counter() - t0,
                "train_steps": rep.train_steps}
    finally:
        learner.close()


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("ALWIDGET_DATA"), help="folder holding mnist-test/ and fashion-mnist/")
    ap.add_argument("--dataset", nargs="+", choices=["mnist", "fashion"], default=["mnist", "fashion"])
    ap.add_argument("--labels", nargs="+", type=int, default=[50, 200])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--augment", nargs="+", choices=["none", "shift", "affine"], default=["none", "shift", "affine"])
    ap.add_argument("--max-steps", type=int, default=None, help="override TrainConfig.max_steps")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="MNIST, 30 labels, one seed, 20 steps (smoke test)")
    args = ap.parse_args(argv)
    pool_limit, test_limit = 10000, 2000
    if args.quick:
        args.dataset, args.labels, args.seeds, args.max_steps = ["mnist"], [30], [0], 20
        pool_limit, test_limit = 600, 300
    import torch

    torch.set_num_threads(args.threads)
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__)] + (sys.argv[1:] if argv is None else argv))
    print(f"Augmentation — `{command}` — {_dt.datetime.now():%Y-%m-%d %H:%M}\n")
    print("| dataset | labels | augment | test accuracy, mean ± sd over seeds | per seed | s per cycle |")
    print("|---|---|---|---|---|---|")
    for dataset in args.dataset:
        pool, test, _ = load_data(dataset, args.data, pool_limit, test_limit if dataset == "fashion" or args.quick else None, 0)
        for labels in args.labels:
            for augment in args.augment:
                runs = [one(pool, test, labels, s, augment, args.threads, args.max_steps) for s in args.seeds]
                acc = np.array([r["test_accuracy"] for r in runs])
                print(f"| {dataset} | {labels} | {augment} | {100 * acc.mean():.1f} % ± {100 * acc.std():.1f} | "
                      f"{', '.join(f'{100 * a:.1f}' for a in acc)} | {np.mean([r['seconds'] for r in runs]):.1f} |",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
