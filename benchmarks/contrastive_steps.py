"""How long to train the self-supervised trunk: a linear probe of its features against the step cap.

For each cap in ``--steps`` and each seed, the learner's own self-supervised representation of the
pool (``representation="contrastive"``, the default budget with
:data:`alwidget.representation.builder.MAX_CONTRASTIVE_STEPS` set to the cap) is built, or loaded
from ``--cache-dir`` where :mod:`benchmarks.label_efficiency` left it (same pool, seed and
settings: same key). Then, ``--draws`` times, ``L`` pool items are drawn at random as labels, a
logistic regression is fitted on their standardised features and scored on every other pool item.
Development data only (``fashion-dev``: a pool drawn from the Fashion-MNIST *training* split).

    python benchmarks/contrastive_steps.py --data ../shared/datasets --steps 600 1200 2400 --seeds 2 3 \\
        --cache-dir /tmp/fdev/cache

Prints one JSON line per (cap, seed): the build's seconds (0-3 s: from the cache) and the mean
probe accuracy (%) at each label count.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def probe(features_N_D: np.ndarray, y_N: np.ndarray, n_labels: int, draws: int, seed: int) -> float:
    """Mean accuracy (%) of a logistic regression on ``n_labels`` random items, scored on the rest."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1000 + seed)
    accs = []
    for _ in range(draws):
        idx = rng.choice(len(features_N_D), n_labels, replace=False)
        rest = np.setdiff1d(np.arange(len(features_N_D)), idx)
        clf = LogisticRegression(max_iter=2000).fit(features_N_D[idx], y_N[idx])
        accs.append(float((clf.predict(features_N_D[rest]) == y_N[rest]).mean()))
    return 100 * float(np.mean(accs))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("ALWIDGET_DATA", ".")))
    ap.add_argument("--steps", type=int, nargs="+", default=[600, 1200, 2400], help="step caps to compare")
    ap.add_argument("--seeds", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--labels", type=int, nargs="+", default=[100, 320])
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/fdev/cache"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import torch

    import alwidget.representation.builder as builder
    from alwidget import ActiveLearner
    from alwidget.progress import CancelToken
    from label_efficiency import load_data

    torch.set_num_threads(args.threads)
    pool, _, _ = load_data("fashion-dev", str(args.data), None, None, 0)
    y = np.asarray([pool.classes.index(pool.truth[i]) for i in pool.ids])
    for cap in args.steps:
        builder.MAX_CONTRASTIVE_STEPS = cap
        for seed in args.seeds:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # labels in memory only: none are given here
                learner = ActiveLearner(pool, seed=seed, cache_dir=args.cache_dir, num_threads=args.threads,
                                        representation="contrastive", slow_cycle="inline")
            try:
                learner.recipe.prepare(learner, lambda *a: None, CancelToken())
                x = learner.recipe.candidates.ready()["contrastive"].features_N_D.numpy()
                out = dict(cap=cap, seed=seed, steps=learner.recipe.representation.config.steps,
                           build_s=round(time.perf_counter() - t0, 1))
                out.update({f"acc@{n}": round(probe(x, y, n, args.draws, seed), 2) for n in args.labels})
                print(json.dumps(out), flush=True)
            finally:
                learner.close()


if __name__ == "__main__":
    main()
