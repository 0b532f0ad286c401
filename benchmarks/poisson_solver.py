"""Poisson learning's solve on a large kNN graph: plain conjugate gradients against the default.

For each pool: the pixels' first 50 principal components (scikit-learn's randomized PCA), the
kNN graph of the fast cycle (``knn_graph``, with its k-means partition), random labels, and one
Poisson solve nine ways, in this process, one after another, on one thread unless said:

- ``plain f64``: conjugate gradients with scipy's float64 product and no preconditioner (the
  solver before 2026-12-03, fifth session: the baseline);
- ``torch f64`` / ``torch f32``: torch's CSR product in float64 / float32, no preconditioner;
- ``two-level f64``: the k-means two-level preconditioner, scipy's product;
- ``two-level torch f64`` / ``two-level torch f32``: the preconditioner with torch's product;
- ``two-level f32``: the preconditioner and scipy's product, all in float32 (inner products in
  float64);
- ``two-level torch f32, all``: the same on torch's tensors and CSR kernel (all of torch's
  threads; the other ways set one);
- ``default at this size, tol 0.001``: what the fast cycle runs, ``knn_graph(...).poisson()``
  (float32 on torch; two-level from 5,000 items) stopped at ``propagate``'s ``PROPAGATION_TOL``,
  on every core as the fast cycle runs it from 10,000 items.
  The other ways stop at a relative residual of 1e-5.

Prints the products (iterations), seconds, the ratio to the baseline, test accuracy on the
unlabelled items and the share of predictions equal to the baseline's.

    python benchmarks/poisson_solver.py --data ../shared/datasets --fashion 60000 --generated 100000
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


class _Counting:
    def __init__(self, A):
        self.A, self.n = A, 0

    def __matmul__(self, X):
        self.n += 1
        return self.A @ X


class TorchCSROperator:
    """``A @ X`` for a sparse ``A [N, N]`` with torch's CSR kernel; ``X [N, C]`` and the product float64.

    The product alone in another precision, inside a float64 solve: the fifth session's
    comparison. Measured interleaved on a 60,000-item kNN graph here, a float64 product took
    6.6 ms (int32 indices) or 8.6 ms (int64) against scipy's 6.2 ms. ``dtype=np.float32`` rounds
    each product to about 1e-7 of ``|A| |X|`` while the vectors stay float64: with the two-level
    preconditioner the search directions are smooth vectors whose product is far smaller than
    they are, and that rounding stalled the solve (118 products instead of 51 on 100,000
    generated images, BENCHMARKS.md). What the package does now is different: the whole solve in
    float32 on torch tensors (``PoissonSystem(dtype=np.float32, backend="torch")``, the ``two-level
    f32`` and ``default`` rows), which takes as many products as float64.
    """

    def __init__(self, A, dtype=np.float64) -> None:
        import warnings

        import torch

        self.shape = A.shape
        self.dtype = np.dtype(dtype)
        with warnings.catch_warnings():  # "sparse CSR support is in beta": products are all we use
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
            index = np.int32 if A.nnz < 2 ** 31 else np.int64  # int32: 4 bytes less per stored weight
            self._csr = torch.sparse_csr_tensor(torch.from_numpy(A.indptr.astype(index)),
                                                torch.from_numpy(A.indices.astype(index)),
                                                torch.from_numpy(A.data.astype(self.dtype)), size=A.shape,
                                                check_invariants=False)  # scipy's CSR is valid

    def __matmul__(self, X_N_C: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(X_N_C, dtype=self.dtype))
        return (self._csr @ x).numpy().astype(np.float64, copy=False)


def _features(spec: str, data: str, workdir: Path):
    from sklearn.decomposition import PCA

    kind, n = spec.split(":")
    n = int(n)
    if kind == "fashion":
        from alwidget import datasets

        pool = datasets.fashion_mnist(data, split="train", limit=n)
        x = np.stack([np.asarray(pool.image(i, cache=False), dtype=np.float32).ravel() for i in pool.ids])
        y = np.array([pool.classes.index(pool.truth[i]) for i in pool.ids])
    else:
        from large_pool import make_pool_file

        path = workdir / f"generated-{n}.npy"
        make_pool_file(path, n, seed=0)
        x = np.load(path, mmap_mode="r").reshape(n, -1).astype(np.float32) / 255.0
        y = np.load(path.with_suffix(".truth.npy")).astype(np.int64)
    return PCA(50, svd_solver="randomized", random_state=0).fit_transform(x), y


def one(spec: str, data: str, n_labels: int, workdir: Path) -> dict:
    warnings.simplefilter("ignore")
    import torch

    from alwidget.semi import knn_graph
    from alwidget.semi import poisson as P

    torch.set_num_threads(1)
    f, y = _features(spec, data, workdir)
    t0 = time.perf_counter()
    graph = knn_graph(f)
    graph_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    system = graph.poisson()  # what the fast cycle uses: float32, two-level from COARSE_FROM items
    system_s = time.perf_counter() - t0
    n = len(y)
    lab = np.random.default_rng(0).choice(n, n_labels, replace=False)
    free = np.ones(n, dtype=bool)
    free[lab] = False
    # below the library's threshold (COARSE_FROM) the default is plain; the other ways are built
    # here all the same, so that small pools can be compared too
    from alwidget.semi.graph import coarse_clusters
    from alwidget.semi.propagate import PROPAGATION_TOL

    clusters = graph.clusters_N if graph.clusters_N is not None else coarse_clusters(f)
    s64 = P.PoissonSystem(graph.weights_N_N, clusters)  # float64, two-level
    s32 = P.PoissonSystem(graph.weights_N_N, clusters, dtype=np.float32)
    t64 = TorchCSROperator(s64._L_norm)
    t32 = TorchCSROperator(s64._L_norm, dtype=np.float32)
    two = s64.precondition
    st32 = P.PoissonSystem(graph.weights_N_N, clusters, dtype=np.float32, backend="torch")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    ways = {"plain f64": (s64, None, s64._L_norm, 1e-5, 1), "torch f64": (s64, None, t64, 1e-5, 1),
            "torch f32": (s64, None, t32, 1e-5, 1), "two-level f64": (s64, two, s64._L_norm, 1e-5, 1),
            "two-level torch f64": (s64, two, t64, 1e-5, 1), "two-level torch f32": (s64, two, t32, 1e-5, 1),
            "two-level f32": (s32, s32.precondition, s32.operator, 1e-5, 1),
            "two-level torch f32, all": (st32, st32.precondition, st32.operator, 1e-5, cores),
            f"default at this size, tol {PROPAGATION_TOL:g} (the fast cycle's)":
                (system, system.precondition, system.operator, PROPAGATION_TOL, cores)}
    rows, base = [], None
    for name, (solver, pre, op, tol, threads) in ways.items():
        solver.precondition, solver.operator = pre, _Counting(op)
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        pred = solver.solve(lab, y[lab], int(y.max()) + 1, tol=tol).argmax(1)
        sec = time.perf_counter() - t0
        base = pred if base is None else base
        rows.append(dict(way=name, products=solver.operator.n, seconds=sec, threads=threads,
                         accuracy=float((pred[free] == y[free]).mean()), same=float((pred == base).mean())))
    for r in rows:
        r["speedup"] = rows[0]["seconds"] / r["seconds"]
    return dict(pool=spec, n=n, labels=n_labels, graph_s=graph_s, system_s=system_s, coarse=system.n_coarse,
                components=system.n_components, rows=rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("ALWIDGET_DATA"), help="folder holding fashion-mnist/")
    ap.add_argument("--fashion", nargs="*", type=int, default=[], help="Fashion-MNIST train pools")
    ap.add_argument("--generated", nargs="*", type=int, default=[], help="generated pools (32 px colour)")
    ap.add_argument("--labels", type=int, default=220, help="random labels")
    ap.add_argument("--workdir", default="/tmp/alwidget-poisson-solver")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--quick", action="store_true", help="a 3,000-image Fashion-MNIST pool (CI smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.fashion, args.generated = [3000], []
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    out = []
    for spec in [f"fashion:{n}" for n in args.fashion] + [f"generated:{n}" for n in args.generated]:
        r = one(spec, args.data, args.labels, workdir)
        out.append(r)
        print(f"\n{spec}: kNN graph + k-means {r['graph_s']:.1f} s, system (Laplacian, coarse level of "
              f"{r['coarse']} clusters) {r['system_s']:.1f} s, {r['components']} components, {r['labels']} labels")
        print("| solve | threads | products | seconds | plain f64 ÷ this | accuracy (unlabelled) | same prediction as plain |")
        print("|---|---|---|---|---|---|---|")
        for row in r["rows"]:
            print(f"| {row['way']} | {row['threads']} | {row['products']} | {row['seconds']:.2f} | {row['speedup']:.1f}× | "
                  f"{100 * row['accuracy']:.2f} % | {100 * row['same']:.3f} % |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
