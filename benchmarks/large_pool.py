"""Pools past memory: peak resident memory and time of the streaming pass and of one fast cycle.

For each pool size a fresh subprocess:

1. opens a pool of generated 32×32 RGB images **memory-mapped** from a ``.npy`` file (made once
   per size in ``--workdir`` by the parent process: ten classes, each a coloured square at its
   own place on noise),
   ``ImagePool.from_arrays(np.load(path, mmap_mode="r"), truth=...)``;
2. builds an ``embed``-mode learner with a small user trunk (two strided convolutions, 32
   features), the default memory budget (``memory_limit="2GB"``) and ``cache_dir`` in
   ``--workdir``;
3. times the streaming pass (``learner.prepare()``: resize every image into the on-disk image
   cache, embed it, write the features in chunks);
4. labels the validation set (100) and 50 random items from the truth, times one fast cycle
   (``retrain``: train the head, score the pool in chunks, report);
5. times a 12-card batch: ``query(12)`` plus decoding the 12 thumbnails from the pool.

Peak memory is the subprocess's ``ru_maxrss`` (the whole process: Python, torch, the pool's
ids and truth, everything). ``--engine ray`` runs the passes on a local Ray with 2 CPUs
(``--ray-overhead`` compares local and Ray on the same pool in one process).

Usage::

    python benchmarks/large_pool.py --sizes 10000 100000 1000000 --workdir /tmp/large_pool
    python benchmarks/large_pool.py --ray-overhead --sizes 10000 --workdir /tmp/large_pool
    python benchmarks/large_pool.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIDE = 32
N_CLASSES = 10


def make_pool_file(path: Path, n: int, seed: int = 0, chunk: int = 65536) -> None:
    """Write ``n`` generated 32×32×3 uint8 images to ``path`` (.npy) and their classes to
    ``path`` with ``.truth.npy``, chunk by chunk (bounded memory)."""
    if path.exists() and path.with_suffix(".truth.npy").exists():
        return
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp.npy")
    mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, SIDE, SIDE, 3))
    truth = rng.integers(0, N_CLASSES, n).astype(np.uint8)
    colours = rng.integers(60, 255, (N_CLASSES, 3))
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        block = rng.integers(0, 90, (stop - start, SIDE, SIDE, 3), dtype=np.uint8)
        for c in range(N_CLASSES):
            rows = np.flatnonzero(truth[start:stop] == c)
            r0, c0 = 4 + 6 * (c % 4), 4 + 8 * (c // 4)
            jitter = rng.integers(-2, 3, (len(rows), 2))
            for (dr, dc), r in zip(jitter, rows):
                block[r, r0 + dr:r0 + dr + 8, c0 + dc:c0 + dc + 8] = colours[c]
        mm[start:stop] = block
    mm.flush()
    del mm
    np.save(path.with_suffix(".truth.npy"), truth)
    os.replace(tmp, path)


def small_trunk():
    import torch
    from torch import nn

    class SmallTrunk(nn.Module):
        """Two strided 3×3 convolutions and global average pooling: 32 features."""

        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
                                     nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                                     nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.num_features = 32

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            return self.net(x)

    torch.manual_seed(0)
    return SmallTrunk()


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(n: int, workdir: Path, engine: str, memory_limit: str, labels: int) -> dict:
    """Run the three phases in this process; returns the figures."""
    warnings.simplefilter("ignore")
    from alwidget import ActiveLearner, ImagePool
    from alwidget.ui.cards import thumbnail_png

    path = workdir / f"pool-{n}.npy"
    make_pool_file(path, n)
    images = np.load(path, mmap_mode="r")
    truth = np.load(path.with_suffix(".truth.npy"))
    classes = [str(c) for c in range(N_CLASSES)]
    pool = ImagePool.from_arrays(images, truth=truth.astype(np.int64), classes=classes)
    del truth
    cache = workdir / f"cache-{n}-{engine}"
    if engine == "ray":
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    t0 = time.perf_counter()
    learner = ActiveLearner(pool, mode="embed", backbone=small_trunk(), cache_dir=cache, memory_limit=memory_limit,
                            validation_size=100, validation_from_truth=True, seed=0, engine=engine)
    t_init = time.perf_counter() - t0
    plan = learner.memory_plan.describe()
    t0 = time.perf_counter()
    learner.prepare()
    t_pass = time.perf_counter() - t0
    rss_pass, peak_pass = rss_mb(), peak_mb()
    ids = learner.query(labels)
    learner.teach(ids, [pool.truth[i] for i in ids], source="oracle")
    t0 = time.perf_counter()
    rep = learner.retrain()
    t_cycle = time.perf_counter() - t0
    t0 = time.perf_counter()
    batch = learner.query(12)
    t_query = time.perf_counter() - t0
    thumbs = [thumbnail_png(pool.image(i)) for i in batch]
    t_batch = time.perf_counter() - t0
    assert len(thumbs) == 12
    out = dict(n=n, engine=engine, memory_limit=memory_limit, plan=plan, init_s=round(t_init, 2),
               pass_s=round(t_pass, 2), cycle_s=round(t_cycle, 2), cycle_timings={k: round(v, 3) for k, v in
                                                                                  rep.timings.items()},
               query12_s=round(t_query, 3), batch12_s=round(t_batch, 3), accuracy=rep.accuracy,
               rss_after_pass_mb=round(rss_pass), peak_after_pass_mb=round(peak_pass), peak_mb=round(peak_mb()),
               cache_mb=round(sum(f.stat().st_blocks * 512 for f in cache.rglob("*") if f.is_file()) / 2**20))
    learner.close()
    if engine == "ray":
        import ray

        ray.shutdown()
    return out


def ray_overhead(n: int, workdir: Path) -> dict:
    """The streaming pass (features of every item) locally and on a local 2-CPU Ray, same
    process, same pool, fresh caches; features compared."""
    warnings.simplefilter("ignore")
    import ray
    import torch

    from alwidget import ImagePool
    from alwidget.engine import LocalEngine
    from alwidget.engine.ray_engine import RayEngine
    from alwidget.engine.features import embed_rows_chunked
    from alwidget.data.tensors import PoolTensors

    path = workdir / f"pool-{n}.npy"
    make_pool_file(path, n)
    pool = ImagePool.from_arrays(np.load(path, mmap_mode="r"))
    trunk = small_trunk()
    res = {"n": n}
    feats = {}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for name, engine, threads in [("local, 1 thread", LocalEngine(), 1), ("local, 2 threads", LocalEngine(), 2),
                                      ("ray, 2 actors x 1 thread", RayEngine(workers=2), 1),
                                      ("ray, 1 actor x 1 thread", RayEngine(workers=1), 1)]:
            with tempfile.TemporaryDirectory(dir=workdir) as d:
                tensors = PoolTensors(pool, SIDE, 3, [0.5] * 3, [0.25] * 3, chunk_rows=4096)
                torch.set_num_threads(threads)
                t0 = time.perf_counter()
                arr = embed_rows_chunked(trunk, tensors, Path(d) / "f", "bench", 32, engine=engine)
                res[name] = round(time.perf_counter() - t0, 2)
                feats[name] = arr.read(0, n)
    finally:
        ray.shutdown()
    base = feats["local, 1 thread"]
    res["max_abs_diff_ray_vs_local"] = float(max(np.abs(f - base).max() for f in feats.values()))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000, 1000000])
    ap.add_argument("--workdir", default=None, help="where the generated pools and caches go (default: a temp dir)")
    ap.add_argument("--engine", default="local", choices=["local", "ray"])
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument("--labels", type=int, default=50)
    ap.add_argument("--ray-overhead", action="store_true", help="local vs Ray on the same pool (the first size)")
    ap.add_argument("--quick", action="store_true", help="a smoke test: 3,000 images")
    ap.add_argument("--out", default=None, help="write the records as JSON here")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="alwidget-large-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.one is not None:
        fn = ray_overhead(args.one, workdir) if args.ray_overhead else one(
            args.one, workdir, args.engine, args.memory_limit, args.labels)
        print("RESULT " + json.dumps(fn))
        return
    sizes = [3000] if args.quick else args.sizes
    if args.ray_overhead:
        sizes = sizes[:1]
    records = []
    print(f"# python benchmarks/large_pool.py {' '.join(sys.argv[1:])}  ({time.strftime('%Y-%m-%d')})")
    for n in sizes:
        make_pool_file(workdir / f"pool-{n}.npy", n)  # here, not in the measured process
        cmd = [sys.executable, __file__, "--one", str(n), "--workdir", str(workdir), "--engine", args.engine,
               "--memory-limit", args.memory_limit, "--labels", str(args.labels)]
        if args.ray_overhead:
            cmd.append("--ray-overhead")
        res = subprocess.run(cmd, capture_output=True, text=True)
        line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
        if res.returncode != 0 or not line:
            sys.stderr.write(res.stdout[-3000:] + res.stderr[-6000:])
            raise SystemExit(f"the run with {n} images failed")
        rec = json.loads(line[0][7:])
        records.append(rec)
        print(json.dumps(rec), flush=True)
    if not args.ray_overhead and len(records) > 1:
        x = np.array([r["n"] for r in records], dtype=float)
        for key in ("pass_s", "cycle_s"):
            y = np.array([r[key] for r in records])
            slope, icpt = np.polyfit(x, y, 1)
            print(f"{key}: {slope * 1e5:.2f} s per 100,000 images + {icpt:.2f} s")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
