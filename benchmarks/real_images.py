"""Real images nobody here made: the default learner on the Twemoji artwork, against anchors.

The pool is ``emoji-twitter/`` under ``--data`` (``$ALWIDGET_DATA``): 3,781 Twemoji images
(v16.0.1, CC BY 4.0, © Twitter, Inc and other contributors) in their 9 Unicode categories,
imbalanced (People and Body 60 %) and full of near-duplicates (skin tones). Each seed splits it
by *whole emoji* (every skin tone of one emoji on the same side; ``emoji-twitter.csv`` gives the
groups): 25 % of the emoji are held out as the test set, never in the pool, the representation
or the graph. ``--one-per-emoji`` keeps one image per emoji (no skin-tone variants; roughly
balanced classes).

For every seed and label count it reports test accuracy and balanced accuracy of

* ``default``: ``ActiveLearner(pool)`` as a user makes it (``backbone="auto"``, the labels
  choose the representation, budget-aware selection), 100 validation labels from the truth not
  counted; with ``--weights lite0`` the EfficientNet-Lite0 ImageNet weights are given as a file,
  with ``--weights none`` the learner runs offline (``HF_HUB_OFFLINE=1``: the fallback);
* ``random``: the same learner with random selection (same representations);
* anchors on random labels: always the largest class; logistic regression on 50 principal
  components of the 32 px pixels; logistic regression on the pretrained features (``lite0`` only).

Usage::

    python benchmarks/real_images.py --data ../shared/datasets --weights lite0 --seeds 0 1 2
    python benchmarks/real_images.py --data ../shared/datasets --weights none --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def emoji_groups(data: Path) -> Dict[str, str]:
    """``{pool id: group}``: the emoji's short name (all skin tones of one emoji share it)."""
    groups = {}
    with open(data / "emoji-twitter.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            groups[f"{row['category']}/{row['file']}"] = row["short_name"]
    return groups


def emoji_pools(data: Path, seed: int, test_fraction: float = 0.25, one_per_emoji: bool = False):
    """``(pool, test)``: the emoji folder split by whole emoji (seeded)."""
    from alwidget import ImagePool

    full = ImagePool.from_folder(data / "emoji-twitter")
    groups = emoji_groups(data)
    ids = [i for i in full.ids if i in groups]
    if one_per_emoji:
        seen, kept = set(), []
        for i in ids:  # the first file of each emoji: the default (no skin tone) comes first
            if groups[i] not in seen:
                seen.add(groups[i])
                kept.append(i)
        ids = kept
    names = sorted({groups[i] for i in ids})
    rng = np.random.default_rng([seed, 2026])
    held = set(np.asarray(names)[rng.permutation(len(names))[: int(round(test_fraction * len(names)))]].tolist())
    return full.subset([i for i in ids if groups[i] not in held]), full.subset([i for i in ids if groups[i] in held])


def truth_array(pool, classes: Sequence[str]) -> np.ndarray:
    index = {c: k for k, c in enumerate(classes)}
    return np.array([index[pool.truth[i]] for i in pool.ids])


def pixel_features(pool, size: int = 32) -> np.ndarray:
    from alwidget.data.tensors import load_pool_rows

    u8, _ = load_pool_rows(pool, 0, len(pool), size, 3)
    return u8.reshape(len(pool), -1).numpy().astype(np.float32) / 255.0


def lite0_features(pool, weights: Path, size: int, cache_dir: Path) -> np.ndarray:
    """The Lite0 trunk's features ``[N, 1280]`` of ``pool`` at ``size`` px (cached in ``cache_dir``)."""
    import hashlib

    import torch
    from alwidget.model.backbone import create_backbone
    from alwidget.engine import EmbedTask, embed_batch

    digest = hashlib.sha256("\n".join(pool.ids).encode()).hexdigest()[:16]
    path = cache_dir / f"lite0-{size}-{digest}.npy"
    if path.is_file():
        return np.load(path)

    trunk, info = create_backbone("tf_efficientnet_lite0", in_chans=3, pretrained=True, weights=weights)
    task = EmbedTask(trunk, pool, size, 3, info.mean, info.std, embed_batch(size))
    with torch.no_grad():
        feats = np.concatenate([task(s, min(s + 256, len(pool)))["features"] for s in range(0, len(pool), 256)])
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, feats)
    return feats


def logistic_anchor(train_X: np.ndarray, train_y: np.ndarray, test_X: np.ndarray, test_y: np.ndarray,
                    n_labels: Sequence[int], seed: int) -> Dict[int, Tuple[float, float]]:
    """Test (accuracy, balanced accuracy) of logistic regression on ``n`` random pool labels."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.preprocessing import StandardScaler

    out = {}
    rng = np.random.default_rng([seed, 77])
    order = rng.permutation(len(train_X))
    for n in n_labels:
        idx = order[:n]
        if len(np.unique(train_y[idx])) < 2:
            continue
        scaler = StandardScaler().fit(train_X[idx])
        clf = LogisticRegression(max_iter=3000).fit(scaler.transform(train_X[idx]), train_y[idx])
        pred = clf.predict(scaler.transform(test_X))
        out[n] = (float(np.mean(pred == test_y)), float(balanced_accuracy_score(test_y, pred)))
    return out


def pca_transform(train_X: np.ndarray, test_X: np.ndarray, seed: int, k: int = 50):
    from sklearn.decomposition import PCA

    pca = PCA(n_components=k, svd_solver="randomized", random_state=seed).fit(train_X)
    return pca.transform(train_X), pca.transform(test_X)


def learner_runs(pool, test, weights, strategies: Sequence[str], budget: int, step: int, seed: int,
                 cache_dir: Path, num_threads: int, representation_steps=None) -> List[dict]:
    from sklearn.metrics import balanced_accuracy_score

    classes = list(pool.classes)
    y_test = truth_array(test, classes)
    rows = []
    for strategy in strategies:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from alwidget import ActiveLearner, Backbone

            learner = ActiveLearner(pool, backbone=Backbone(weights=weights),
                                    strategy=None if strategy == "default" else strategy,
                                    seed=seed, validation_from_truth=True, slow_cycle="inline",
                                    cache_dir=cache_dir, num_threads=num_threads,
                                    representation_config=None if representation_steps is None else
                                    {"steps": representation_steps})
        try:
            learner.prepare()  # the representations, built while a person labels the validation set
            first = learner.query(step)
            learner.teach(first, [pool.truth[i] for i in first], source="oracle")
            while True:
                t0 = time.perf_counter()
                rep = learner.retrain()
                probs = learner.predict_pool(test)
                pred = probs.argmax(1)
                rows.append(dict(seed=seed, method=strategy, n_labels=rep.n_labels,
                                 accuracy=float(np.mean(pred == y_test)),
                                 balanced_accuracy=float(balanced_accuracy_score(y_test, pred)),
                                 validation_accuracy=rep.accuracy, representation=rep.representation,
                                 reason=rep.representation_reason, selection=rep.selection,
                                 seconds=time.perf_counter() - t0))
                print(f"  seed {seed} {strategy:8s} {rep.n_labels:4d} labels: test {100 * rows[-1]['accuracy']:.1f}% "
                      f"(balanced {100 * rows[-1]['balanced_accuracy']:.1f}%) on {rep.representation}; "
                      f"{rep.representation_reason[:110]}", flush=True)
                if rep.n_labels >= budget:
                    break
                ids = learner.query(min(step, budget - rep.n_labels))
                learner.teach(ids, [pool.truth[i] for i in ids], source="oracle")
        finally:
            learner.close()
    return rows


def table(rows: List[dict], n_labels: Sequence[int], key: str = "accuracy") -> str:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = ["| method | " + " | ".join(str(n) for n in n_labels) + " |",
             "|---|" + "---|" * len(n_labels)]
    for m in methods:
        cells = []
        for n in n_labels:
            v = [r[key] for r in rows if r["method"] == m and r["n_labels"] == n]
            cells.append(f"{100 * np.median(v):.1f} [{100 * min(v):.1f}–{100 * max(v):.1f}]" if v else "–")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("ALWIDGET_DATA", "")) if os.environ.get(
        "ALWIDGET_DATA") else None, help="folder holding emoji-twitter/ (default $ALWIDGET_DATA)")
    ap.add_argument("--weights", choices=("lite0", "none"), default="lite0",
                    help="lite0: the EfficientNet-Lite0 ImageNet weights as a file; none: offline, the fallback")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--step", type=int, default=20)
    ap.add_argument("--strategies", nargs="+", default=["default", "random"])
    ap.add_argument("--one-per-emoji", action="store_true", help="one image per emoji (no skin-tone variants)")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/alwidget-real-images"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--representation-steps", type=int, default=None,
                    help="override the self-supervised steps (default: the learner's own budget)")
    ap.add_argument("--quick", action="store_true",
                    help="one seed, 40 labels, one image per emoji, 20 self-supervised steps (CI smoke test)")
    args = ap.parse_args(argv)
    if args.data is None or not (args.data / "emoji-twitter").is_dir():
        ap.error("--data must be a folder holding emoji-twitter/ (or set $ALWIDGET_DATA)")
    if args.quick:
        args.seeds, args.budget, args.one_per_emoji = args.seeds[:1], 40, True
        args.representation_steps = args.representation_steps or 20
    import torch

    torch.set_num_threads(args.threads)
    weights = None
    if args.weights == "lite0":
        from lite0_weights import lite0_checkpoint

        weights = lite0_checkpoint(args.cache_dir / "weights")
    else:
        os.environ["HF_HUB_OFFLINE"] = "1"
    n_labels = list(range(args.step, args.budget + 1, args.step))
    rows: List[dict] = []
    t_start = time.perf_counter()
    for seed in args.seeds:
        pool, test = emoji_pools(args.data, seed, one_per_emoji=args.one_per_emoji)
        classes = list(pool.classes)
        y_pool, y_test = truth_array(pool, classes), truth_array(test, classes)
        largest = np.bincount(y_pool, minlength=len(classes)).argmax()
        maj = (float(np.mean(y_test == largest)), 1.0 / len(np.unique(y_test)))
        rows += [dict(seed=seed, method="largest class", n_labels=n, accuracy=maj[0], balanced_accuracy=maj[1])
                 for n in n_labels]
        print(f"seed {seed}: pool {len(pool)}, test {len(test)}, largest class {classes[largest]} "
              f"{100 * maj[0]:.1f}% of the test set", flush=True)
        tr, te = pca_transform(pixel_features(pool), pixel_features(test), seed)
        for n, (acc, bal) in logistic_anchor(tr, y_pool, te, y_test, n_labels, seed).items():
            rows.append(dict(seed=seed, method="PCA-50 pixels + LR, random", n_labels=n, accuracy=acc,
                             balanced_accuracy=bal))
        if weights is not None:  # the features of every emoji once, then the rows of each split
            from alwidget import ImagePool
            from alwidget.data.tensors import choose_image_size, pool_channels

            size = choose_image_size(pool_channels(pool)[1], 224, pretrained=True)
            everything = ImagePool.from_folder(args.data / "emoji-twitter")
            feats = lite0_features(everything, weights, size, args.cache_dir)
            row = {item: r for r, item in enumerate(everything.ids)}
            tr, te = feats[[row[i] for i in pool.ids]], feats[[row[i] for i in test.ids]]
            for n, (acc, bal) in logistic_anchor(tr, y_pool, te, y_test, n_labels, seed).items():
                rows.append(dict(seed=seed, method=f"Lite0 {size}px + LR, random", n_labels=n, accuracy=acc,
                                 balanced_accuracy=bal))
        rows += learner_runs(pool, test, weights, args.strategies, args.budget, args.step, seed, args.cache_dir,
                             args.threads, args.representation_steps)
    cmd = "python benchmarks/real_images.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"\n`{cmd}` ({time.strftime('%Y-%m-%d')}, {time.perf_counter() - t_start:.0f} s); "
          f"median [min–max] over seeds {args.seeds}, test accuracy %:\n")
    print(table(rows, n_labels))
    print("\nbalanced accuracy %:\n")
    print(table(rows, n_labels, "balanced_accuracy"))
    if args.json:
        args.json.write_text(json.dumps(dict(command=cmd, seeds=args.seeds, rows=rows), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
