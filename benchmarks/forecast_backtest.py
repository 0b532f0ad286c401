"""Backtest and calibrate the label forecast (``alwidget.trust.forecast``) on recorded learning curves.

The records are what ``benchmarks/label_efficiency.py`` writes (JSON lines with ``dataset``,
``strategy``, ``seed``, ``n_labels``, ``validation_accuracy``, ``test_accuracy`` and
``n_validation``), or the ``--json`` of ``benchmarks/real_images.py`` (its ``default`` and
``random`` rows; dataset ``emoji``). ``PATH@NAME`` renames the dataset of every run in ``PATH``.
For each run, each target of its dataset and each ``K`` in ``--from-cycles``, the forecast sees
only the first ``K`` cycles and answers "how many training labels to reach the target?"; the
truth is the first label count at which the run's *test* accuracy reached the target
(``--truth validation``: the validation accuracy, what the person sees). A run that never
reached it is censored at its last label count: it counts as inside the range when the range
reaches past that count, and is left out of the error. A forecast made when the validation
accuracy had already reached the target is not counted ("already reached").

    python benchmarks/forecast_backtest.py --records runs.jsonl --target mnist=0.95,0.97

Three jobs:

- score the forecast, with the shipped calibration (``--calibration default``, the default),
  without (``none``) or with a file; one table per curve family: forecasts made, median absolute
  error (labels, and relative to the truth), how often the truth fell inside the range, the
  range's median width (high / low);
- ``--write-calibration FILE``: the residuals ``log(truth / forecast)`` of the uncalibrated
  forecasts at every horizon from 3 cycles on, as an :class:`~alwidget.trust.calibration.ForecastCalibration`
  (make it from development runs only);
- ``--cross-validate``: leave one dataset out: calibrate on the others, score on it, for the
  ranges a calibration can give (the bootstrap alone, the conformal range, their union).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from alwidget.trust.calibration import ForecastCalibration, default_calibration
from alwidget.trust.forecast import CURVES, DEFAULT_CURVE, forecast_labels

RANGES = ("bootstrap", "conformal", "union")


def load(paths: Sequence[str]) -> Dict[tuple, List[dict]]:
    """``{(dataset, strategy, seed): [records sorted by n_labels]}`` from record files (``PATH[@NAME]``)."""
    runs: Dict[tuple, List[dict]] = defaultdict(list)
    for spec in paths:
        path, _, rename = spec.partition("@")
        text = Path(path).read_text()
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:  # JSON lines
            whole = None
        if isinstance(whole, dict) and "rows" in whole:  # real_images.py --json
            recs = [dict(dataset="emoji", strategy=r["method"], seed=r["seed"], n_labels=r["n_labels"],
                         test_accuracy=r["accuracy"], validation_accuracy=r["validation_accuracy"],
                         n_validation=r.get("n_validation", 100))
                    for r in whole["rows"] if r.get("validation_accuracy") is not None]
        else:
            recs = [json.loads(line) for line in text.splitlines() if line.strip()]
        for rec in recs:
            if rec.get("done") or "n_labels" not in rec:
                continue
            dataset = rename or rec.get("dataset", "?")
            runs[(dataset, rec["strategy"], int(rec["seed"]))].append(rec)
    return {k: sorted(v, key=lambda r: r["n_labels"]) for k, v in runs.items()}


def truth_labels(run: List[dict], target: float, key: str) -> Optional[int]:
    """First label count whose accuracy (``key``) reaches ``target`` (``None``: never)."""
    for rec in run:
        if rec[key] >= target:
            return int(rec["n_labels"])
    return None


def backtest(runs: Dict[tuple, List[dict]], targets: Dict[str, List[float]], from_cycles: Sequence[int], curve: str,
             level: float, n_val_default: int, truth: str, n_boot: int,
             calibration: Optional[ForecastCalibration] = None) -> List[dict]:
    """One row per (run, target, K): the forecast from the first K cycles and the truth.

    Every row also keeps the uncalibrated forecast's point and bootstrap range (``point``,
    ``boot_low``, ``boot_high``), which :func:`residuals` and :func:`rescore` use.
    """
    key = "test_accuracy" if truth == "test" else "validation_accuracy"
    rows = []
    for (dataset, strategy, seed), run in sorted(runs.items()):
        for target in targets.get(dataset, []):
            true_n = truth_labels(run, target, key)
            for k in from_cycles:
                if len(run) <= k:
                    continue
                seen = run[:k]
                args = ([r["n_labels"] for r in seen], [r["validation_accuracy"] for r in seen],
                        [r.get("n_validation") or n_val_default for r in seen], target)
                raw = forecast_labels(*args, curve=curve, level=level, n_boot=n_boot, seed=seed, calibration=None)
                fc = raw if calibration is None else forecast_labels(*args, curve=curve, level=level, n_boot=n_boot,
                                                                     seed=seed, calibration=calibration)
                rows.append(dict(dataset=dataset, strategy=strategy, seed=seed, k=k,
                                 labels_seen=int(seen[-1]["n_labels"]), target=target, truth=true_n,
                                 censored_at=None if true_n else int(run[-1]["n_labels"]), forecast=fc.labels,
                                 low=fc.low, high=fc.high, reached=fc.reached, message=fc.message,
                                 point=raw.labels, boot_low=raw.low, boot_high=raw.high))
    return rows


def residual(row: dict) -> Optional[float]:
    """``log(truth / forecast)`` of a row's uncalibrated forecast (``+inf``: never reached; ``None``: no forecast)."""
    if row["reached"] or row["point"] is None:
        return None
    if row["truth"] is None:
        return math.inf
    return math.log(row["truth"] / row["point"])


def make_calibration(rows: List[dict], curve: str, source: str, margin: float = 0.0) -> ForecastCalibration:
    """The residuals of ``rows`` by horizon."""
    res: Dict[int, List[float]] = defaultdict(list)
    for r in rows:
        v = residual(r)
        if v is not None:
            res[r["k"]].append(v)
    return ForecastCalibration({k: tuple(v) for k, v in res.items()}, curve=curve, source=source, margin=margin)


def rescore(rows: List[dict], calibration: ForecastCalibration, level: float, how: str) -> List[dict]:
    """Rows with the range ``how`` (:data:`RANGES`) computed from the uncalibrated forecast."""
    out = []
    for r in rows:
        r = dict(r)
        if how != "bootstrap" and r["point"] is not None and not r["reached"]:
            f_lo, f_hi = calibration.factors(r["k"], level)
            lo = max(r["labels_seen"], math.ceil(r["point"] * f_lo))
            hi = None if not math.isfinite(f_hi) else math.ceil(r["point"] * f_hi)
            if how == "union":
                lo = min(lo, r["boot_low"]) if r["boot_low"] is not None else lo
                hi = None if hi is None or r["boot_high"] is None else max(hi, r["boot_high"])
            r["low"], r["high"] = lo, hi
            r["forecast"] = max(r["labels_seen"], math.ceil(r["point"] * calibration.shift(r["k"])))
        else:
            r["low"], r["high"] = r["boot_low"], r["boot_high"]
            r["forecast"] = r["point"]
        out.append(r)
    return out


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
        width = [(r["high"] / r["low"]) if r["high"] is not None and r["low"] else math.inf for r in made]
        hits = [inside(r) for r in made]
        out[key] = dict(n=len(rs), made=len(made), already=sum(r["reached"] for r in rs),
                        unreachable=sum(r["forecast"] is None and not r["reached"] for r in rs),
                        censored=sum(r["truth"] is None for r in made),
                        median_abs=float(np.median(errs)) if errs else math.nan,
                        median_rel=float(np.median(rel)) if rel else math.nan,
                        median_width=float(np.median(width)) if width else math.nan,
                        inside=sum(hits), coverage=(sum(hits) / len(hits)) if hits else math.nan)
    return out


def table(summary: Dict[tuple, dict], title: str) -> str:
    lines = [title, "",
             "| data | from cycles | forecasts | median abs. error (labels) | median rel. error | truth inside range |"
             " range high ÷ low (median) | already reached / no number |",
             "|---|---|---|---|---|---|---|---|"]
    order = sorted(summary, key=lambda k: (k[0] == "all", str(k[0]), k[1] == "all", str(k[1]).zfill(3)))
    for key in order:
        s = summary[key]
        cov = "–" if math.isnan(s["coverage"]) else f"{100 * s['coverage']:.0f} % ({s['inside']}/{s['made']})"
        err = "–" if math.isnan(s["median_abs"]) else f"{s['median_abs']:.0f}"
        rel = "–" if math.isnan(s["median_rel"]) else f"{100 * s['median_rel']:.0f} %"
        wid = "–" if math.isnan(s["median_width"]) else ("∞" if math.isinf(s["median_width"])
                                                         else f"{s['median_width']:.2f}")
        cens = f", {s['censored']} censored" if s["censored"] else ""
        lines.append(f"| {key[0]} | {key[1]} | {s['made']}{cens} | {err} | {rel} | {cov} | {wid} | "
                     f"{s['already']} / {s['unreachable']} |")
    return "\n".join(lines)


def cross_validate(runs, targets, curve, args) -> Dict[str, Dict[tuple, dict]]:
    """Leave one dataset out: calibrate on the others (every horizon), score on it at ``--from-cycles``."""
    horizons = list(range(3, max(len(v) for v in runs.values())))
    every = backtest(runs, targets, sorted(set(horizons) | set(args.from_cycles)), curve, args.level,
                     args.n_validation, args.truth, args.n_boot)
    scored: Dict[str, List[dict]] = {how: [] for how in RANGES}
    for held in sorted({r["dataset"] for r in every}):
        cal = make_calibration([r for r in every if r["dataset"] != held], curve, f"all but {held}", args.margin)
        test_rows = [r for r in every if r["dataset"] == held and r["k"] in args.from_cycles]
        for how in RANGES:
            scored[how] += rescore(test_rows, cal, args.level, how)
    return {how: summarize(rows) for how, rows in scored.items()}


def parse_targets(specs: Sequence[str]) -> Dict[str, List[float]]:
    """``["fashion=0.75,0.8", ...]`` to ``{"fashion": [0.75, 0.8]}``."""
    targets: Dict[str, List[float]] = {}
    for spec in specs:
        name, _, values = spec.partition("=")
        targets[name] = [float(v) for v in values.split(",") if v]
    return targets


def get_calibration(spec: str) -> Optional[ForecastCalibration]:
    if spec == "none":
        return None
    if spec == "default":
        return default_calibration()
    return ForecastCalibration.load(spec)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", nargs="+", required=True,
                    help="JSON-lines records of label_efficiency.py or --json of real_images.py; PATH@NAME renames")
    ap.add_argument("--target", nargs="+", required=True, metavar="DATASET=ACC[,ACC...]",
                    help="target accuracies per dataset, e.g. mnist=0.95,0.97 fashion=0.8")
    ap.add_argument("--from-cycles", nargs="+", type=int, default=[3, 5, 8])
    ap.add_argument("--curves", nargs="+", default=[DEFAULT_CURVE], choices=sorted(CURVES))
    ap.add_argument("--level", type=float, default=0.8, help="share the range claims")
    ap.add_argument("--n-validation", type=int, default=100,
                    help="validation labels per cycle for records without n_validation")
    ap.add_argument("--truth", choices=["test", "validation"], default="test")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--strategies", nargs="+", default=None, help="only these strategies' runs")
    ap.add_argument("--calibration", default="default",
                    help="'default' (shipped with the package), 'none', or a file written by --write-calibration")
    ap.add_argument("--write-calibration", type=Path, default=None,
                    help="write the residuals of the uncalibrated forecasts here (development runs only!)")
    ap.add_argument("--describe", default="runs",
                    help="what the runs of --write-calibration are, e.g. 'development runs'; kept in the file")
    ap.add_argument("--margin", type=float, default=0.05,
                    help="--write-calibration / --cross-validate: added to the level before the conformal quantiles")
    ap.add_argument("--cross-validate", action="store_true",
                    help="leave one dataset out: calibrate on the rest, score the three ranges on it")
    ap.add_argument("--verbose", action="store_true", help="print every forecast")
    ap.add_argument("--json", help="write the rows and summaries here")
    args = ap.parse_args(argv)
    targets = parse_targets(args.target)
    runs = load(args.records)
    if args.strategies:
        runs = {k: v for k, v in runs.items() if k[1] in args.strategies}
    runs = {k: v for k, v in runs.items() if k[0] in targets}
    if not runs:
        print("no runs in the records for the datasets of --target", file=sys.stderr)
        return 1
    print(f"{len(runs)} runs: " + ", ".join(f"{d}/{s}/seed {seed} ({len(v)} cycles, {v[0]['n_labels']}–"
                                            f"{v[-1]['n_labels']} labels)" for (d, s, seed), v in sorted(runs.items())))
    dump: Dict[str, dict] = {}
    if args.write_calibration is not None:
        curve = args.curves[0]
        horizons = list(range(3, max(len(v) for v in runs.values())))
        rows = backtest(runs, targets, horizons, curve, args.level, args.n_validation, "test", args.n_boot)
        source = (f"{args.describe}: benchmarks/forecast_backtest.py on {datetime.date.today().isoformat()}: "
                  f"records {' '.join(Path(p.partition('@')[0]).name for p in args.records)}; targets "
                  + " ".join(f"{d}={','.join(f'{t:g}' for t in ts)}" for d, ts in sorted(targets.items())))
        cal = make_calibration(rows, curve, source, args.margin)
        cal.save(args.write_calibration)
        counts = ", ".join(f"{k}: {len(v)}" for k, v in sorted(cal.residuals.items()))
        print(f"\nwrote {args.write_calibration}: residuals per horizon {counts}")
        return 0
    if args.cross_validate:
        for curve in args.curves:
            for how, summ in cross_validate(runs, targets, curve, args).items():
                print()
                print(table(summ, f"curve {curve}, range {how} (leave one dataset out), claims {100 * args.level:.0f} %"))
                dump[f"{curve}/{how}"] = dict(summary={f"{k[0]}|{k[1]}": v for k, v in summ.items()})
    else:
        calibration = get_calibration(args.calibration)
        for curve in args.curves:
            cal = calibration if calibration is not None and calibration.curve == curve else None
            rows = backtest(runs, targets, args.from_cycles, curve, args.level, args.n_validation, args.truth,
                            args.n_boot, cal)
            summ = summarize(rows)
            print()
            print(table(summ, f"curve {curve}, {'calibrated' if cal else 'bootstrap'} range, "
                              f"claims {100 * args.level:.0f} %, truth: {args.truth} accuracy"))
            if args.verbose:
                for r in rows:
                    print(f"  {r['dataset']} seed {r['seed']} target {r['target']:g} K={r['k']} ({r['labels_seen']} "
                          f"labels seen): truth {r['truth'] if r['truth'] else '>' + str(r['censored_at'])}; "
                          f"{r['message']}")
            dump[curve] = dict(rows=rows, summary={f"{k[0]}|{k[1]}": v for k, v in summ.items()})
    if args.json:
        Path(args.json).write_text(json.dumps(dict(targets=targets, truth=args.truth, level=args.level, curves=dump),
                                              indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
