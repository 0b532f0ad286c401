"""Which approximate-nearest-neighbour library builds the kNN graph at large N: pynndescent,
hnswlib or faiss-cpu, against scikit-learn's exact search.

Features: a mixture of 50 Gaussian clusters in ``--dim`` dimensions (the shape of a learned
representation), ``N`` items; each library finds the 10 nearest neighbours of every item (the
graph needs all of them), on one thread. Recall@10 is measured against the exact neighbours of
2,000 random items.

Usage::

    python benchmarks/knn_libraries.py --sizes 20000 100000 --dim 64
    python benchmarks/knn_libraries.py --quick
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

K = 10


def clusters(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (50, dim)).astype(np.float32)
    return (centres[rng.integers(0, 50, n)] + rng.normal(0, 0.6, (n, dim))).astype(np.float32)


def run_library(name: str, x: np.ndarray) -> np.ndarray:
    """Indices ``[N, K + 1]`` (each item itself included) from ``name``."""
    n, dim = x.shape
    if name == "exact (scikit-learn)":
        from sklearn.neighbors import NearestNeighbors

        return NearestNeighbors(n_neighbors=K + 1, n_jobs=1).fit(x).kneighbors(x)[1]
    if name == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="l2", dim=dim)
        index.init_index(max_elements=n, ef_construction=100, M=16, random_seed=0)
        index.set_num_threads(1)
        index.add_items(x, np.arange(n))
        index.set_ef(50)
        return index.knn_query(x, k=K + 1)[0].astype(np.int64)
    if name == "faiss (HNSW32)":
        import faiss

        faiss.omp_set_num_threads(1)
        index = faiss.IndexHNSWFlat(dim, 32)
        index.hnsw.efConstruction = 100
        index.add(x)
        index.hnsw.efSearch = 50
        return index.search(x, K + 1)[1].astype(np.int64)
    if name == "pynndescent":
        import pynndescent

        index = pynndescent.NNDescent(x, n_neighbors=K + 1, random_state=0, n_jobs=1, low_memory=True)
        return index.neighbor_graph[0].astype(np.int64)
    raise ValueError(name)


LIBRARIES = ["exact (scikit-learn)", "hnswlib", "faiss (HNSW32)", "pynndescent"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20000, 100000])
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--libraries", nargs="+", default=LIBRARIES)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    sizes = [3000] if args.quick else args.sizes
    if args.quick:  # pynndescent's first call compiles with numba for about a minute
        args.libraries = [lib for lib in args.libraries if lib != "pynndescent"]
    print(f"# python benchmarks/knn_libraries.py --sizes {' '.join(map(str, sizes))} --dim {args.dim} "
          f"({time.strftime('%Y-%m-%d')})")
    records = []
    for n in sizes:
        x = clusters(n, args.dim)
        probe = np.random.default_rng(1).choice(n, min(2000, n), replace=False)
        from sklearn.neighbors import NearestNeighbors

        truth = NearestNeighbors(n_neighbors=K + 1).fit(x).kneighbors(x[probe])[1][:, 1:]
        base = None
        for lib in args.libraries:
            if lib == "exact (scikit-learn)" and n > 200_000:
                continue
            try:
                t0 = time.perf_counter()
                idx = run_library(lib, x)
                secs = time.perf_counter() - t0
            except ImportError as exc:
                print(f"{lib}: not installed ({exc})")
                continue
            got = idx[probe]
            recall = np.mean([len(set(g[g != p][:K]) & set(t)) / K for g, t, p in zip(got, truth, probe)])
            base = secs if lib == LIBRARIES[0] else base
            rec = dict(n=n, dim=args.dim, library=lib, seconds=round(secs, 2), recall_at_10=round(float(recall), 4),
                       speedup_vs_exact=None if base is None else round(base / secs, 2))
            records.append(rec)
            print(json.dumps(rec), flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(records, fh, indent=1)


if __name__ == "__main__":
    main()
