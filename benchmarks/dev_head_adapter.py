"""Development-split probes behind three defaults of the pretrained path (emoji, seeds 100–101).

Every figure here is on the *development* splits of the grouped emoji split
(:func:`real_images.emoji_pools`, seeds 100 and 101), with the EfficientNet-Lite0 features at
224 px of every emoji (cached by :func:`real_images.lite0_features`), random labels drawn three
times per count; the held-out seeds 0–2 are never read.

1. **The fast cycle's head on 1,280 features** (``--part head``): the MC-dropout head trained as
   the fast cycle trains it (300 steps, class-balanced batches), then its beliefs multiplied by
   the class priors (Bayes' rule for a head trained on balanced batches; here the pool's class
   shares), accuracy on the pool's unlabelled items. Variants: dropout on the 1,280 inputs or
   not (``p_in`` 0.25 / 0), and the features projected on their 128 leading principal
   directions (after standardising; one common scale) — what a faster cycle could use.
2. **The slow cycle's adapter** (``--part adapter``): logistic regression (the judge's linear
   probe) on the frozen standardised features against the same on the features adapted by
   :func:`alwidget.representation.adapt.adapt_representation` trained on the same labels;
   accuracy on the pool's unlabelled items and on the held-out half of the split (other emoji).

Usage::

    python benchmarks/dev_head_adapter.py --data ../shared/datasets
    python benchmarks/dev_head_adapter.py --data ../shared/datasets --part adapter
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def _features(data: Path, cache_dir: Path):
    from real_images import lite0_features
    from lite0_weights import lite0_checkpoint

    from alwidget import ImagePool

    everything = ImagePool.from_folder(data / "emoji-twitter")
    feats = lite0_features(everything, lite0_checkpoint(cache_dir / "weights"), 224, cache_dir)
    return everything, feats


def _project(x_std: np.ndarray, p: int) -> np.ndarray:
    """Standardised features on their ``p`` leading principal directions, one common scale."""
    _, _, vt = np.linalg.svd(x_std - x_std.mean(0), full_matrices=False)
    z = x_std @ vt[:p].T
    return z / np.sqrt(z.var(0).mean())


def head_part(data: Path, cache_dir: Path, seeds, counts, draws: int) -> None:
    import torch

    from alwidget.model.head import fit_head_predict
    from alwidget.model.train import TrainConfig
    from alwidget.uncertainty.mc_dropout import MCDropout
    from real_images import emoji_pools, truth_array

    everything, feats = _features(data, cache_dir)
    row = {item: r for r, item in enumerate(everything.ids)}
    print("\n| seed | labels | variant | accuracy, head alone | accuracy, head × class priors |\n|---|---|---|---|---|")
    for seed in seeds:
        pool, _ = emoji_pools(data, seed)
        y = truth_array(pool, list(pool.classes))
        x = feats[[row[i] for i in pool.ids]].astype(np.float32)
        x_std = (x - x.mean(0)) / np.maximum(x.std(0), 1e-6)
        weights = len(pool.classes) * np.bincount(y, minlength=len(pool.classes)) / len(y)
        variants = {"1,280 features, input dropout 0.25": (x_std, MCDropout(p_in=0.25)),
                    "1,280 features, no input dropout (the default)": (x_std, MCDropout(p_in=0.0)),
                    "128 principal directions, input dropout 0.25": (_project(x_std, 128), MCDropout(p_in=0.25))}
        for n in counts:
            for name, (z, est) in variants.items():
                plain, weighted = [], []
                for d in range(draws):
                    lab = np.random.default_rng([seed, d, n]).choice(len(y), n, replace=False)
                    free = np.setdiff1d(np.arange(len(y)), lab)
                    p = fit_head_predict(torch.from_numpy(z), lab, y[lab], free, est, len(pool.classes),
                                         TrainConfig(max_steps=300), n_samples=8, seed=d)
                    q = p * weights
                    plain.append(np.mean(p.argmax(1) == y[free]))
                    weighted.append(np.mean(q.argmax(1) == y[free]))
                print(f"| {seed} | {n} | {name} | {100 * np.mean(plain):.1f} | {100 * np.mean(weighted):.1f} |",
                      flush=True)


def adapter_part(data: Path, cache_dir: Path, seeds, counts, draws: int) -> None:
    import torch

    from alwidget.model.features import Standardize
    from alwidget.representation.adapt import adapt_representation
    from alwidget.representation.builder import Representation
    from alwidget.semi.choice import linear_probe
    from real_images import emoji_pools, truth_array

    everything, feats = _features(data, cache_dir)
    row = {item: r for r, item in enumerate(everything.ids)}
    print("\n| seed | labels | frozen, pool | adapted, pool | frozen, held-out emoji | adapted, held-out emoji | "
          "adapter seconds |\n|---|---|---|---|---|---|---|")
    for seed in seeds:
        pool, test = emoji_pools(data, seed)
        classes = list(pool.classes)
        y, y_test = truth_array(pool, classes), truth_array(test, classes)
        raw = torch.from_numpy(feats[[row[i] for i in pool.ids]].astype(np.float32))
        raw_test = torch.from_numpy(feats[[row[i] for i in test.ids]].astype(np.float32))
        norm = Standardize.fit(raw)
        with torch.no_grad():
            z, z_test = norm(raw), norm(raw_test)
        base = Representation(torch.nn.Identity(), raw, norm, z)
        for n in counts:
            acc = {k: [] for k in ("fp", "ap", "ft", "at")}
            secs = []
            for d in range(draws):
                lab = np.random.default_rng([seed, d, n]).choice(len(y), n, replace=False)
                free = np.setdiff1d(np.arange(len(y)), lab)
                t0 = time.perf_counter()
                adapted = adapt_representation(base, lab, y[lab], len(classes), seed=d)
                secs.append(time.perf_counter() - t0)
                with torch.no_grad():
                    a, a_test = adapted.features_N_D.numpy(), adapted.norm(raw_test).numpy()
                zz, zt = z.numpy(), z_test.numpy()
                acc["fp"].append(np.mean(linear_probe(zz[lab], y[lab], zz[free], len(classes)).argmax(1) == y[free]))
                acc["ap"].append(np.mean(linear_probe(a[lab], y[lab], a[free], len(classes)).argmax(1) == y[free]))
                acc["ft"].append(np.mean(linear_probe(zz[lab], y[lab], zt, len(classes)).argmax(1) == y_test))
                acc["at"].append(np.mean(linear_probe(a[lab], y[lab], a_test, len(classes)).argmax(1) == y_test))
            cells = " | ".join(f"{100 * np.mean(acc[k]):.1f}" for k in ("fp", "ap", "ft", "at"))
            print(f"| {seed} | {n} | {cells} | {np.mean(secs):.1f} |", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ["ALWIDGET_DATA"]) if os.environ.get("ALWIDGET_DATA")
                    else None, help="folder holding emoji-twitter/ (default $ALWIDGET_DATA)")
    ap.add_argument("--part", choices=("head", "adapter", "both"), default="both")
    ap.add_argument("--seeds", type=int, nargs="+", default=[100, 101])
    ap.add_argument("--draws", type=int, default=3, help="random label draws per count")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/alwidget-real-images"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if args.data is None or not (args.data / "emoji-twitter").is_dir():
        ap.error("--data must be a folder holding emoji-twitter/ (or set $ALWIDGET_DATA)")
    if any(s < 100 for s in args.seeds):
        ap.error("development seeds only (100 and up): seeds 0-2 are the held-out splits")
    import torch

    torch.set_num_threads(args.threads)
    cmd = "python benchmarks/dev_head_adapter.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"`{cmd}` ({time.strftime('%Y-%m-%d %H:%M')}); means over {args.draws} random label draws, accuracy %")
    if args.part in ("head", "both"):
        head_part(args.data, args.cache_dir, args.seeds, (20, 60), args.draws)
    if args.part in ("adapter", "both"):
        adapter_part(args.data, args.cache_dir, args.seeds, (40, 100, 200), args.draws)
    return 0


if __name__ == "__main__":
    sys.exit(main())
