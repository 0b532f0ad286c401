"""Resident memory of an ``embed``-mode learner over a lazy torch-dataset pool, step by step.

The pool is ``ImagePool.from_torch`` over a dataset that makes 32×32 RGB images on demand
(``torch.rand`` seeded by the index: nothing is held by the dataset), the trunk a small user
module (``benchmarks/large_pool.py``'s, 32 features); the learner gets the default
``memory_limit``, a validation set from the truth, 50 labels, one cycle and one query. For each
pool size, in a fresh subprocess, it prints the resident set after each step, the peak
(``ru_maxrss``) and the largest arrays it holds, so the memory per item can be read off two sizes.

    python benchmarks/pool_memory.py --items 20000 40000
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _child import run_json  # noqa: E402


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(n: int, cache_dir: str) -> dict:
    """Run one pool size in this process; returns ``{"items", "steps": {step: [rss, peak]}, "arrays"}``."""
    warnings.simplefilter("ignore")
    import torch

    from large_pool import small_trunk

    from alwidget import ActiveLearner, Backbone, ImagePool

    class Generated(torch.utils.data.Dataset):
        """32×32 RGB images made on demand from the index."""

        def __init__(self, n: int) -> None:
            self.n, self.targets, self.classes = n, [i % 10 for i in range(n)], [str(c) for c in range(10)]

        def __len__(self) -> int:
            return self.n

        def __getitem__(self, i: int):
            return torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(i)), self.targets[i]

    steps = {"start": [_rss_mb(), _peak_mb()]}
    pool = ImagePool.from_torch(Generated(n))
    steps["pool"] = [_rss_mb(), _peak_mb()]
    learner = ActiveLearner(pool, mode="embed", backbone=Backbone(small_trunk(), image_size=32),
                            validation_from_truth=True, seed=0, cache_dir=cache_dir)
    steps["learner"] = [_rss_mb(), _peak_mb()]
    ids = learner.query(50)
    learner.teach(ids, [pool.truth[i] for i in ids])
    learner.retrain()
    steps["cycle"] = [_rss_mb(), _peak_mb()]
    learner.query(20)
    steps["query"] = [_rss_mb(), _peak_mb()]
    est = learner._model.estimate
    arrays = {"resized images": learner._tensors._u8.nbytes / 2**20,
              "pool's image cache": pool._source.cache._bytes / 2**20,
              "posterior samples": 0.0 if est.samples_T_N_C is None else est.samples_T_N_C.nbytes / 2**20,
              "features": est.features_N_D.nbytes / 2**20, "probabilities": est.probs_N_C.nbytes / 2**20}
    plan = learner.memory_plan.describe()
    learner.close()
    return {"items": n, "steps": steps, "arrays": arrays, "plan": plan}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", nargs="+", type=int, default=[20000, 40000])
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.cache_dir)))
        return 0
    rows = []
    print("| items | after the learner MB | after the cycle MB | peak MB | resized images MB | pool's image cache MB "
          "| samples + features + probabilities MB |")
    print("|---|---|---|---|---|---|---|")
    for n in args.items:
        with tempfile.TemporaryDirectory() as tmp:  # a fresh cache: the features are computed, not loaded
            r = run_json([sys.executable, __file__, "--one", str(n), "--cache-dir", tmp])
        if r is None:
            return 1
        rows.append(r)
        s, a = r["steps"], r["arrays"]
        rest = a["posterior samples"] + a["features"] + a["probabilities"]
        print(f"| {n:,} | {s['learner'][0]:.0f} | {s['cycle'][0]:.0f} | {s['query'][1]:.0f} | "
              f"{a['resized images']:.0f} | {a['pool' + chr(39) + 's image cache']:.0f} | {rest:.0f} |", flush=True)
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        per = lambda key, i: (b["steps"][key][i] - a["steps"][key][i]) * 2**20 / (b["items"] - a["items"]) / 1024
        print(f"\nper item between {a['items']:,} and {b['items']:,}: {per('cycle', 0):.1f} KB resident after the "
              f"cycle, {per('query', 1):.1f} KB at the peak")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
