"""Which input size for the pretrained trunk: linear-probe accuracy and time per size, on the
emoji development splits (whole emoji held out; seeds 100-102, never the reporting seeds 0-2).

For each size the EfficientNet-Lite0 features of all 3,781 emoji (Twemoji, CC BY 4.0) are computed
once (cached in ``--cache-dir``, shared with ``real_images.py``), then logistic regression on 100
and 200 random pool labels is scored on each split's held-out emoji.

Usage::

    python benchmarks/pretrained_size.py --data ../shared/datasets --sizes 224 160 128
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ["ALWIDGET_DATA"]) if os.environ.get("ALWIDGET_DATA")
                    else None)
    ap.add_argument("--sizes", type=int, nargs="+", default=[224, 160, 128])
    ap.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102])
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/alwidget-real-images"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if args.data is None:
        ap.error("--data (or $ALWIDGET_DATA) must hold emoji-twitter/")
    import torch

    torch.set_num_threads(args.threads)
    from alwidget import ImagePool
    from lite0_weights import lite0_checkpoint
    from real_images import emoji_pools, lite0_features, logistic_anchor, truth_array

    weights = lite0_checkpoint(args.cache_dir / "weights")
    everything = ImagePool.from_folder(args.data / "emoji-twitter")
    row = {item: r for r, item in enumerate(everything.ids)}
    cmd = "python benchmarks/pretrained_size.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"`{cmd}` ({time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.1f}); test accuracy %, "
          f"mean over development seeds {args.seeds}\n")
    print("| size | seconds for 3,781 images (cached: –) | LR, 100 random labels | LR, 200 random labels |")
    print("|---|---|---|---|")
    for size in args.sizes:
        t0 = time.perf_counter()
        cached = any(args.cache_dir.glob(f"lite0-{size}-*.npy"))
        feats = lite0_features(everything, weights, size, args.cache_dir)
        seconds = "–" if cached else f"{time.perf_counter() - t0:.0f}"
        accs = {100: [], 200: []}
        for seed in args.seeds:
            pool, test = emoji_pools(args.data, seed)
            classes = list(pool.classes)
            out = logistic_anchor(feats[[row[i] for i in pool.ids]], truth_array(pool, classes),
                                  feats[[row[i] for i in test.ids]], truth_array(test, classes), [100, 200], seed)
            for n in accs:
                accs[n].append(out[n][0])
        print(f"| {size} | {seconds} | {100 * np.mean(accs[100]):.1f} | {100 * np.mean(accs[200]):.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
