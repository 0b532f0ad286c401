"""The pretrained path's speed: the feature pass over photos and phone photos, the fast cycle and
the first ranking on 1,280-d features.

1. **Photos** (``--photos N``): ``N`` JPEGs of 100–500 px (``photo_folder.make_photos``:
   Fashion-MNIST garments in colour, upscaled), ``ActiveLearner(pool, backbone=Backbone(weights=<Lite0 file>),
   representation="pretrained")`` and ``learner.prepare()``: the one streamed pass at 224 px.
2. **Phone photos** (``--phone N``): ``N`` JPEGs of 4032×3024 (the same garments, upscaled; encoded
   at quality 90), the same pass, against a baseline in the same script that decodes each whole
   file first (what the pool did before Pillow's draft mode): seconds and the ratio.
3. **Fast cycle at 10,000 images with 1,280-d features** (``--cycle-pool N``): a frozen trunk that
   maps 32 px images to 1,280 features (a fixed random projection, so the pass takes seconds; the
   cycle's cost depends on N and D, not on what made the features) stands in for the pretrained
   trunk; the validation set from the truth, then the **first ranking** (``query(k)`` once the
   representation is ready) and ``--cycles`` fast cycles of ``k`` labels (median); then the same
   with the head as it was before (dropout on its 1,280 inputs, ``MCDropout(p_in=0.25)``) as the
   baseline, and the ratio.

Usage::

    python benchmarks/pretrained_path.py --data ../shared/datasets
    python benchmarks/pretrained_path.py --data ../shared/datasets --quick   # smoke test
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def phone_photos(root: Path, data: str, n: int, seed: int) -> None:
    """``n`` 4032×3024 JPEGs (quality 90) in ``root/<class>/``."""
    from PIL import Image

    make_small = root.parent / "phone-src"
    from photo_folder import make_photos

    make_photos(make_small, data, n, 300, 300, seed)
    for src in sorted(make_small.rglob("*.jpg")):
        out = root / src.parent.name / src.name
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.open(src).convert("RGB").resize((4032, 3024), Image.BILINEAR).save(out, quality=90)


def pass_seconds(folder: Path, weights: Path, threads: int) -> float:
    """Seconds of ``learner.prepare()`` (the pretrained candidate's streamed pass) over ``folder``."""
    from alwidget import ActiveLearner, Backbone, ImagePool

    pool = ImagePool.from_folder(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learner = ActiveLearner(pool, backbone=Backbone(weights=weights), representation="pretrained",
                                num_threads=threads)
    try:
        t0 = time.perf_counter()
        learner.prepare()
        return time.perf_counter() - t0
    finally:
        learner.close()


def full_decode_pass_seconds(folder: Path, weights: Path, threads: int) -> float:
    """The baseline: every file decoded whole (no draft), then resized and embedded the same way."""
    import torch

    from alwidget.data.images import load_image_file
    from alwidget.model.backbone import create_backbone
    from alwidget.data.tensors import normalize_inputs, to_model_u8

    torch.set_num_threads(threads)
    files = sorted(folder.rglob("*.jpg"))
    trunk, info = create_backbone("tf_efficientnet_lite0", in_chans=3, pretrained=True, weights=weights)
    trunk.eval()
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    t0 = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(files), 32):
            batch = [to_model_u8(load_image_file(path)[None], 224, 3)[0] for path in files[start:start + 32]]
            trunk(normalize_inputs(torch.stack(batch).float() / 255.0, mean, std))
    return time.perf_counter() - t0


def cycle_speed(n: int, k: int, cycles: int, threads: int, uncertainty=None) -> dict:
    """First ranking and fast cycles of a semi learner on ``n`` images with 1,280-d features
    (``uncertainty``: the learner's estimator, default its own)."""
    import torch
    from torch import nn

    from alwidget import ActiveLearner, Backbone, ImagePool

    rng = np.random.default_rng(0)
    centres = rng.integers(0, 255, size=(10, 32, 32, 3))
    y = rng.integers(0, 10, n)
    images = np.clip(centres[y] + rng.normal(0, 60, size=(n, 32, 32, 3)), 0, 255).astype(np.uint8)
    pool = ImagePool.from_arrays(images, truth=[str(c) for c in y])
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 1280), nn.ReLU())
    trunk.num_features = 1280
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extra = {} if uncertainty is None else dict(uncertainty=uncertainty)
        learner = ActiveLearner(pool, backbone=Backbone(trunk, image_size=32), representation="frozen",
                                validation_from_truth=True, refine_every=None, num_threads=threads, **extra)
    try:
        learner.prepare()
        t0 = time.perf_counter()
        first = learner.query(k)
        t_first = time.perf_counter() - t0
        learner.teach(first, [pool.truth[i] for i in first])
        seconds, steps = [], []
        for _ in range(cycles + 1):
            t0 = time.perf_counter()
            report = learner.retrain()
            ids = learner.query(k)
            seconds.append(time.perf_counter() - t0)
            steps.append(report.timings)
            learner.teach(ids, [pool.truth[i] for i in ids])
        return dict(first_ranking=t_first, first_cycle=seconds[0], cycles=seconds[1:],
                    median=statistics.median(seconds[1:]), timings=steps[1:])
    finally:
        learner.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("ALWIDGET_DATA"), help="folder holding fashion-mnist/")
    ap.add_argument("--photos", type=int, default=1000)
    ap.add_argument("--phone", type=int, default=200)
    ap.add_argument("--cycle-pool", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--weights-dir", type=Path, default=Path(tempfile.gettempdir()) / "alwidget-weights")
    ap.add_argument("--quick", action="store_true", help="16 photos, 12 phone photos, a 2,000-image cycle pool")
    args = ap.parse_args(argv)
    if not args.data:
        ap.error("--data (or $ALWIDGET_DATA) must hold fashion-mnist/")
    if args.quick:
        args.photos, args.phone, args.cycle_pool, args.cycles = 16, 12, 2000, 2
    import torch

    torch.set_num_threads(args.threads)
    from lite0_weights import lite0_checkpoint

    weights = lite0_checkpoint(args.weights_dir)
    from photo_folder import make_photos

    cmd = "python benchmarks/pretrained_path.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"`{cmd}` ({time.strftime('%Y-%m-%d %H:%M')}, {args.threads} thread(s), "
          f"load {os.getloadavg()[0]:.1f})\n")
    print("| measure | value |\n|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.photos:
            make_photos(tmp / "photos", args.data, args.photos, 100, 500, 0)
            s = pass_seconds(tmp / "photos", weights, args.threads)
            print(f"| pretrained pass, {args.photos} photos of 100–500 px (224 px, streamed) | {s:.1f} s "
                  f"({args.photos / s:.1f} images/s) |", flush=True)
        if args.phone:
            phone_photos(tmp / "phone", args.data, args.phone, 1)
            draft = pass_seconds(tmp / "phone", weights, args.threads)
            whole = full_decode_pass_seconds(tmp / "phone", weights, args.threads)
            print(f"| pretrained pass, {args.phone} phone photos 4032×3024, JPEG draft decoding | {draft:.1f} s |")
            print(f"| same, every file decoded whole (baseline, same script) | {whole:.1f} s |")
            print(f"| draft ÷ whole | {draft / whole:.2f} (whole is {whole / draft:.1f}× slower) |", flush=True)
    if args.cycle_pool:
        r = cycle_speed(args.cycle_pool, args.k, args.cycles, args.threads)
        print(f"| first ranking after the validation set, {args.cycle_pool:,} images × 1,280 features | "
              f"{r['first_ranking']:.2f} s |")
        print(f"| first cycle (graphs and the choice built) | {r['first_cycle']:.2f} s |")
        print(f"| fast cycle + query, median of {len(r['cycles'])} | {r['median']:.2f} s "
              f"({', '.join(f'{c:.2f}' for c in r['cycles'])}) |")
        last = r["timings"][-1]
        print("| last cycle's steps | " + ", ".join(f"{k} {v:.2f} s" for k, v in last.items()) + " |")
        from alwidget.uncertainty import MCDropout

        # the baseline, same script: the head as it was before (dropout on its 1,280 inputs too, so
        # the first layer runs once per MC sample)
        b = cycle_speed(args.cycle_pool, args.k, args.cycles, args.threads, uncertainty=MCDropout(p_in=0.25))
        print(f"| baseline: same cycle with input dropout on the 1,280 features (the head before), median | "
              f"{b['median']:.2f} s ({', '.join(f'{c:.2f}' for c in b['cycles'])}) |")
        print(f"| default ÷ baseline | {r['median'] / b['median']:.2f} (the baseline is "
              f"{b['median'] / r['median']:.1f}× slower) |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
