"""BALD scoring speed and agreement: alwidget versus Baal, on the same weights.

One model is trained with alwidget (``finetune`` mode, the default ``alwidget_cnn`` trunk and
the MC-dropout head) for one cycle on a few hundred Fashion-MNIST labels. Then the same pool
of Fashion-MNIST training images is scored with BALD at ``T`` MC-dropout samples, two ways:

* **alwidget** — the learner's own scoring path, :meth:`ActiveLearner.posterior`: the trunk
  runs once over the pool, the head is sampled ``T`` times (:meth:`MCDropout.posterior`, one
  dropout mask per sample shared by every item) and
  :func:`alwidget.strategies.scores.bald` scores the samples; then the pool is ranked.
* **Baal** — a plain ``nn.Module`` ``trunk → Dropout → Linear → ReLU → Dropout → Linear`` that
  shares the very same weights (the head's functional dropout becomes ``nn.Dropout`` modules),
  patched by ``baal.bayesian.dropout.MCDropoutModule`` so dropout stays on at inference;
  ``ModelWrapper.predict_on_dataset(iterations=T)`` then ``baal.active.heuristics.BALD``
  ranks the pool. Baal runs the whole network ``T`` times (its default path replicates each
  batch ``T`` times in memory). With ``--baal-cache`` Baal's own speed-up is timed too:
  ``MCCachingModule`` (deterministic ``Linear``/``Conv2d`` outputs cached across the ``T``
  passes, ``replicate_in_memory=False``).

Both get the same preprocessed images; Baal's dataset holds them as float tensors already
(its conversion is not timed; alwidget converts uint8 batches inside the timed call).

Agreement: Spearman rank correlation and top-k overlap (|top-k ∩ top-k'| / k) of the BALD
scores. MC noise alone makes two runs disagree, so the yardstick is Baal against itself
(two seeds): alwidget should agree with Baal as well as Baal agrees with itself.

Usage::

    python benchmarks/scoring_vs_baal.py --data ../shared/datasets            # 10,000 images, T = 20 and 100
    python benchmarks/scoring_vs_baal.py --data ../shared/datasets --quick    # 500 images, T = 5 (smoke test)

Timings are wall-clock seconds with ``torch.set_num_threads(--threads)`` (1 by default: the
machine's cores are shared); alwidget's is the median of ``--repeats`` runs, Baal's the
median of its two seeded runs, timed in turn with alwidget's (interleaved, so both see the same load);
the CPU time of the process is reported beside the wall time.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import sys
import time
import warnings
from typing import Dict, List, Optional

import numpy as np


def topk_overlap(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Share of the ``k`` highest-scored items of ``a`` that are among the ``k`` highest of ``b``."""
    k = min(k, len(a))
    ta = set(np.argsort(-a, kind="stable")[:k].tolist())
    tb = set(np.argsort(-b, kind="stable")[:k].tolist())
    return len(ta & tb) / k


def agreement(a: np.ndarray, b: np.ndarray) -> Dict[str, float]:
    from scipy.stats import spearmanr

    return {"spearman": float(spearmanr(a, b).statistic), "top10": topk_overlap(a, b, 10),
            "top100": topk_overlap(a, b, 100)}


def baal_model(classifier):
    """``trunk → Dropout(p_in) → fc1 → ReLU → Dropout(p) → fc2`` with the classifier's weights.

    Built on a deep copy: Baal's patching replaces modules in place (``MCCachingModule`` wraps
    every ``Conv2d``/``Linear``), which must not touch the classifier alwidget scores with.
    """
    import copy

    from torch import nn

    classifier = copy.deepcopy(classifier)
    head = classifier.head
    if head.fc1 is None:
        layers = [nn.Dropout(head.p_in), head.fc2]
    else:
        layers = [nn.Dropout(head.p_in), head.fc1, nn.ReLU(), nn.Dropout(head.p), head.fc2]
    return nn.Sequential(classifier.trunk, classifier.norm, nn.Sequential(*layers))


def run(args: argparse.Namespace) -> dict:
    warnings.simplefilter("ignore")
    import torch

    torch.set_num_threads(args.threads)
    import logging

    import structlog  # Baal logs every predict call through structlog; keep the table readable

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from baal.active.heuristics import BALD
    from baal.bayesian.caching_utils import MCCachingModule
    from baal.bayesian.dropout import MCDropoutModule
    from baal.modelwrapper import ModelWrapper, TrainingArgs

    from alwidget import ActiveLearner, datasets
    from alwidget.strategies import scores

    out: dict = {"pool": args.pool, "labels": args.labels, "threads": args.threads, "samples": args.samples}
    t0 = time.perf_counter()
    pool = datasets.fashion_mnist(args.data, "train", limit=args.pool)
    learner = ActiveLearner(pool, validation_from_truth=True, mode="finetune", seed=args.seed,
                            validation_size=min(100, args.pool // 10), num_threads=args.threads,
                            train=dict(max_steps=args.train_steps) if args.train_steps else None)
    first = learner.query(args.labels)
    learner.teach(first, [pool.truth[i] for i in first], source="oracle")
    rep = learner.retrain()
    out["val_acc"] = rep.accuracy
    out["train_seconds"] = time.perf_counter() - t0
    classifier = learner.classifier  # the trained network (eval mode)
    x_all = learner.model_inputs()  # the same preprocessed images, as float tensors
    dataset = torch.utils.data.TensorDataset(x_all, torch.zeros(len(pool), dtype=torch.long))
    model = baal_model(classifier)
    with torch.no_grad():  # same weights: Baal's module without dropout == alwidget's classifier in eval
        ref = classifier(x_all[:256])
        model.eval()
        got = model(x_all[:256])
    out["max_logit_diff"] = float((ref - got).abs().max())
    assert out["max_logit_diff"] < 1e-4, out["max_logit_diff"]
    n_modules = sum(1 for _ in classifier.modules())
    mc_model = MCDropoutModule(model)
    wrapper = ModelWrapper(mc_model, TrainingArgs(batch_size=args.baal_batch, use_cuda=False, workers=0))
    wrappers = {"baal": wrapper}
    if args.baal_cache:
        cached = MCCachingModule(MCDropoutModule(baal_model(classifier)))
        wrappers["baal_cache"] = ModelWrapper(cached, TrainingArgs(batch_size=args.baal_batch, use_cuda=False,
                                                                    workers=0, replicate_in_memory=False))

    assert sum(1 for _ in classifier.modules()) == n_modules  # Baal's patching left alwidget's model alone

    def alwidget_score(t: int, seed: int):
        t0, c0 = time.perf_counter(), time.process_time()
        post = learner.posterior(n_samples=t, seed=seed)
        s = scores.bald(post.samples_T_N_C.numpy())
        np.argsort(-s, kind="stable")
        return s, {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}

    def baal_score(w, t: int, seed: int):
        torch.manual_seed(seed)
        t0, c0 = time.perf_counter(), time.process_time()
        preds = w.predict_on_dataset(dataset, iterations=t, verbose=False)  # [N, C, T] logits
        ranks, s = BALD().get_ranks(preds)
        return np.asarray(s, dtype=np.float64), {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}

    med = lambda runs, key: float(np.median([r[key] for r in runs]))

    # warm-up (allocator, lazy imports) on a few items, not timed
    alwidget_score(2, 0)
    wrapper.predict_on_dataset(torch.utils.data.Subset(dataset, range(64)), iterations=2, verbose=False)

    out["by_T"] = []
    for t in args.samples:
        # interleaved (alwidget, Baal, alwidget, Baal, ...) so both see the same load on shared cores
        row: dict = {"T": t}
        n_a = max(2, args.repeats)
        a_runs, b_runs, c_runs = [], [], []
        a_runs.append(alwidget_score(t, 1000))
        for seed in (1, 2):
            b_runs.append(baal_score(wrapper, t, seed))
            a_runs.append(alwidget_score(t, 1000 + len(a_runs)))
        if "baal_cache" in wrappers:
            c_runs.append(baal_score(wrappers["baal_cache"], t, 3))
        while len(a_runs) < n_a:
            a_runs.append(alwidget_score(t, 1000 + len(a_runs)))
        a_t, b_t = [r[1] for r in a_runs], [r[1] for r in b_runs]
        row.update(alwidget_s=med(a_t, "wall"), alwidget_cpu=med(a_t, "cpu"), alwidget_runs=a_t,
                   baal_s=med(b_t, "wall"), baal_cpu=med(b_t, "cpu"), baal_runs=b_t)
        row["ratio"] = row["baal_s"] / row["alwidget_s"]
        row["ratio_cpu"] = row["baal_cpu"] / row["alwidget_cpu"]
        b1, b2 = b_runs[0][0], b_runs[1][0]
        if c_runs:
            c1, tc = c_runs[0]
            row.update(baal_cache_s=tc["wall"], baal_cache_cpu=tc["cpu"], ratio_cache=tc["wall"] / row["alwidget_s"],
                       ratio_cache_cpu=tc["cpu"] / row["alwidget_cpu"], baal_cache_vs_baal=agreement(c1, b1))
        a1, a2 = a_runs[0][0], a_runs[1][0]
        ab = [agreement(a1, b1), agreement(a1, b2), agreement(a2, b1), agreement(a2, b2)]
        row["alwidget_vs_baal"] = {k: float(np.mean([d[k] for d in ab])) for k in ab[0]}
        row["alwidget_vs_baal_min"] = {k: float(np.min([d[k] for d in ab])) for k in ab[0]}
        row["baal_vs_baal"] = agreement(b1, b2)
        row["alwidget_vs_alwidget"] = agreement(a1, a2)
        row["mean_bald"] = {"alwidget": float(a1.mean()), "baal": float(b1.mean())}
        out["by_T"].append(row)
        print(f"T={t}: alwidget {row['alwidget_s']:.2f} s, Baal {row['baal_s']:.1f} s", file=sys.stderr, flush=True)
    try:
        import resource

        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except ImportError:  # pragma: no cover - not on Windows
        pass
    learner.close()
    return out


def markdown(res: dict, command: str, date: str) -> str:
    lines = [f"BALD scoring, alwidget vs Baal — `{command}` — {date}", "",
             f"Pool: first {res['pool']} Fashion-MNIST training images; model: alwidget_cnn + MC-dropout head "
             f"trained one cycle on {res['labels']} labels (validation accuracy {100 * res['val_acc']:.1f} %); "
             f"torch threads: {res['threads']}; Baal batch size {res['baal_batch']}.", "",
             "Wall-clock seconds (CPU seconds of the process in parentheses: less sensitive to other load); "
             "alwidget = trunk once + head T times + BALD + ranking.", "",
             "| T | alwidget s | Baal s | Baal / alwidget |"
             + (" Baal+cache s | Baal+cache / alwidget |" if "baal_cache_s" in res["by_T"][0] else ""),
             "|---|---|---|---|" + ("---|---|" if "baal_cache_s" in res["by_T"][0] else "")]
    for r in res["by_T"]:
        line = (f"| {r['T']} | {r['alwidget_s']:.2f} ({r['alwidget_cpu']:.2f}) | {r['baal_s']:.1f} ({r['baal_cpu']:.1f}) | "
                f"{r['ratio']:.1f}× ({r['ratio_cpu']:.1f}×) |")
        if "baal_cache_s" in r:
            line += f" {r['baal_cache_s']:.1f} ({r['baal_cache_cpu']:.1f}) | {r['ratio_cache']:.1f}× ({r['ratio_cache_cpu']:.1f}×) |"
        lines.append(line)
    goal = "; ".join(f"T={r['T']}: {r['ratio']:.1f}× wall, {r['ratio_cpu']:.1f}× CPU — "
                     f"{'met' if min(r['ratio'], r['ratio_cpu']) >= 10 else 'NOT met'}" for r in res["by_T"])
    lines += ["", f"Goal, at least 10× faster than Baal's MC-dropout path at the same T: {goal}"
              + (" (--quick: smoke-test sizes, not a measurement)." if res.get("quick") else ".")]
    lines += ["", "| T | pair | Spearman | top-10 overlap | top-100 overlap |", "|---|---|---|---|---|"]
    for r in res["by_T"]:
        pairs = [("alwidget vs Baal (mean of 4)", r["alwidget_vs_baal"]),
                 ("alwidget vs Baal (worst of 4)", r["alwidget_vs_baal_min"]),
                 ("Baal vs Baal (2 seeds)", r["baal_vs_baal"]),
                 ("alwidget vs alwidget (2 seeds)", r["alwidget_vs_alwidget"])]
        if "baal_cache_vs_baal" in r:
            pairs.append(("Baal+cache vs Baal", r["baal_cache_vs_baal"]))
        for name, d in pairs:
            lines.append(f"| {r['T']} | {name} | {d['spearman']:.3f} | {d['top10']:.2f} | {d['top100']:.2f} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("ALWIDGET_DATA"), help="folder holding fashion-mnist/")
    ap.add_argument("--quick", action="store_true", help="500 images, T = 5, seconds (CI smoke test)")
    ap.add_argument("--pool", type=int, default=10000, help="first N Fashion-MNIST training images")
    ap.add_argument("--labels", type=int, default=200, help="training labels of the one cycle")
    ap.add_argument("--samples", nargs="+", type=int, default=[20, 100], help="T values (MC-dropout passes)")
    ap.add_argument("--repeats", type=int, default=5, help="timed alwidget runs per T (median reported)")
    ap.add_argument("--baal-batch", type=int, default=32,
                    help="Baal's batch size (its TrainingArgs default is 32; a batch is replicated T times)")
    ap.add_argument("--baal-cache", action="store_true", help="also time Baal with MCCachingModule")
    ap.add_argument("--train-steps", type=int, default=None, help="max_steps of the training cycle")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: shared cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    try:
        import baal  # noqa: F401
    except ImportError:
        print("baal is not installed: pip install 'alwidget[bench]' (or baal>=2.0)", file=sys.stderr)
        return 2
    if args.quick:
        args.pool, args.labels, args.samples, args.repeats, args.train_steps = 500, 60, [5], 2, 30
        args.baal_batch = min(args.baal_batch, 64)
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__)] + sys.argv[1:]) \
        if argv is None else "python benchmarks/scoring_vs_baal.py " + " ".join(argv)
    date = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    res = run(args)
    res["baal_batch"], res["quick"] = args.baal_batch, args.quick
    res["command"], res["date"] = command, date
    print(markdown(res, command, date))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
