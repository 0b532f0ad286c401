"""Cycle speed and memory on Fashion-MNIST: seconds per step and peak resident memory.

For each (mode, pool size, labels) configuration, a fresh subprocess builds a learner on the
first ``pool`` Fashion-MNIST training images, labels ``labels`` random items (plus the
validation set) from the truth, runs one warm-up cycle (in ``embed`` mode this computes and
caches the features; in ``semi`` mode it waits for the representation to be learned), labels
one more batch, then times the cycle that follows — from the last label of the batch to the
next query ready: train, features, score, select, report. In ``semi`` mode that is the fast
cycle (the slow cycle is switched off for it), and the representation's build time and the
slow cycle (:meth:`~alwidget.ActiveLearner.refine`, timed after) are reported beside it.

Usage::

    python benchmarks/cycle_speed.py --data ../shared/datasets            # the full grid
    python benchmarks/cycle_speed.py --data ../shared/datasets --quick    # a smoke test
    python benchmarks/cycle_speed.py --pools 10000 --labels 100 500      # issue #2's figures

Peak memory is the subprocess's ``ru_maxrss`` (the whole Python process, torch included).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import run_json  # noqa: E402


def one(mode: str, pool_size: int, labels: int, data: str, k: int, seed: int,
        num_threads: Optional[int] = None, max_steps: Optional[int] = None,
        repr_steps: Optional[int] = None, cache_dir: Optional[str] = None) -> dict:
    """Time one cycle in this process; returns the figures as a dict."""
    warnings.simplefilter("ignore")

    from alwidget import ActiveLearner, datasets
    from alwidget.uncertainty import MCDropout

    fm = datasets.fashion_mnist(data, split="train", limit=pool_size)
    extra = {}
    if mode == "semi":
        extra = dict(refine_every=None, representation_config={"steps": repr_steps} if repr_steps else None,
                     refine_config={"steps": max_steps} if max_steps else None, cache_dir=cache_dir)
    learner = ActiveLearner(fm, validation_from_truth=True, mode=mode, seed=seed, uncertainty=MCDropout(n_samples=20),
                            validation_size=min(200, pool_size // 10), num_threads=num_threads,
                            train={"max_steps": max_steps} if max_steps else None, **extra)
    first = learner.query(labels - k)
    learner.teach(first, [fm.truth[i] for i in first], source="oracle")
    warm = learner.retrain()
    batch = learner.query(k)
    learner.teach(batch, [fm.truth[i] for i in batch], source="oracle")
    t0 = time.perf_counter()
    rep = learner.retrain()
    t1 = time.perf_counter()
    nxt = learner.query(k)
    t2 = time.perf_counter()
    assert len(nxt) == k and rep.n_labels == labels
    out = {
        "mode": mode, "pool": pool_size, "labels": labels,
        "train": rep.timings["train"], "features": rep.timings["features"], "score": rep.timings["score"],
        "select": t2 - t1, "report": rep.timings["report"], "total": t2 - t0,
        "warmup_total": warm.timings["total"], "val_acc": rep.accuracy,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "train_steps": rep.train_steps,
    }
    if mode == "semi":
        built = learner.representation.result()
        out["represent_s"] = float("nan") if built.from_cache else built.seconds
        out["rss_after_represent_mb"] = out["peak_rss_mb"]
        t3 = time.perf_counter()
        learner.refine()
        out["refine_s"] = time.perf_counter() - t3
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    learner.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("ALWIDGET_DATA"), help="folder holding fashion-mnist/")
    ap.add_argument("--quick", action="store_true",
                    help="tiny grid, seconds (CI smoke test); its rows run in this process, so the RSS column "
                         "is the process's peak so far")
    ap.add_argument("--modes", nargs="+", default=["semi", "embed", "finetune"])
    ap.add_argument("--repr-steps", type=int, default=None,
                    help="override the representation's self-supervised steps (--quick: 20)")
    ap.add_argument("--pools", nargs="+", type=int, default=[2000, 10000, 60000])
    ap.add_argument("--labels", nargs="+", type=int, default=[100, 1000])
    ap.add_argument("--k", type=int, default=20, help="labels per batch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads in a cycle (default: the learner's)")
    ap.add_argument("--max-steps", type=int, default=None, help="override TrainConfig.max_steps (--quick: 20)")
    ap.add_argument("--cache-dir", default=None,
                    help="semi mode: representation cache shared by the rows (a pool's second row reuses it)")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        mode, pool, labels = args.one.split(",")
        print(json.dumps(one(mode, int(pool), int(labels), args.data, args.k, args.seed, args.threads, args.max_steps,
                             args.repr_steps, args.cache_dir)))
        return 0
    if args.quick:
        args.pools, args.labels = [300, 600], [60]
        args.max_steps = args.max_steps or 20
        args.repr_steps = args.repr_steps or 20
    rows = []
    print("| mode | pool | labels | train s | features s | score s | select s | report s | total s | "
          "peak RSS MB | val acc |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for mode in args.modes:
        for pool in args.pools:
            for labels in args.labels:
                cmd = [sys.executable, __file__, "--one", f"{mode},{pool},{labels}", "--k", str(args.k),
                       "--seed", str(args.seed)] + (["--data", args.data] if args.data else []) \
                    + (["--threads", str(args.threads)] if args.threads else []) \
                    + (["--max-steps", str(args.max_steps)] if args.max_steps else []) \
                    + (["--repr-steps", str(args.repr_steps)] if args.repr_steps else []) \
                    + (["--cache-dir", args.cache_dir] if args.cache_dir else [])
                if args.quick:  # a smoke test: this process (one torch import, not six; RSS accumulates)
                    r = one(mode, pool, labels, args.data, args.k, args.seed, args.threads, args.max_steps,
                            args.repr_steps, args.cache_dir)
                else:  # a fresh interpreter per row: its time and peak memory are its own
                    r = run_json(cmd)
                if r is None:
                    return 1
                rows.append(r)
                print(f"| {mode} | {pool} | {labels} | {r['train']:.2f} | {r['features']:.2f} | {r['score']:.3f} | "
                      f"{r['select']:.3f} | {r['report']:.3f} | {r['total']:.2f} | {r['peak_rss_mb']:.0f} | "
                      f"{100 * r['val_acc']:.1f}% |", flush=True)
    semi = [r for r in rows if r["mode"] == "semi"]
    if semi:
        print("\nsemi mode, the one-time and background steps:\n")
        print("| pool | labels | representation s (self-supervised + embedding) | peak RSS after it MB | "
              "slow cycle s (fine-tune + re-embed) | peak RSS MB |")
        print("|---|---|---|---|---|---|")
        for r in semi:
            built = "cached" if r["represent_s"] != r["represent_s"] else f"{r['represent_s']:.0f}"
            print(f"| {r['pool']} | {r['labels']} | {built} | {r['rss_after_represent_mb']:.0f} | "
                  f"{r['refine_s']:.0f} | {r['peak_rss_mb']:.0f} |")
    growth = pool_growth(rows)
    if growth:
        print("\nGrowth with the pool (least-squares line through the pool sizes, per mode and label count):\n")
        print("| mode | labels | pools | total s = a + b · pool | b: s per 10,000 images | exponent | "
              "peak RSS: MB per 10,000 images |")
        print("|---|---|---|---|---|---|---|")
        for g in growth:
            print(f"| {g['mode']} | {g['labels']} | {', '.join(map(str, g['pools']))} | {g['intercept_s']:.2f} + "
                  f"{g['slope_s_per_10k']:.2f} · pool/10k | {g['slope_s_per_10k']:.2f} | {g['exponent']:.2f} | "
                  f"{g['rss_mb_per_10k']:.0f} |")
        print("\n(exponent: d log total / d log pool between the smallest and largest pool; 1 = linear)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "growth": growth}, f, indent=1)
    return 0


def pool_growth(rows: list) -> list:
    """Per (mode, labels) with at least two pool sizes: the least-squares line of the cycle's total
    seconds against pool size (``slope_s_per_10k`` seconds per 10,000 more images,
    ``intercept_s``), the log-log exponent between the smallest and largest pool, and the
    peak-memory slope (MB per 10,000 images)."""
    import numpy as np

    out = []
    for key in sorted({(r["mode"], r["labels"]) for r in rows}):
        sel = sorted((r for r in rows if (r["mode"], r["labels"]) == key), key=lambda r: r["pool"])
        if len({r["pool"] for r in sel}) < 2:
            continue
        n = np.array([r["pool"] for r in sel], float)
        t = np.array([r["total"] for r in sel], float)
        m = np.array([r["peak_rss_mb"] for r in sel], float)
        b, a = np.polyfit(n / 1e4, t, 1)
        mb = np.polyfit(n / 1e4, m, 1)[0]
        exponent = float(np.log(t[-1] / t[0]) / np.log(n[-1] / n[0]))
        out.append({"mode": key[0], "labels": key[1], "pools": [int(x) for x in n], "slope_s_per_10k": float(b),
                    "intercept_s": float(a), "exponent": exponent, "rss_mb_per_10k": float(mb)})
    return out


if __name__ == "__main__":
    sys.exit(main())
