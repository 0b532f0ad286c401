"""Backtest the label forecast (``alwidget.trust.forecast``) on recorded learning curves.

The records are what ``benchmarks/label_efficiency.py`` writes (JSON lines with ``dataset``,
``strategy``, ``seed``, ``n_labels``, ``validation_accuracy``, ``test_accuracy`` and, in records
made since 2026-12-02, ``n_validation``). For each run and each ``K`` in ``--from-cycles``, the
forecast sees only the first ``K`` cycles and answers "how many training labels to reach the
target?"; the truth is the first label count at which the run's *test* accuracy (2,000 held-out
images, far less noisy than the 100-image validation set) reached the target (``--truth
validation``: the validation accuracy, what the person sees). A run that never reached it is
censored at its last label count: it counts as inside the range when the range reaches past
that count, and is left out of the error.

    python benchmarks/forecast_backtest.py --records benchmarks/out/forecast/mnist.jsonl --target mnist=0.96

Prints one table per curve family: forecasts made, the median absolute error (labels, and
relative to the truth), and how often the truth fell inside the range.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from alwidget.trust.forecast import CURVES, DEFAULT_CURVE, forecast_labels


def load(paths: Sequence[str]) -> Dict[tuple, List[dict]]:
    """``{(dataset, strategy, seed): [records sorted by n_labels]}``."""
    runs: Dict[tuple, List[dict]] = defaultdict(list)
    for path in paths:
        for line in Path(path).read_text().splitlines():
            rec = json.loads(line)
            if rec.get("done") or "n_labels" not in rec:
                continue
            runs[(rec.get("dataset", "?"), rec["strategy"], int(rec["seed"]))].append(rec)
    return {k: sorted(v, key=lambda r: r["n_labels"]) for k, v in runs.items()}


def truth_labels(run: List[dict], target: float, key: str) -> Optional[int]:
    """First label count whose accuracy (``key``) reaches ``target`` (``None``: never)."""
    for rec in run:
        if rec[key] >= target:
            return int(rec["n_labels"])
    return None


def backtest(runs: Dict[tuple, List[dict]], targets: Dict[str, float], from_cycles: Sequence[int], curve: str,
             level: float, n_val_default: int, truth: str, n_boot: int) -> List[dict]:
    """One row per (run, K): the forecast from the first K cycles and the truth."""
    key = "test_accuracy" if truth == "test" else "validation_accuracy"
    rows = []
    for (dataset, strategy, seed), run in sorted(runs.items()):
        if dataset not in targets:
            continue
        target = targets[dataset]
        true_n = truth_labels(run, target, key)
        for k in from_cycles:
            if len(run) <= k:
                continue
            seen = run[:k]
            fc = forecast_labels([r["n_labels"] for r in seen], [r["validation_accuracy"] for r in seen],
                                 [r.get("n_validation") or n_val_default for r in seen], target, curve=curve,
                                 level=level, n_boot=n_boot, seed=seed)
            rows.append(dict(dataset=dataset, strategy=strategy, seed=seed, k=k, labels_seen=int(seen[-1]["n_labels"]),
                             target=target, truth=true_n, censored_at=None if true_n else int(run[-1]["n_labels"]),
                             forecast=fc.labels, low=fc.low, high=fc.high, reached=fc.reached, message=fc.message))
    return rows


def inside(row: dict) -> Optional[bool]:
    """Truth in ``[low, high]`` (``None``: no forecast was made)."""
    if row["reached"] or row["low"] is None and row["forecast"] is None:
        return None
    low = row["low"] if row["low"] is not None else math.inf
    high = row["high"] if row["high"] is not None else math.inf
    if row["truth"] is None:  # censored: the truth is beyond the last label count
        return high > row["censored_at"]
    return low <= row["truth"] <= high


def summarize(rows: List[dict]) -> Dict[tuple, dict]:
    """``{(dataset, k): {...}}`` plus ``("all", k)`` and ``("all", "all")``."""
    groups: Dict[tuple, List[dict]] = defaultdict(list)
    for r in rows:
        for key in ((r["dataset"], r["k"]), ("all", r["k"]), ("all", "all")):
            groups[key].append(r)
    out = {}
    for key, rs in groups.items():
        made = [r for r in rs if inside(r) is not None]
        errs = [abs(r["forecast"] - r["truth"]) for r in made if r["truth"] is not None and r["forecast"] is not None]
        rel = [abs(r["forecast"] - r["truth"]) / r["truth"] for r in made
               if r["truth"] is not None and r["forecast"] is not None]
        hits = [inside(r) for r in made]
        out[key] = dict(n=len(rs), made=len(made), already=sum(r["reached"] for r in rs),
                        unreachable=sum(r["forecast"] is None and not r["reached"] for r in rs),
                        censored=sum(r["truth"] is None for r in made),
                        median_abs=float(np.median(errs)) if errs else math.nan,
                        median_rel=float(np.median(rel)) if rel else math.nan,
                        inside=sum(hits), coverage=(sum(hits) / len(hits)) if hits else math.nan)
    return out


def table(summary: Dict[tuple, dict], curve: str, level: float) -> str:
    lines = [f"curve {curve}, range claims {100 * level:.0f} %", "",
             "| data | from cycles | forecasts | median abs. error (labels) | median rel. error | truth inside range |"
             " already reached / no number |",
             "|---|---|---|---|---|---|---|"]
    order = sorted(summary, key=lambda k: (k[0] == "all", str(k[0]), k[1] == "all", str(k[1]).zfill(3)))
    for key in order:
        s = summary[key]
        cov = "–" if math.isnan(s["coverage"]) else f"{100 * s['coverage']:.0f} % ({s['inside']}/{s['made']})"
        err = "–" if math.isnan(s["median_abs"]) else f"{s['median_abs']:.0f}"
        rel = "–" if math.isnan(s["median_rel"]) else f"{100 * s['median_rel']:.0f} %"
        cens = f", {s['censored']} censored" if s["censored"] else ""
        lines.append(f"| {key[0]} | {key[1]} | {s['made']}{cens} | {err} | {rel} | {cov} | "
                     f"{s['already']} / {s['unreachable']} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", nargs="+", required=True, help="JSON-lines records of label_efficiency.py")
    ap.add_argument("--target", nargs="+", required=True, metavar="DATASET=ACC",
                    help="target accuracy per dataset, e.g. mnist=0.96 fashion=0.8")
    ap.add_argument("--from-cycles", nargs="+", type=int, default=[3, 5, 8])
    ap.add_argument("--curves", nargs="+", default=[DEFAULT_CURVE], choices=sorted(CURVES))
    ap.add_argument("--level", type=float, default=0.8, help="share the range claims")
    ap.add_argument("--n-validation", type=int, default=100,
                    help="validation labels per cycle for records without n_validation")
    ap.add_argument("--truth", choices=["test", "validation"], default="test")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--strategies", nargs="+", default=None, help="only these strategies' runs")
    ap.add_argument("--json", help="write the rows and summaries here")
    args = ap.parse_args(argv)
    targets = {}
    for spec in args.target:
        name, _, value = spec.partition("=")
        targets[name] = float(value)
    runs = load(args.records)
    if args.strategies:
        runs = {k: v for k, v in runs.items() if k[1] in args.strategies}
    if not runs:
        print("no runs in the records", file=sys.stderr)
        return 1
    print(f"{len(runs)} runs: " + ", ".join(f"{d}/{s}/seed {seed} ({len(v)} cycles, {v[0]['n_labels']}–"
                                            f"{v[-1]['n_labels']} labels)" for (d, s, seed), v in sorted(runs.items())))
    dump = {}
    for curve in args.curves:
        rows = backtest(runs, targets, args.from_cycles, curve, args.level, args.n_validation, args.truth, args.n_boot)
        summ = summarize(rows)
        print()
        print(table(summ, curve, args.level))
        for r in rows:
            print(f"  {r['dataset']} seed {r['seed']} K={r['k']} ({r['labels_seen']} labels seen): "
                  f"truth {r['truth'] if r['truth'] else '>' + str(r['censored_at'])}; {r['message']}")
        dump[curve] = dict(rows=rows, summary={f"{k[0]}|{k[1]}": v for k, v in summ.items()})
    if args.json:
        Path(args.json).write_text(json.dumps(dict(targets=targets, truth=args.truth, level=args.level, curves=dump),
                                              indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
