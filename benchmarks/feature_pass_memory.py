"""Resident memory a pool's feature pass leaves behind: the pass as it is against the pass before.

The pass embeds every image of a pool of 32×32 colour images (the resized copies on disk, as
for a large pool) with the pixels' 50-component PCA, batch by batch. ``current`` is
:func:`alwidget.model.features.compute_features`: one output array allocated up front, each
batch written into it. ``appended`` is the same pass written as it was before (each batch's
output appended to a list, concatenated at the end): the small outputs sit between the batches'
large freed temporaries and glibc's heap cannot hand those back. Each row runs in a fresh
interpreter; the figure is the anonymous resident memory the pass added (``RssAnon`` after
minus before, MB), beside the output's own size.

    python benchmarks/feature_pass_memory.py --items 20000 200000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _child import run_json  # noqa: E402


def _anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one(n: int, variant: str, folder: str) -> dict:
    """One pass over ``n`` generated images in this process; returns the figures."""
    import time

    import numpy as np
    import torch

    from alwidget import ImagePool
    from alwidget._memory import limit_malloc_arenas
    from alwidget.data.tensors import PoolTensors
    from alwidget.model.features import compute_features
    from alwidget.representation.pca import PCAEmbedder

    limit_malloc_arenas()  # as a learner does
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    images = np.lib.format.open_memmap(Path(folder) / "pool.npy", mode="w+", dtype=np.uint8, shape=(n, 32, 32, 3))
    for s in range(0, n, 50_000):
        images[s:s + 50_000] = rng.integers(0, 256, size=images[s:s + 50_000].shape, dtype=np.uint8)
    images.flush()
    pool = ImagePool.from_arrays(np.load(Path(folder) / "pool.npy", mmap_mode="r"))
    tensors = PoolTensors(pool, 32, 3, [0.5] * 3, [0.5] * 3, folder=Path(folder) / "images")
    tensors.fill()
    trunk = PCAEmbedder(3 * 32 * 32, 50)
    with torch.no_grad():
        trunk.components_K_F.copy_(torch.from_numpy(rng.normal(size=(50, 3 * 32 * 32)).astype(np.float32)))
    compute_features(trunk, tensors, range(min(n, 512)))  # torch's first-use buffers, outside the figure
    before = _anon_mb()
    t0 = time.perf_counter()
    if variant == "current":
        out = compute_features(trunk, tensors, range(n), batch_size=128)
    else:  # the pass before: append each batch's output, concatenate at the end
        parts = []
        with torch.no_grad():
            for s in range(0, n, 128):
                parts.append(trunk(tensors.batch(np.arange(s, min(s + 128, n)))).float())
        out = torch.cat(parts)
    seconds = time.perf_counter() - t0
    return {"items": n, "variant": variant, "added_mb": _anon_mb() - before,
            "output_mb": out.numel() * 4 / 2**20, "seconds": seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", nargs="*", type=int, default=[20000, 200000])
    ap.add_argument("--quick", action="store_true", help="3,000 images (CI smoke test)")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.items = [3000]
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(one(int(args.one[0]), args.one[1], tmp)))
        return 0
    print("| images | pass | anon. memory added, MB | output, MB | ratio to the output | s |")
    print("|---|---|---|---|---|---|")
    rows = []
    for n in args.items:
        for variant in ("appended", "current"):
            row = run_json([sys.executable, __file__, "--one", str(n), variant])
            if row is None:
                return 1
            rows.append(row)
            print(f"| {n:,} | {variant} | {row['added_mb']:.0f} | {row['output_mb']:.1f} | "
                  f"{row['added_mb'] / row['output_mb']:.1f}× | {row['seconds']:.1f} |", flush=True)
        old, new = rows[-2], rows[-1]
        print(f"| {n:,} | appended − current | {old['added_mb'] - new['added_mb']:.0f} | | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
