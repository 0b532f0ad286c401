"""Which 2-D map of the pool: UMAP, t-SNE or PCA, by time, memory and neighbourhoods kept.

The features are what alwidget's ``pca`` candidate representation gives (50 principal
components of the pixels) for real images:

* 10,000 items: the first 10,000 images of Fashion-MNIST's training split;
* 100,000 items: Fashion-MNIST's 70,000 (training and test splits), the MNIST test split
  (10,000), and 20,000 Fashion-MNIST training images shifted by one or two pixels (the
  near-copies real collections hold: bursts of photos, skin tones of one emoji).

Each (method, N) runs in a fresh interpreter, so its peak resident memory (``VmHWM``, less the
features already loaded and a first map of 60 items that imports the library) is its own; the
time is the map's alone (the import and first call are reported apart, ``first call``). ``kept`` is :func:`alwidget.representation.projection.knn_preservation`
(10 nearest neighbours of 2,000 random items, exact, in the features and on the map); ``÷ PCA``
is the time against PCA's on the same features in the same run. UMAP's numba code is compiled
once beforehand (that time is reported apart).

Usage::

    python benchmarks/projection.py --data ../shared/datasets            # 10,000 and 100,000 items
    python benchmarks/projection.py --data ../shared/datasets --sizes 2000 --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(ROOT))


def _peak_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def one(method: str, features: str, out: str, threads: int) -> None:
    """Child: map the features with ``method``; print seconds and the added peak memory."""
    from alwidget.representation.projection import project_N_2

    x = np.load(features)
    t0 = time.perf_counter()
    project_N_2(x[:60], method, seed=0, n_threads=threads)  # imports, numba's cache: not the map's time
    warm = time.perf_counter() - t0
    base = _peak_kb()
    t0 = time.perf_counter()
    y = project_N_2(x, method, seed=0, n_threads=threads)
    seconds = time.perf_counter() - t0
    np.save(out, y)
    print(json.dumps({"seconds": seconds, "added_mb": (_peak_kb() - base) / 1024, "warm_s": warm}))


def features(data: Path, n: int, seed: int = 0) -> np.ndarray:
    """The ``[n, 50]`` PCA features described in the module docstring."""
    from sklearn.decomposition import PCA

    from alwidget.data.datasets import read_idx

    def images(folder: str, split: str) -> np.ndarray:
        name = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}[split]
        path = next(p for p in (data / folder).iterdir() if p.name.startswith(name))
        return read_idx(path).reshape(-1, 28 * 28)

    fashion = images("fashion-mnist", "train")
    if n <= len(fashion):
        pixels = fashion[:n]
    else:
        rng = np.random.default_rng(seed)
        parts = [fashion, images("fashion-mnist", "test"), images("mnist-test", "test")]
        extra = n - sum(len(p) for p in parts)
        picked = fashion[rng.choice(len(fashion), size=extra, replace=False)].reshape(-1, 28, 28)
        dy, dx = rng.integers(-2, 3, size=(2, extra))
        shifted = np.stack([np.roll(np.roll(im, a, 0), b, 1) for im, a, b in zip(picked, dy, dx)])
        pixels = np.concatenate(parts + [shifted.reshape(extra, -1)])[:n]
    x = pixels.astype(np.float32) / 255.0
    return PCA(n_components=50, svd_solver="randomized", random_state=seed).fit_transform(x).astype(np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("ALWIDGET_DATA"), help="folder with fashion-mnist/ and mnist-test/")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--methods", nargs="+", default=["pca", "umap", "tsne"])
    ap.add_argument("--threads", type=int, default=2, help="threads for t-SNE")
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--one", nargs=3, metavar=("METHOD", "FEATURES", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        one(args.one[0], args.one[1], args.one[2], args.threads)
        return 0
    if not args.data:
        ap.error("--data (or $ALWIDGET_DATA) must name the datasets folder")
    from alwidget.representation.projection import available_methods, knn_preservation

    methods = [m for m in args.methods if m in available_methods()]
    skipped = sorted(set(args.methods) - set(methods))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        def run(method: str, path: str) -> dict:
            out = str(Path(tmp) / f"{method}.npy")
            res = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--one", method, path, out],
                                 capture_output=True, text=True, env=env)
            if res.returncode:
                raise SystemExit(res.stderr[-3000:])
            return dict(json.loads(res.stdout.strip().splitlines()[-1]), map=np.load(out))

        if "umap" in methods:  # numba compiles UMAP once per machine (cached on disk)
            warm = str(Path(tmp) / "warm.npy")
            np.save(warm, np.random.default_rng(0).normal(size=(1000, 50)).astype(np.float32))
            t0 = time.perf_counter()
            run("umap", warm)
            print(f"UMAP warm-up (numba compiling or loading its cache, 1,000 items): {time.perf_counter() - t0:.1f} s")
        for n in args.sizes:
            x = features(Path(args.data), n)
            path = str(Path(tmp) / f"x{n}.npy")
            np.save(path, x)
            base = None
            for method in methods:
                r = run(method, path)
                kept = knn_preservation(x, r["map"], k=10, sample=2000)
                if method == "pca":
                    base = r["seconds"]
                rows.append({"n": n, "method": method, "seconds": r["seconds"], "added_mb": r["added_mb"], "warm_s": r["warm_s"],
                             "kept": kept, "vs_pca": r["seconds"] / base if base else float("nan")})
                print(f"N={n:,} {method}: {r['seconds']:.2f} s, +{r['added_mb']:.0f} MB peak, kept {kept:.3f} "
                      f"(first call {r['warm_s']:.1f} s)", flush=True)
    print()
    print("| items | method | seconds | ÷ PCA | peak memory added (MB) | 10-NN kept | first call (import) s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']:,} | {r['method']} | {r['seconds']:.2f} | {r['vs_pca']:.0f}× | {r['added_mb']:.0f} | "
              f"{r['kept']:.3f} | {r['warm_s']:.1f} |")
    if skipped:
        print(f"\nnot installed here: {', '.join(skipped)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
