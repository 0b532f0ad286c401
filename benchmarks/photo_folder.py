"""A folder of ordinary JPEG photos: representation time, first ranking, fast cycle (the main use).

The benchmark writes ``--n`` JPEG files of random sizes (``--min-px`` to ``--max-px`` on the
shorter side, random aspect 3:4 to 4:3) into class sub-folders: Fashion-MNIST training images,
upscaled (bicubic), the garment in a random dark colour on a random light background colour, so
they are RGB photos of the sizes a person's folder holds, offline. Then, as a person would:
``ImagePool.from_folder`` → ``ActiveLearner(pool, store=..., cache_dir=...)`` with every
default (``semi`` mode) — the representation starts in the background at once — the validation
set is labelled from the truth (a person takes minutes), and once the representation is ready:

* **first ranking**: ``learner.query(k)`` on the representation (the budget-aware cold start),
* **first cycle**: the ``k`` first labels given, ``retrain()`` + ``query(k)``,
* **fast cycle**: another ``k`` labels, ``retrain()`` + ``query(k)`` (median of ``--cycles``).

Usage::

    python benchmarks/photo_folder.py --data ../shared/datasets            # 1,000 photos
    python benchmarks/photo_folder.py --data ../shared/datasets --quick    # 120 photos (smoke test)
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import resource
import shlex
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def make_photos(root: Path, data: str, n: int, min_px: int, max_px: int, seed: int) -> None:
    """``n`` RGB JPEGs in ``root/<class>/`` from Fashion-MNIST, sizes in ``[min_px, max_px]``."""
    from PIL import Image

    from alwidget import datasets

    fm = datasets.fashion_mnist(data, split="train", limit=n)
    rng = np.random.default_rng(seed)
    arr = fm.as_array()[..., 0]
    for i, item in enumerate(fm.ids):
        side = int(rng.integers(min_px, max_px + 1))
        aspect = float(rng.uniform(0.75, 4 / 3))
        w, h = (side, int(round(side * aspect))) if aspect >= 1 else (int(round(side / aspect)), side)
        grey = Image.fromarray(arr[i]).resize((w, h), Image.BICUBIC)
        g = np.asarray(grey, dtype=np.float32)[..., None] / 255.0
        # a product photo: the garment in a random colour on a random light background; the colour
        # is darker than the background in every channel (contrast >= 0.3), as in a real photo the
        # object is visible: an earlier version drew both from overlapping ranges, so many
        # garments had no contrast at all and even a pixel classifier was at chance (BENCHMARKS.md)
        colour = rng.uniform(0.0, 0.45, size=3)
        background = rng.uniform(0.75, 1.0, size=3)
        rgb = (g * colour + (1 - g) * background) * 255
        folder = root / fm.truth[item].replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(folder / f"{i:05d}.jpg", quality=90)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("ALWIDGET_DATA"), help="folder holding fashion-mnist/")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--min-px", type=int, default=100)
    ap.add_argument("--max-px", type=int, default=500)
    ap.add_argument("--k", type=int, default=12, help="the widget's batch")
    ap.add_argument("--cycles", type=int, default=5, help="fast cycles timed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="120 photos, short representation (smoke test)")
    args = ap.parse_args(argv)
    kwargs = {}
    if args.quick:
        args.n, args.cycles, args.max_px = 120, 2, 200
        kwargs = dict(representation_config={"steps": 20}, refine_every=None)
    warnings.simplefilter("ignore")
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__)] + (sys.argv[1:] if argv is None else argv))
    print(f"Photo folder — `{command}` — {_dt.datetime.now():%Y-%m-%d %H:%M}\n")
    from alwidget import ActiveLearner, ImagePool

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        t0 = time.perf_counter()
        make_photos(root, args.data, args.n, args.min_px, args.max_px, args.seed)
        t_make = time.perf_counter() - t0
        sizes = [os.path.getsize(p) for p in root.rglob("*.jpg")]
        t0 = time.perf_counter()
        pool = ImagePool.from_folder(root)
        learner = ActiveLearner(pool, store=Path(tmp) / "labels.db", cache_dir=Path(tmp) / "cache",
                                seed=args.seed, **kwargs)
        t_create = time.perf_counter() - t0
        truth = pool.truth
        val = learner.pending_validation()
        learner.teach(val, [truth[i] for i in val])  # the person's minutes on the validation set
        rep = learner.representation.result()
        t_repr = time.perf_counter() - t0
        t1 = time.perf_counter()
        first = learner.query(args.k)
        t_first = time.perf_counter() - t1
        learner.teach(first, [truth[i] for i in first])
        t1 = time.perf_counter()
        report = learner.retrain()
        nxt = learner.query(args.k)
        t_cycle1 = time.perf_counter() - t1
        fast = []
        for _ in range(args.cycles):
            learner.teach(nxt, [truth[i] for i in nxt])
            t1 = time.perf_counter()
            report = learner.retrain()
            nxt = learner.query(args.k)
            fast.append(time.perf_counter() - t1)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rest = learner.selectable_ids()  # unlabelled, outside the validation set
        rest_acc = learner.evaluate(pool.subset(rest))
        print(f"{len(pool)} JPEG photos, {args.min_px}–{args.max_px} px on the shorter side "
              f"({np.median(sizes) / 1024:.0f} KB median file), written in {t_make:.0f} s; the learner chose "
              f"image_size={learner.image_size} px ({learner.backbone_info.name}, {learner.representation.method}).\n")
        print("| step | seconds |")
        print("|---|---|")
        print(f"| pool + learner created (representation starts in the background) | {t_create:.1f} |")
        print(f"| representation ready (decode + self-supervised {learner.representation.config.steps} steps + "
              f"embedding), from creation | {t_repr:.0f} (build {rep.seconds:.0f}) |")
        print(f"| first ranking after the validation set (cold start on the representation, k={args.k}) | "
              f"{t_first:.2f} |")
        print(f"| first cycle: retrain + query | {t_cycle1:.2f} |")
        print(f"| fast cycle: retrain + query, median of {len(fast)} | {statistics.median(fast):.2f} |")
        print(f"\nAfter {report.n_labels} labels: validation accuracy {100 * report.accuracy:.1f} % on "
              f"{report.n_validation}, {100 * rest_acc:.1f} % on the {len(rest)} photos nobody labelled "
              f"(truth known here); selection {report.selection!r}; peak RSS {rss:.0f} MB.")
        learner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
