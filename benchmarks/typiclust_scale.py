"""TypiClust's cold start (20 picks, no labels) on clustered features at large N: seconds and peak memory.

    python benchmarks/typiclust_scale.py --sizes 100000 1000000
    python benchmarks/typiclust_scale.py --sizes 100000 --baseline   # also without the samples (slow at 1,000,000)

The features are 50 Gaussian blobs in 128 dimensions (float32, as a representation gives them).
``--baseline`` runs the same picks with k-means fitted on every point and typicality computed
over whole clusters (``max_kmeans_points`` and ``max_typicality_points`` unbounded) in the same
process, and prints the ratio.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[100_000, 1_000_000])
    ap.add_argument("--baseline", action="store_true")
    args = ap.parse_args(argv)
    from alwidget.strategies import PoolEstimate, create_strategy

    warm = np.random.default_rng(1).normal(size=(2000, 128)).astype(np.float32)  # imports, first-call costs
    create_strategy("typiclust").select(PoolEstimate(probs_N_C=np.full((2000, 10), 0.1), features_N_D=warm), 20,
                                        np.ones(2000, bool), np.random.default_rng(0))
    print("| items | s (sampled) | s (unbounded) | ratio | peak RSS MB |\n|---|---|---|---|---|")
    for n in args.sizes:
        rng = np.random.default_rng(0)
        centres = rng.normal(size=(50, 128)).astype(np.float32) * 3
        x = centres[rng.integers(0, 50, n)] + rng.normal(size=(n, 128)).astype(np.float32)
        est = PoolEstimate(probs_N_C=np.full((n, 10), 0.1), features_N_D=x, labeled_N=np.zeros(n, bool))
        times = []
        for params in ({},) + (({"max_kmeans_points": 10**12, "max_typicality_points": 10**12},) if args.baseline
                               else ()):
            t = time.perf_counter()
            picked = create_strategy("typiclust", **params).select(est, 20, np.ones(n, bool), np.random.default_rng(0))
            times.append(time.perf_counter() - t)
            assert len(set(picked.tolist())) == 20
        base = f"{times[1]:.1f}" if len(times) > 1 else "–"
        ratio = f"{times[1] / times[0]:.1f}×" if len(times) > 1 else "–"
        print(f"| {n:,} | {times[0]:.1f} | {base} | {ratio} | "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
