"""Find a careless person's mislabels: precision and recall of ``learner.label_issues()``.

A simulated person labels from the truth but makes mistakes: a label is wrong when a uniform
draw from a generator seeded by ``(seed, 7919, the item's position in the pool)`` falls below
``--rates``; the wrong class is then drawn uniformly from the other classes by the same
generator. The draw does not depend on the rate, so the items wrong at 5 % are also wrong at
10 %. The person labels the validation set (100 images), a class-balanced start (2 per class)
and then the learner's queries, ``--step`` at a time, to ``--budget`` training labels, all with
mistakes; then ``learner.label_issues()`` ranks every label (train and validation).

Reported per run: the number of wrong labels ``F``; precision and recall of the top ``2F`` of the
ranking; precision and recall of cleanlab's own verdict (``flagged``); test accuracy before and
after the person fixes the top ``2F`` (a wrong one is corrected from the truth, a right one
confirmed), and after fixing every wrong label (the ceiling).

    python benchmarks/label_issues.py --data ../shared/datasets --dataset mnist --seeds 0 1 2 --rates 0.05 0.1 \\
        --cache-dir /tmp/final/cache --records benchmarks/out/label_issues_mnist.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from label_efficiency import load_data  # noqa: E402  (the same pools and subsets)


def careless(pool, seed: int, rate: float, classes: List[str]):
    """The person: ``label(item) -> (class, wrong?)``."""
    truth = pool.truth
    position = {item: i for i, item in enumerate(pool.ids)}

    def label(item: str):
        rng = np.random.default_rng([seed, 7919, position[item]])
        true = truth[item]
        if rng.random() >= rate:
            return true, False
        others = [c for c in classes if c != true]
        return others[int(rng.integers(len(others)))], True

    return label


def label_carelessly(learner, person, seed: int, budget: int, step: int, init_per_class: int = 2):
    """The person labels the validation set, a balanced start and then the learner's queries,
    ``step`` at a time, retraining each round, to ``budget`` training labels. Returns the set of
    items labelled wrong and the last cycle's report."""
    from alwidget.simulate import balanced_start

    wrong = set()

    def teach(ids):
        labels = []
        for item in ids:
            label, bad = person(item)
            labels.append(label)
            if bad:
                wrong.add(item)
        learner.teach(ids, labels, source="oracle")

    teach(learner.pending_validation())
    teach(balanced_start(learner, init_per_class, seed))
    while True:
        rep = learner.retrain()
        if rep.n_labels >= budget:
            return wrong, rep
        teach(learner.query(min(step, budget - rep.n_labels)))


def one_run(pool, test, dataset: str, seed: int, rate: float, args) -> dict:
    from alwidget import ActiveLearner

    kw = dict(seed=seed, slow_cycle="inline", refine_every=args.refine_every or None, num_threads=args.threads)
    if args.cache_dir:
        kw["cache_dir"] = args.cache_dir
    if args.representation_steps:
        kw["representation_config"] = {"steps": args.representation_steps}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        learner = ActiveLearner(pool, **kw)
    t0 = time.perf_counter()
    try:
        wrong, rep = label_carelessly(learner, careless(pool, seed, rate, learner.classes), seed, args.budget,
                                      args.step, args.init_per_class)
        t_label = time.perf_counter() - t0
        acc_before = learner.evaluate(test)
        t1 = time.perf_counter()
        check = learner.label_issues(n_folds=args.folds, method=args.method)
        t_check = time.perf_counter() - t1
        f = len(wrong)
        top = check.ids[: 2 * f]
        hits = len(set(top) & wrong)
        flagged = [i.item_id for i in check.flagged]
        flag_hits = len(set(flagged) & wrong)
        # the person fixes what the check showed: corrects the wrong ones, confirms the rest
        fix = [i for i in top if i in wrong]
        if fix:
            learner.teach(fix, [pool.truth[i] for i in fix], source="review")
        keep = [i for i in top if i not in wrong]
        if keep:
            learner.confirm(keep)
        learner.retrain()
        acc_after = learner.evaluate(test)
        rest = sorted(wrong - set(fix))
        if rest:
            learner.teach(rest, [pool.truth[i] for i in rest], source="review")
        learner.retrain()
        acc_clean = learner.evaluate(test)
    finally:
        learner.close()
    n_wrong_val = len(wrong & set(learner.validation_ids))
    return dict(dataset=dataset, seed=seed, rate=rate, n_labels=int(rep.n_labels), n_checked=check.n_checked,
                wrong=f, wrong_validation=n_wrong_val, top=len(top), top_hits=hits,
                precision=hits / len(top) if top else float("nan"), recall=hits / f if f else float("nan"),
                flagged=len(flagged), flagged_hits=flag_hits,
                flagged_precision=flag_hits / len(flagged) if flagged else float("nan"),
                flagged_recall=flag_hits / f if f else float("nan"),
                test_before=acc_before, test_after=acc_after, test_all_fixed=acc_clean,
                seconds_labelling=t_label, seconds_check=t_check, folds=args.folds, method=args.method)


def fmt(values: List[float], pct: bool = True) -> str:
    v = np.asarray(values, dtype=float)
    s = (lambda x: f"{100 * x:.1f} %") if pct else (lambda x: f"{x:.1f}")
    return f"{s(np.median(v))} [{s(v.min())}–{s(v.max())}]"


def table(rows: List[dict]) -> str:
    out = ["| data | wrong labels | seeds | wrong (of labels checked) | top-2F precision | top-2F recall | "
           "flagged: precision / recall | test acc. before | after fixing top 2F | all wrong fixed | check (s) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["dataset"], r["rate"]) for r in rows})
    for d, rate in keys:
        rs = [r for r in rows if r["dataset"] == d and r["rate"] == rate]
        out.append(
            f"| {d} | {100 * rate:.0f} % | {len(rs)} | {fmt([r['wrong'] for r in rs], False)} of "
            f"{rs[0]['n_checked']} | {fmt([r['precision'] for r in rs])} | {fmt([r['recall'] for r in rs])} | "
            f"{fmt([r['flagged_precision'] for r in rs])} / {fmt([r['flagged_recall'] for r in rs])} | "
            f"{fmt([r['test_before'] for r in rs])} | {fmt([r['test_after'] for r in rs])} | "
            f"{fmt([r['test_all_fixed'] for r in rs])} | {fmt([r['seconds_check'] for r in rs], False)} |")
    return "\n".join(out)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("ALWIDGET_DATA"), help="folder holding mnist-test/ and fashion-mnist/")
    ap.add_argument("--dataset", nargs="+", choices=["mnist", "fashion", "digits"], default=["mnist"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--rates", nargs="+", type=float, default=[0.05, 0.1], help="share of labels the person gets wrong")
    ap.add_argument("--budget", type=int, default=300, help="training labels before the check")
    ap.add_argument("--step", type=int, default=20, help="labels per round")
    ap.add_argument("--init-per-class", type=int, default=2)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--method", default="self_confidence")
    ap.add_argument("--refine-every", type=int, default=0, help="slow cycle every this many labels (0: none)")
    ap.add_argument("--pool-limit", type=int, default=None)
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--records", default=None, help="JSON lines, one per run (appended; --resume skips done runs)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--representation-steps", type=int, default=None, help="override the representation's steps")
    ap.add_argument("--quick", action="store_true",
                    help="400 digits, one seed, 60 labels, a 30-step representation (smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.dataset, args.seeds, args.budget, args.step, args.rates = ["digits"], [0], 60, 40, [0.1]
        args.pool_limit, args.representation_steps = args.pool_limit or 400, args.representation_steps or 30
    if any(not 0 <= r < 1 for r in args.rates):
        ap.error(f"--rates must be in [0, 1), got {args.rates}")
    done: Dict[tuple, dict] = {}
    rec_path = Path(args.records) if args.records else None
    if rec_path and args.resume and rec_path.exists():
        for line in rec_path.read_text().splitlines():
            r = json.loads(line)
            done[(r["dataset"], r["seed"], r["rate"], r["method"], r["folds"])] = r
    rows = []
    for dataset in args.dataset:
        limit = args.pool_limit if args.pool_limit else (10000 if dataset == "fashion" else None)  # as label_efficiency
        tlimit = args.test_limit if args.test_limit else (2000 if dataset == "fashion" else None)
        pool, test, desc = load_data(dataset, args.data, limit, tlimit, 0)
        print(f"{dataset}: {desc}", flush=True)
        for seed in args.seeds:
            for rate in args.rates:
                key = (dataset, seed, rate, args.method, args.folds)
                if key in done:
                    rows.append(done[key])
                    continue
                row = one_run(pool, test, dataset, seed, rate, args)
                rows.append(row)
                print(f"  {dataset} seed {seed} rate {rate}: {row['wrong']} wrong, top-2F recall "
                      f"{100 * row['recall']:.0f} %, precision {100 * row['precision']:.0f} %; test "
                      f"{100 * row['test_before']:.1f} → {100 * row['test_after']:.1f} % "
                      f"(all fixed {100 * row['test_all_fixed']:.1f} %); check {row['seconds_check']:.1f} s", flush=True)
                if rec_path:
                    rec_path.parent.mkdir(parents=True, exist_ok=True)
                    with rec_path.open("a") as fh:
                        fh.write(json.dumps(row) + "\n")
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
