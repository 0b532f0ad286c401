"""Memory and speed of a feature pass by batch size (inference): the pretrained EfficientNet-Lite0
at 224 px, or the default CNN at 28 px.

Each batch size runs in a fresh subprocess (so the process's own peak, ``VmHWM``, is that batch
size's alone): the model (``timm.create_model("tf_efficientnet_lite0")``, or alwidget's
``create_backbone("alwidget_cnn")``; the weights' values do not change the cost) embeds
``--images`` random images twice, and the script reports the resident memory the pass added at
its peak and the images per second, with the ratio against ``--baseline`` (16 at 224 px: the
setting before ``EMBED_PIXELS`` became 4 images at 224 px; 512 at 28 px: before ``EMBED_BATCH``
became 128).

Usage::

    python benchmarks/embed_batch.py                 # Lite0, batches 16, 8, 4, 2 on 1 and 2 threads
    python benchmarks/embed_batch.py --model alwidget_cnn --size 28 --chans 1 --batches 512 256 128 64 --baseline 512 --images 2048
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
batch, threads, n, size, chans = (int(a) for a in sys.argv[1:6])
torch.set_num_threads(threads)
if sys.argv[6] == "alwidget_cnn":
    from alwidget.model.backbone import create_backbone
    model = create_backbone("alwidget_cnn", in_chans=chans, pretrained=False)[0].eval()
else:
    model = timm.create_model(sys.argv[6], pretrained=False, num_classes=0, in_chans=chans).eval()
x = torch.randn(n, chans, size, size)
base = kb("VmRSS:")
t0 = time.perf_counter()
with torch.inference_mode():
    for _ in range(2):
        for i in range(0, n, batch):
            model(x[i:i + batch])
seconds = time.perf_counter() - t0
print(json.dumps(dict(added_mb=(kb("VmHWM:") - base) / 1024, images_per_s=2 * n / seconds)))
"""


def measure(batch: int, threads: int, images: int, size: int = 224, chans: int = 3,
            model: str = "tf_efficientnet_lite0") -> dict:
    """``{"added_mb", "images_per_s"}`` of one fresh process embedding with batches of ``batch``."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(batch), str(threads), str(images), str(size), str(chans),
                          model], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 8, 4, 2])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--model", default="tf_efficientnet_lite0", help="a timm model name, or alwidget_cnn")
    ap.add_argument("--size", type=int, default=224, help="input size in px")
    ap.add_argument("--chans", type=int, default=3)
    ap.add_argument("--baseline", type=int, default=16, help="the batch size the ratios are against")
    ap.add_argument("--quick", action="store_true", help="batches 16 and 4, 1 thread, 16 images")
    args = ap.parse_args(argv)
    if args.quick:
        args.batches, args.threads, args.images = [16, 4], [1], 16
    cmd = "python benchmarks/embed_batch.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"`{cmd}` ({time.strftime('%Y-%m-%d %H:%M')})\n")
    print(f"{args.model}, {args.size} px, {args.chans} channel(s), {args.images} images embedded twice\n")
    print(f"| threads | batch | resident memory added | images/s | speed vs batch {args.baseline} |")
    print("|---|---|---|---|---|")
    for threads in args.threads:
        def one(b: int) -> dict:
            return measure(b, threads, args.images, args.size, args.chans, args.model)

        rows = {b: one(b) for b in args.batches}
        ref = rows[args.baseline] if args.baseline in rows else one(args.baseline)
        for b, r in rows.items():
            print(f"| {threads} | {b} | {r['added_mb']:.0f} MB | {r['images_per_s']:.1f} | "
                  f"{r['images_per_s'] / ref['images_per_s']:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
