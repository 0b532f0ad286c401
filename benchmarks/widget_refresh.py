"""How long from the last label of a batch to the refreshed grid?

Drives :class:`alwidget.LabelingWidget` kernel-side, like a person would: click the true class
on every card of the batch (``Card.pick``, what a click in the page sends), press Enter, keep clicking labels on the next
batch while the model retrains in the background, and time

* **next batch**: last label → the next batch is on screen (Enter; the old ranking);
* **refreshed**: last label → the grid shows the new ranking (the background cycle trained on
  that batch, scored the pool, and the widget refreshed its cards, status and plots);
* the cycle's own timings (``features``, ``train``, ``score``) and the widget's refresh cost;
* click → label saved, while idle and while a cycle trains (does the notebook stay responsive?).

While a cycle trains, ``--during`` cards of the next batch are labelled; the refresh keeps them
and replaces the others with the new ranking.

Usage::

    python benchmarks/widget_refresh.py                      # digits, and Fashion-MNIST if found
    python benchmarks/widget_refresh.py --data ../shared/datasets --pool 10000 --batches 3
    python benchmarks/widget_refresh.py --datasets fashion --modes embed --max-steps 100

Fashion-MNIST is read from ``--data`` or the environment variable ``ALWIDGET_DATA``.
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
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alwidget import ActiveLearner, datasets  # noqa: E402
from alwidget.ui import LabelingWidget  # noqa: E402


def load(name: str, data: str, pool_size: int):
    if name == "digits":
        pool = datasets.digits()
    elif name == "fashion":
        pool = datasets.fashion_mnist(data or None, split="train", limit=pool_size)
    else:
        raise SystemExit(f"unknown dataset {name!r}: use digits or fashion")
    if pool_size and len(pool) > pool_size:
        pool = pool.subset(pool.ids[:pool_size])
    return pool


def click_batch(w: LabelingWidget, truth: Dict[str, str], limit: int = 10**9) -> List[float]:
    """Click the true class on (up to ``limit``) unlabelled cards; return each click's latency (s)."""
    times = []
    for card in list(w.cards):
        if card.label is None and len(times) < limit:
            t0 = time.perf_counter()
            card.pick(truth[card.item_id])
            times.append(time.perf_counter() - t0)
    return times


def run(name: str, mode: str, args: argparse.Namespace) -> List[dict]:
    pool = load(name, args.data, args.pool)
    train = {"max_steps": args.max_steps} if args.max_steps else None
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t0 = time.perf_counter()
        learner = ActiveLearner(pool, store=Path(tmp, "labels.db"), mode=mode, train=train,
                                validation_from_truth=True, seed=0)
        w = LabelingWidget(learner, k=args.k, simulate=True)
        setup = time.perf_counter() - t0
        truth = pool.truth
        rows = []
        idle_clicks = click_batch(w, truth)  # batch 1 (cold start)
        for batch in range(1, args.batches + 1):
            t_last = time.monotonic()  # the last label of this batch was just given
            w.press("Enter")
            t_next = time.monotonic()
            # the person keeps labelling the next batch while the cycle trains
            busy_clicks = click_batch(w, truth, args.during) if learner.running else []
            while w.last_refresh.get("cycle", 0) < batch:
                if not w.wait(0.005) and time.monotonic() - t_last > args.timeout:
                    raise SystemExit(f"no refresh within {args.timeout} s")
                if w.learner.history and w.learner.history[-1].error:
                    raise SystemExit(f"cycle failed: {w.learner.history[-1].error}")
            w.wait(args.timeout)
            refresh_at = w.last_refresh["at"]
            rep = learner.history[batch - 1]
            t_refresh = refresh_at - t_last
            rows.append(dict(dataset=name, mode=mode, pool=len(pool), batch=batch, labels=rep.n_labels,
                             next_ms=1000 * (t_next - t_last), refreshed_s=t_refresh,
                             cycle_s=rep.timings.get("total", float("nan")),
                             features_s=rep.timings.get("features", 0.0), train_s=rep.timings.get("train", 0.0),
                             score_s=rep.timings.get("score", 0.0), widget_ms=1000 * w.last_refresh["seconds"],
                             click_idle_ms=1000 * statistics.median(idle_clicks) if idle_clicks else float("nan"),
                             click_busy_ms=1000 * statistics.median(busy_clicks) if busy_clicks else float("nan"),
                             accuracy=rep.accuracy, setup_s=setup))
            # label what is left of the (refreshed) grid: that is the next batch
            idle_clicks = click_batch(w, truth)
        w.close()
        learner.close()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="digits,fashion", help="comma-separated: digits, fashion")
    parser.add_argument("--modes", default="finetune", help="comma-separated: finetune, embed")
    parser.add_argument("--data", default=os.environ.get("ALWIDGET_DATA", ""), help="folder with fashion-mnist/")
    parser.add_argument("--pool", type=int, default=10000, help="pool size (Fashion-MNIST; digits has 1,797)")
    parser.add_argument("--k", type=int, default=12, help="cards per batch")
    parser.add_argument("--batches", type=int, default=3, help="batches (cycles) per run")
    parser.add_argument("--during", type=int, default=4,
                        help="cards of the next batch labelled while the cycle trains (the rest are refreshed)")
    parser.add_argument("--max-steps", type=int, default=0, help="training steps per cycle (0 = the defaults)")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--quick", action="store_true", help="digits, both modes, 2 batches, 20 steps (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.modes, args.batches, args.max_steps = "digits", "finetune,embed", 2, args.max_steps or 20

    import torch

    print(f"alwidget widget refresh benchmark: k={args.k}, {args.batches} batches, torch threads "
          f"{torch.get_num_threads()}, cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
    rows: List[dict] = []
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            try:
                got = run(name, mode, args)
            except FileNotFoundError as exc:
                print(f"skipping {name}: {str(exc).splitlines()[0]}")
                break
            rows += got
            for r in got:
                print(f"{r['dataset']:>8} {r['mode']:>8} pool {r['pool']:>5} batch {r['batch']} ({r['labels']:>3} labels): "
                      f"next batch {r['next_ms']:6.0f} ms | refreshed grid {r['refreshed_s']:6.2f} s "
                      f"(cycle {r['cycle_s']:.2f} s = features {r['features_s']:.2f} + train {r['train_s']:.2f} "
                      f"+ score {r['score_s']:.2f}; widget {r['widget_ms']:.0f} ms) | click idle "
                      f"{r['click_idle_ms']:.1f} ms, while training {r['click_busy_ms']:.1f} ms | "
                      f"val acc {100 * r['accuracy']:.1f}%", flush=True)
    if rows:
        print("\nmedians per dataset and mode:")
        for key in sorted({(r["dataset"], r["mode"]) for r in rows}):
            sel = [r for r in rows if (r["dataset"], r["mode"]) == key]
            med = lambda f: statistics.median(r[f] for r in sel)  # noqa: E731
            print(f"  {key[0]:>8} {key[1]:>8} (pool {sel[0]['pool']}): last label -> next batch {med('next_ms'):.0f} ms, "
                  f"-> refreshed grid {med('refreshed_s'):.2f} s (cycle {med('cycle_s'):.2f} s, widget refresh "
                  f"{med('widget_ms'):.0f} ms); click while training {med('click_busy_ms'):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
