"""The fast cycle of the default (``semi``) learner at 10,000 / 60,000 / 100,000 images, step by step.

For each pool, in a fresh subprocess: a default learner (every candidate representation the
machine offers offline: the pixels' PCA and the self-supervised trunk, ``--repr-steps`` steps,
cached in ``--cache-dir``; the slow cycle off so that it does not share the cores with what is
timed), the validation set from the truth, then

1. the wait for the candidates and their kNN graphs (built in the background as each candidate
   is ready);
2. the *first cycle*: the first batch of ``--k`` labels (typical points on the representation),
   ``retrain()`` and the next ``query(k)``: what the person waits for after the validation set;
3. ``--cycles`` more cycles of ``k`` labels each, timed from the last label of the batch to the
   next query ready. Between two cycles the script waits for background work (the labels'
   judgement of the representations, which a pool over ``JUDGE_INLINE_UP_TO`` items runs on its
   own thread) as a person labelling the batch would give it time to end (``--no-pause``: not).

Prints, per pool, the first cycle and the median of the later ones with their steps: ``graph``
(propagating the labels and picking the pseudo-labels), the rest of ``train`` (the head),
``score`` (the posterior over the pool and the strategy's scores), ``query``; the same for the
later cycles that propagated on the graph (the labels' judgement may prefer a head on the labels
alone, which has no graph step: the graph cycles are the slow case); and the peak
resident memory, and of it what the interpreter held after its imports (torch, alwidget) before
the pool and the learner were made.

    python benchmarks/fast_cycle.py --data ../shared/datasets --pools 10000 60000 --generated 100000 \\
        --cache-dir /tmp/fc

Fashion-MNIST's training split gives the 10,000 and 60,000 pools; ``--generated N`` adds a pool
of N generated 32×32 colour images (``benchmarks/large_pool.py``'s generator).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _child import run_json  # noqa: E402
from _memtrace import MemoryTrace  # noqa: E402
STEPS = ("graph", "head", "score", "query", "total")


def _steps(report, query_s: float) -> Dict[str, float]:
    t = report.timings
    graph = t.get("graph", 0.0)
    return {"graph": graph, "head": t["train"] - graph, "score": t["score"] + t.get("report", 0.0),
            "query": query_s, "total": t["total"] + query_s}


def _wait_background(learner) -> float:
    """Seconds spent waiting for the package's background threads (a person labelling meanwhile)."""
    t0 = time.perf_counter()
    for thread in threading.enumerate():
        if thread.name.startswith(("alwidget-judge", "alwidget-representations")):
            thread.join()
    return time.perf_counter() - t0


def _classifier(report) -> str:
    """What a cycle's head learned from: ``graph`` (it propagated on the kNN graph and trained on
    the graph's pseudo-labels as well) or ``linear`` (the labels' judgement preferred the head on
    the labels alone: no graph step, no pseudo-labels)."""
    return "graph" if report.pseudo_labels > 0 else "linear"


def _rss_mb() -> float:
    """Resident set of this process now, MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one(pool_spec: str, data: str, k: int, cycles: int, seed: int, repr_steps: int, cache_dir: str,
        pause: bool, trace: bool = False) -> dict:
    """Run one pool in this process; returns its figures (with ``trace``: ``memory_trace``, the
    anonymous resident set's highs after the pool exists and where each thread was then)."""
    warnings.simplefilter("ignore")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch  # noqa: F401  (the baseline below includes it: every learner imports it)

    from alwidget import ActiveLearner, ImagePool, datasets

    baseline_mb = _rss_mb()  # the interpreter and its imports, before any pool or learner
    kind, n = pool_spec.split(":")
    n = int(n)
    if kind == "fashion":
        pool = datasets.fashion_mnist(data, split="train", limit=n)
    else:
        import numpy as np

        from large_pool import make_pool_file

        path = Path(cache_dir) / f"generated-{n}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        make_pool_file(path, n, seed=seed)
        truth = np.load(path.with_suffix(".truth.npy"))
        pool = ImagePool.from_arrays(np.load(path, mmap_mode="r"), truth=truth.astype(np.int64),
                                     classes=[str(c) for c in range(10)])
    tracer = MemoryTrace(step_mb=100).__enter__() if trace else None  # from here: the pool exists
    t0 = time.perf_counter()
    learner = ActiveLearner(pool, validation_from_truth=True, seed=seed, refine_every=None,
                            representation_config={"steps": repr_steps}, cache_dir=cache_dir)
    learner.recipe.candidates.wait_all()
    _wait_background(learner)
    ready_s = time.perf_counter() - t0
    truth = pool.truth
    batch = learner.query(k)
    learner.teach(batch, [truth[i] for i in batch])
    t0 = time.perf_counter()
    report = learner.retrain()
    t1 = time.perf_counter()
    learner.query(k)
    first = _steps(report, time.perf_counter() - t1)
    first["representation"] = report.representation
    first["classifier"] = _classifier(report)
    later: List[Dict[str, float]] = []
    paused = 0.0
    for _ in range(cycles):
        if pause:
            paused += _wait_background(learner)
        batch = learner.query(k)
        learner.teach(batch, [truth[i] for i in batch])
        report = learner.retrain()
        t1 = time.perf_counter()
        learner.query(k)
        row = _steps(report, time.perf_counter() - t1)
        row["representation"] = report.representation
        row["classifier"] = _classifier(report)
        later.append(row)
    n_labels = len(learner.labels)
    learner.close()
    if tracer is not None:
        tracer.__exit__(None, None, None)
    median = {s: statistics.median(r[s] for r in later) for s in STEPS}
    graph_rows = [r for r in later if r["classifier"] == "graph"]
    median_graph = {s: statistics.median(r[s] for r in graph_rows) for s in STEPS} if graph_rows else None
    return {"pool": pool_spec, "ready_s": ready_s, "first": first, "later": later, "median": median,
            "median_graph": median_graph, "graph_cycles": len(graph_rows),
            "paused_s": paused, "labels": n_labels, "baseline_mb": baseline_mb,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            **({"peak_anon": tracer.peak(), "memory_trace": tracer.events} if tracer is not None else {})}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("ALWIDGET_DATA"), help="folder holding fashion-mnist/")
    ap.add_argument("--pools", nargs="*", type=int, default=[10000, 60000], help="Fashion-MNIST train pools")
    ap.add_argument("--generated", nargs="*", type=int, default=[], help="generated pools (32 px colour)")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--cycles", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repr-steps", type=int, default=50, help="self-supervised steps (the speed, not the quality)")
    ap.add_argument("--cache-dir", default="/tmp/alwidget-fast-cycle")
    ap.add_argument("--no-pause", action="store_true", help="do not wait for background work between cycles")
    ap.add_argument("--quick", action="store_true", help="a 600-image pool, 2 cycles, 5 steps (CI smoke test)")
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--trace-memory", action="store_true",
                    help="record where the anonymous resident set peaks (the rows in --json hold the trace)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.data, args.k, args.cycles, args.seed, args.repr_steps, args.cache_dir,
                             not args.no_pause, args.trace_memory)))
        return 0
    if args.quick:
        args.pools, args.generated, args.cycles, args.repr_steps = [600], [], 2, 5
    specs = [f"fashion:{n}" for n in args.pools] + [f"generated:{n}" for n in args.generated]
    rows = []
    print("| pool | candidates + graphs ready s | first cycle s (graph / head / score / query) | "
          f"later cycles, median of {args.cycles} s (graph / head / score / query) | "
          "of them the cycles that propagated on the graph: how many, median s (steps) | peak RSS MB | "
          "of which the interpreter and imports MB |")
    print("|---|---|---|---|---|---|---|")
    for spec in specs:
        cmd = [sys.executable, __file__, "--one", spec, "--k", str(args.k), "--cycles", str(args.cycles),
               "--seed", str(args.seed), "--repr-steps", str(args.repr_steps), "--cache-dir", args.cache_dir] \
            + (["--data", args.data] if args.data else []) + (["--no-pause"] if args.no_pause else []) \
            + (["--trace-memory"] if args.trace_memory else [])
        r = run_json(cmd)
        if r is None:
            return 1
        rows.append(r)
        f, m = r["first"], r["median"]
        parts = lambda d: " / ".join(f"{d[s]:.2f}" for s in STEPS[:-1])
        g = r["median_graph"]
        graph_cell = f"{r['graph_cycles']}: {g['total']:.2f} ({parts(g)})" if g else "0"
        print(f"| {spec} | {r['ready_s']:.0f} | {f['total']:.2f} ({parts(f)}) | {m['total']:.2f} ({parts(m)}) | "
              f"{graph_cell} | {r['peak_rss_mb']:.0f} | {r['baseline_mb']:.0f} |", flush=True)
        if r.get("peak_anon"):
            p = r["peak_anon"]
            print(f"|   | peak anonymous memory {p['anon_mb']} MB at {p['t']} s: "
                  + "; ".join(f"{name}: {frames[-1]}" for name, frames in p["where"].items()) + " | | | | | |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
