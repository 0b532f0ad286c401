"""Memory and speed of the pretrained pass by batch size: EfficientNet-Lite0 at 224 px, inference.

Each batch size runs in a fresh subprocess (so the kernel's own peak, ``VmHWM``, is that batch
size's alone): the model (``timm.create_model("tf_efficientnet_lite0")``; the weights' values do
not change the cost) embeds ``--images`` random 224 px images twice, and the script reports the
resident memory the pass added at its peak and the images per second, with the ratio against
batches of 16 (the setting before ``EMBED_PIXELS`` became 4 images at 224 px).

Usage::

    python benchmarks/embed_batch.py                 # batches 16, 8, 4, 2 on 1 and 2 threads
    python benchmarks/embed_batch.py --quick         # batches 16 and 4, 1 thread, 16 images
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time, torch, timm
def kb(field):
    with open('/proc/self/status') as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])
batch, threads, n = (int(a) for a in sys.argv[1:4])
torch.set_num_threads(threads)
model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0).eval()
x = torch.randn(n, 3, 224, 224)
base = kb("VmRSS:")
t0 = time.perf_counter()
with torch.inference_mode():
    for _ in range(2):
        for i in range(0, n, batch):
            model(x[i:i + batch])
seconds = time.perf_counter() - t0
print(json.dumps(dict(added_mb=(kb("VmHWM:") - base) / 1024, images_per_s=2 * n / seconds)))
"""


def measure(batch: int, threads: int, images: int) -> dict:
    """``{"added_mb", "images_per_s"}`` of one fresh process embedding with batches of ``batch``."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(batch), str(threads), str(images)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 8, 4, 2])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="batches 16 and 4, 1 thread, 16 images")
    args = ap.parse_args(argv)
    if args.quick:
        args.batches, args.threads, args.images = [16, 4], [1], 16
    cmd = "python benchmarks/embed_batch.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"`{cmd}` ({time.strftime('%Y-%m-%d %H:%M')})\n")
    print("| threads | batch (224 px) | resident memory added | images/s | speed vs batch 16 |")
    print("|---|---|---|---|---|")
    for threads in args.threads:
        base = measure(16, threads, args.images) if 16 not in args.batches else None
        rows = {b: measure(b, threads, args.images) for b in args.batches}
        ref = rows.get(16, base)
        for b, r in rows.items():
            print(f"| {threads} | {b} | {r['added_mb']:.0f} MB | {r['images_per_s']:.1f} | "
                  f"{r['images_per_s'] / ref['images_per_s']:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
