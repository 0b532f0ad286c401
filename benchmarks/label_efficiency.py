"""Label efficiency: labels needed to reach a test accuracy, per strategy (Gal et al. 2017 protocol).

Protocol (Gal, Islam & Ghahramani 2017, "Deep Bayesian Active Learning with Image Data"):
start from 20 labelled images, **2 per class** (drawn at random per class from the truth);
acquire 10 per round; record test accuracy after every round;
report the number of training labels needed to first reach two target accuracies — 90 % and
95 % on MNIST (10 % / 5 % error, as in the paper's Table 1), 80 % and 85 % on Fashion-MNIST —
median and min–max over seeds. A run stops early once it has reached the higher target.

As in the paper, a separate validation set (the learner's, 100 images labelled from the truth,
never queried) is **not** counted in the labels; with the default training (a fixed step
budget, no early stopping) it only feeds the learner's reports. Test accuracy uses the
MC-dropout predictive mean (``mc_samples`` passes of the head).

Data:

* **MNIST** — only the official *test* split is available offline, so it is split once, seeded
  (``--split-seed``, default 0), into an 8,000-image pool and a 2,000-image test set. This is
  not the paper's 60,000/10,000 setup: the absolute numbers are not directly comparable
  (a smaller pool holds fewer of the hardest, most informative images).
* **Fashion-MNIST** — the full 60,000-image training set is the pool (``--pool-limit`` takes
  a seeded random subset of it, for speed), the official 10,000-image test set the test set
  (``--test-limit`` a seeded subset).

Recipes. ``default`` is an :class:`~alwidget.ActiveLearner` with nothing but the pool and the
seed: ``semi`` mode (a self-supervised representation of the pool, learned once per seed; each
round the fast cycle — Poisson learning on its kNN graph, an MC-dropout head on labels plus
pseudo-labels; every ``refine_every`` (50) labels the slow cycle fine-tunes the trunk, inline)
with the budget-aware strategy (TypiClust below 3 labels per class, then margin: after the
balanced start of 2 per class, one TypiClust round). Any other strategy name
(``random``, ``margin``, ``bald``, ...) runs that strategy with the same new recipe.
``old_recipe`` is the recipe before the representation: a fresh ``alwidget_cnn`` trained from
scratch on the labels every round (``mode="finetune"``), margin. ``--cache-dir`` shares one
representation per seed between the recipes (they differ only in how they pick). Test
accuracy is inductive: test images are never in the graph; they go through the trunk and the
head like any new image.

Usage::

    python benchmarks/label_efficiency.py --data ../shared/datasets --dataset mnist \\
        --strategies random default --seeds 0 1 2 --budget 300 --threads 1
    python benchmarks/label_efficiency.py --data ../shared/datasets --dataset fashion --pool-limit 10000
    python benchmarks/label_efficiency.py --quick          # a few rounds on a 600-image pool (smoke test)

Every record is appended to ``--records`` (JSON lines) as it is made; ``--resume`` skips the
(strategy, seed) runs that file already holds complete, so a long run can be continued.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import inspect
import json
import math
import os
import shlex
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

HERE = Path(__file__).resolve().parent

#: The recipe before the representation: alwidget_cnn trained from scratch every round, margin.
OLD_RECIPE = "old_recipe"

TARGETS = {"mnist": (0.90, 0.95), "fashion": (0.80, 0.85), "fashion-dev": (0.80, 0.85), "digits": (0.90, 0.95)}

#: Published MNIST anchors: labels to reach 10 % / 5 % test error.
ANCHORS = [
    ("Random", 255, 835, "Gal et al. 2017, Table 1"),
    ("BALD", 145, 335, "Gal et al. 2017, Table 1"),
    ("Max Entropy", 165, 355, "Gal et al. 2017, Table 1"),
    ("Var Ratios", 120, 295, "Gal et al. 2017, Table 1"),
    ("BatchBALD (10 per round)", 90, 200, "Kirsch et al. 2019, about"),
]

DEFAULT_STRATEGIES = ["random", "margin", "default", OLD_RECIPE]


# ------------------------------------------------------------------------------------------ data
def load_data(dataset: str, root: Optional[str], pool_limit: Optional[int], test_limit: Optional[int],
              split_seed: int):
    """``(pool, test, description)`` for ``mnist``, ``fashion``, ``fashion-dev`` or ``digits``.

    ``fashion-dev`` is development data: a 10,000-image pool and a 5,000-image test set drawn
    (seeded, disjoint) from the Fashion-MNIST *training* split, for choosing defaults without
    touching the official test split that ``fashion`` reports on."""
    from alwidget import datasets

    if dataset == "mnist":
        full = datasets.mnist(root, split="test")
        test, pool = full.split(2000, seed=split_seed)
        desc = (f"MNIST official test split (10,000) split once with seed {split_seed} into a pool of "
                f"{len(pool)} and a test set of {len(test)}")
    elif dataset == "digits":
        full = datasets.digits()
        test, pool = full.split(500, seed=split_seed)
        desc = (f"scikit-learn's digits (1,797, 8x8) split once with seed {split_seed} into a pool of "
                f"{len(pool)} and a test set of {len(test)}")
    elif dataset == "fashion-dev":
        full = datasets.fashion_mnist(root, split="train")
        order = np.random.default_rng([split_seed, 7]).permutation(len(full))
        pool = full.subset([full.ids[i] for i in np.sort(order[:10_000])])
        test = full.subset([full.ids[i] for i in np.sort(order[10_000:15_000])])
        desc = (f"development data: Fashion-MNIST training split, a pool of {len(pool)} and a disjoint test set of "
                f"{len(test)} drawn with seed {split_seed} (the official test split is not touched)")
    elif dataset == "fashion":
        pool = datasets.fashion_mnist(root, split="train")
        test = datasets.fashion_mnist(root, split="test")
        desc = f"Fashion-MNIST training set ({len(pool)}) as the pool, official test set ({len(test)})"
    else:
        raise ValueError(f"unknown dataset {dataset!r}")
    rng = np.random.default_rng(split_seed + 1)
    if pool_limit and pool_limit < len(pool):
        pool = pool.subset([pool.ids[i] for i in np.sort(rng.choice(len(pool), pool_limit, replace=False))])
        desc += f"; pool subsampled to {len(pool)} (--pool-limit, seed {split_seed + 1})"
    if test_limit and test_limit < len(test):
        test = test.subset([test.ids[i] for i in np.sort(rng.choice(len(test), test_limit, replace=False))])
        desc += f"; test set subsampled to {len(test)} (--test-limit)"
    return pool, test, desc


# ------------------------------------------------------------------------------------------ runs
def learner_kwargs(strategy: str, args: argparse.Namespace) -> dict:
    """Keyword arguments of the learner for ``strategy`` (``default``: none but the overrides;
    ``old_recipe``: ``mode="finetune"`` with margin, the from-scratch recipe)."""
    kw: dict = {}
    if strategy == OLD_RECIPE:
        kw["mode"], kw["strategy"] = "finetune", "margin"
    elif strategy != "default":
        kw["strategy"] = strategy
    elif getattr(args, "switch_per_class", None) is not None:
        from alwidget.strategies import create_strategy

        kw["strategy"] = create_strategy("budget_aware", switch_per_class=args.switch_per_class)
    if kw.get("mode") != "finetune":
        if getattr(args, "cache_dir", None):
            kw["cache_dir"] = args.cache_dir
        if getattr(args, "representation_steps", None):
            kw["representation_config"] = {"steps": args.representation_steps}
        if getattr(args, "pseudo_fraction", None) is not None:
            kw["pseudo_fraction"] = args.pseudo_fraction
        if getattr(args, "refine_every", None) is not None:
            kw["refine_every"] = args.refine_every or None
    if args.mc_samples is not None:
        from alwidget.uncertainty import create_estimator

        kw["uncertainty"] = create_estimator(kw.get("uncertainty", "mc_dropout"), n_samples=args.mc_samples)
    if args.pseudo_labels is not None:
        kw["pseudo_label_threshold"] = args.pseudo_labels
    train = {}
    if args.max_steps is not None:
        train["max_steps"] = args.max_steps
    if args.augment is not None:
        train["augment"] = args.augment
    if train:
        kw["train"] = train
    return kw


def refine_every_default() -> int:
    """The default ``refine_every`` of the semi recipe (labels between slow cycles)."""
    from alwidget.recipes import SemiRecipe

    return inspect.signature(SemiRecipe.__init__).parameters["refine_every"].default


def config_key(strategy: str, args: argparse.Namespace) -> str:
    """Two names with the same key run the very same configuration (``default`` == ``margin``)."""
    from alwidget import ActiveLearner
    from alwidget.recipes import SemiRecipe

    def defaults_of(fn):
        return {k: v.default for k, v in inspect.signature(fn).parameters.items()
                if v.default is not inspect.Parameter.empty}

    kw = defaults_of(ActiveLearner.__init__)
    given = learner_kwargs(strategy, args)
    if given.get("mode", kw.get("mode")) == "semi":  # the semi settings are the recipe's
        kw.update(defaults_of(SemiRecipe.__init__))
    kw.update(given)
    if kw.get("strategy") is None:
        kw["strategy"] = "budget_aware" if kw.get("mode", "semi") == "semi" else "margin"
    return json.dumps({k: repr(kw.get(k)) for k in ("strategy", "uncertainty", "mc_samples", "train", "mode",
                                                    "backbone", "image_size", "pseudo_label_threshold",
                                                    "representation_config", "pseudo_fraction", "refine_every")}, sort_keys=True)


def one_run(pool, test, strategy: str, seed: int, args: argparse.Namespace, top_target: float, emit) -> None:
    """One learning curve (:func:`alwidget.simulate.run`): a balanced start from the truth, then
    retrain → evaluate → query ``step`` → label, until the budget or ``top_target``."""
    from alwidget import simulate

    kw = learner_kwargs(strategy, args)
    name = kw.pop("strategy", None) or ("budget_aware" if kw.get("mode", "semi") == "semi" else "margin")

    def on_record(rec) -> None:
        emit(dict(rec.to_dict(), strategy=strategy))

    simulate.run(pool, test, name, budget=args.budget, step=args.step,
                 init=args.init_per_class * len(pool.classes), seeds=[seed], balanced_init=True,
                 stop_at=None if args.no_early_stop else top_target, on_record=on_record,
                 num_threads=args.threads, **kw)
    emit(dict(strategy=strategy, seed=seed, done=True))


# ------------------------------------------------------------------------------------------ summaries
def curves(records: Sequence[dict]) -> Dict[str, Dict[int, Dict[int, float]]]:
    """``{strategy: {seed: {n_labels: test_accuracy}}}``."""
    out: Dict[str, Dict[int, Dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in records:
        if "n_labels" in r:
            out[r["strategy"]][r["seed"]][r["n_labels"]] = r["test_accuracy"]
    return out


def reach(records: Sequence[dict], target: float) -> Dict[str, Dict[int, Optional[int]]]:
    """Per strategy and seed, the fewest labels at which test accuracy reached ``target``
    (:func:`alwidget.simulate.labels_to_reach` on these records)."""
    from alwidget import simulate

    recs = [simulate.SimulationRecord(**{k: r[k] for k in ("strategy", "seed", "n_labels", "test_accuracy",
                                                            "validation_accuracy", "seconds")})
            for r in records if "n_labels" in r]
    return simulate.labels_to_reach(recs, target)


def median_reach(values: List[Optional[int]]) -> float:
    """Median labels to a target over seeds (a run that never reached it counts as infinite)."""
    return float(np.median([math.inf if v is None else v for v in values]))


def fmt_reach(values: List[Optional[int]], budget: int) -> str:
    """Median [min–max] over seeds; a run that never reached the target counts as > its last label count."""
    vals = [math.inf if v is None else v for v in values]
    lo, hi = min(vals), max(vals)
    show = lambda v: f">{budget}" if math.isinf(v) else (f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}")
    reached = sum(v is not None for v in values)
    return f"{show(median_reach(values))} [{show(lo)}–{show(hi)}] ({reached}/{len(values)})"


def fmt_accuracy_at(by_seed: Dict[int, Dict[int, float]], n: int) -> str:
    """Test accuracy at ``n`` labels, median [min–max] over the seeds that have a record there."""
    vals = [c[n] for c in by_seed.values() if n in c]
    if not vals:
        return "–"
    return f"{100 * np.median(vals):.1f} % [{100 * min(vals):.1f}–{100 * max(vals):.1f}]"


def fmt_ratio(baseline: float, this: float, budget: int) -> str:
    """``baseline / this`` (how many times fewer labels than the baseline) for medians that may
    be infinite (not reached within ``budget``): a bound when only one of them is."""
    if math.isinf(this):
        return "–" if math.isinf(baseline) else f"< {baseline / budget:.2f}×"
    if math.isinf(baseline):
        return f"> {budget / this:.2f}×"
    return f"{baseline / this:.2f}×"


def results_table(records: Sequence[dict], targets: Tuple[float, float], budget: int,
                  order: Sequence[str], same_as: Dict[str, str]) -> str:
    cur = curves(records)
    t1, t2 = targets
    r1, r2 = reach(records, t1), reach(records, t2)
    base = same_as.get("random", "random")
    base_medians = [median_reach(list(r[base].values())) for r in (r1, r2)] if base in cur else None
    lines = [f"| strategy | seeds | labels to {100 * t1:.0f} % | labels to {100 * t2:.0f} % | "
             f"random ÷ this, labels to {100 * t1:.0f} % / {100 * t2:.0f} % (medians) | "
             f"test acc at 50 labels | at 100 | at {budget} (or last) | s per cycle (train + score) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in order:
        src = same_as.get(name, name)
        if src not in cur:
            continue
        by_seed = cur[src]
        seeds = sorted(by_seed)
        last = [by_seed[s][max(by_seed[s])] for s in seeds]
        secs = [r["seconds"] for r in records if r.get("strategy") == src and "seconds" in r]
        label = name if src == name else f"{name} (= {src}, same configuration)"
        ratios = "–"
        if base_medians is not None:
            ratios = " / ".join(fmt_ratio(b, median_reach([r[src][s] for s in seeds]), budget)
                                for b, r in zip(base_medians, (r1, r2)))
        lines.append(f"| {label} | {len(seeds)} | {fmt_reach([r1[src][s] for s in seeds], budget)}"
                     f" | {fmt_reach([r2[src][s] for s in seeds], budget)} | {ratios} | {fmt_accuracy_at(by_seed, 50)} | "
                     f"{fmt_accuracy_at(by_seed, 100)} | {100 * np.median(last):.1f} % | {np.median(secs):.1f} |")
    return "\n".join(lines)


def accuracy_table(records: Sequence[dict], label_counts: Sequence[int], order: Sequence[str],
                   same_as: Dict[str, str]) -> str:
    """Test accuracy at each of ``label_counts``, median [min–max] over seeds, one row per strategy."""
    cur = curves(records)
    lines = ["| labels | " + " | ".join(str(n) for n in label_counts) + " |",
             "|---|" + "---|" * len(label_counts)]
    for name in order:
        src = same_as.get(name, name)
        if src in cur and src == name:
            label = name + "".join(f" = {o}" for o, s in same_as.items() if s == name and o != name)
            lines.append(f"| {label} | " + " | ".join(fmt_accuracy_at(cur[src], n) for n in label_counts) + " |")
    return "\n".join(lines)


def anchors_table() -> str:
    lines = ["| published (MNIST, 60k pool) | labels to 10 % error (90 %) | to 5 % error (95 %) | source |",
             "|---|---|---|---|"]
    lines += [f"| {n} | {a} | {b} | {s} |" for n, a, b, s in ANCHORS]
    return "\n".join(lines)


def plot(records: Sequence[dict], targets: Tuple[float, float], title: str, path: Path,
         order: Sequence[str], same_as: Dict[str, str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cur = curves(records)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    for i, name in enumerate(order):
        src = same_as.get(name, name)
        if src not in cur or src != name:
            continue
        label = name + "".join(f" = {o}" for o, s in same_as.items() if s == name and o != name)
        by_seed = cur[name]
        color = f"C{i}"
        common = sorted(set.intersection(*[set(c) for c in by_seed.values()]))
        if common:
            vals = np.array([[by_seed[s][n] for n in common] for s in by_seed])
            ax.plot(common, 100 * np.median(vals, 0), color=color, lw=2,
                    label=f"{label} (median of {len(by_seed)})")
            ax.fill_between(common, 100 * vals.min(0), 100 * vals.max(0), color=color, alpha=0.2, lw=0)
        for s, c in by_seed.items():  # each run, to its end (runs stop once they reach the top target)
            ns = sorted(c)
            ax.plot(ns, [100 * c[n] for n in ns], color=color, lw=0.6, alpha=0.5)
    for t in targets:
        ax.axhline(100 * t, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("training labels (the validation set is not counted)")
    ax.set_ylabel("test accuracy (%)")
    lowest = min((r["test_accuracy"] for r in records if "test_accuracy" in r), default=targets[0])
    ax.set_ylim(max(0.0, min(100 * lowest - 5, 100 * targets[0] - 20)), 100)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


# ------------------------------------------------------------------------------------------ main
def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("ALWIDGET_DATA"), help="folder holding mnist-test/ and fashion-mnist/")
    ap.add_argument("--dataset", nargs="+", choices=["mnist", "fashion", "fashion-dev", "digits"], default=["mnist"])
    ap.add_argument("--strategies", nargs="+", default=DEFAULT_STRATEGIES,
                    help="alwidget strategy names, and 'default' (ActiveLearner's defaults)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--budget", type=int, default=1000, help="stop a run at this many training labels")
    ap.add_argument("--step", type=int, default=10, help="labels acquired per round")
    ap.add_argument("--init-per-class", type=int, default=2, help="balanced start: labels per class")
    ap.add_argument("--targets", nargs=2, type=float, default=None, metavar=("LOW", "HIGH"),
                    help="test accuracies to reach, as fractions (default 0.90 0.95 on MNIST, 0.80 0.85 on Fashion-MNIST)")
    ap.add_argument("--accuracy-at", nargs="+", type=int, default=None, metavar="N",
                    help="also print test accuracy at these label counts (median [min–max] over seeds)")
    ap.add_argument("--no-early-stop", action="store_true", help="run to the budget even after the top target")
    ap.add_argument("--pool-limit", type=int, default=None, help="seeded random subset of the pool")
    ap.add_argument("--test-limit", type=int, default=None, help="seeded random subset of the test set")
    ap.add_argument("--split-seed", type=int, default=0, help="seed of the MNIST pool/test split and subsets")
    ap.add_argument("--mc-samples", type=int, default=None, help="override ActiveLearner's mc_samples")
    ap.add_argument("--max-steps", type=int, default=None, help="override TrainConfig.max_steps")
    ap.add_argument("--augment", choices=["none", "shift", "affine"], default=None,
                    help="override TrainConfig.augment")
    ap.add_argument("--pseudo-labels", type=float, default=None, metavar="THRESHOLD",
                    help="every strategy also trains on pool items predicted with at least this confidence")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per cycle (default 1: shared cores)")
    ap.add_argument("--cache-dir", default=None,
                    help="representation cache shared by the runs (one representation per seed, reused by every strategy)")
    ap.add_argument("--representation-steps", type=int, default=None,
                    help="override the self-supervised steps of the representation")
    ap.add_argument("--refine-every", type=int, default=None,
                    help="override ActiveLearner's refine_every (labels between slow cycles; 0: never)")
    ap.add_argument("--switch-per-class", type=int, default=None,
                    help="the default recipe's budget_aware switch_per_class (labels per class before margin)")
    ap.add_argument("--pseudo-fraction", type=float, default=None, help="override ActiveLearner's pseudo_fraction")
    ap.add_argument("--quick", action="store_true", help="a few rounds on a 600-image MNIST pool (smoke test)")
    ap.add_argument("--records", help="JSON-lines file of records (default benchmarks/out/label_efficiency_<dataset>.jsonl)")
    ap.add_argument("--resume", action="store_true", help="skip runs already complete in --records")
    ap.add_argument("--plot-dir", default=None, help="where PNGs go (default benchmarks/plots, --quick: benchmarks/out)")
    ap.add_argument("--json", help="also write the summary (records and tables) to this JSON file")
    args = ap.parse_args(argv)
    if args.targets and not 0.0 <= args.targets[0] <= args.targets[1] <= 1.0:
        ap.error(f"--targets must be two fractions LOW <= HIGH in [0, 1] (e.g. 0.90 0.95), got {args.targets}")
    if args.quick:
        args.pool_limit, args.test_limit = 600, 500
        args.budget, args.seeds = 40, args.seeds[:1]
        args.mc_samples = args.mc_samples or 5
        args.max_steps = args.max_steps or 20
        args.representation_steps = args.representation_steps or 20
    plot_dir = Path(args.plot_dir) if args.plot_dir else HERE / ("out" if args.quick else "plots")
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__)] + (sys.argv[1:] if argv is None else argv))
    date = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    # no pretrained weights here: the default learner's offline fallback (the pool's own trunk and
    # the pixels' PCA), without waiting for the hub probe
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)

    print(f"Label efficiency — `{command}` — {date}\n")
    summary: dict = {"command": command, "date": date, "datasets": {}}
    for dataset in args.dataset:
        pool, test, desc = load_data(dataset, args.data, args.pool_limit, args.test_limit, args.split_seed)
        targets = tuple(args.targets) if args.targets else TARGETS[dataset]
        # one run per distinct configuration (default == margin unless an override separates them)
        same_as: Dict[str, str] = {}
        keys: Dict[str, str] = {}
        for name in args.strategies:
            key = config_key(name, args)
            if key in keys:
                same_as[name] = keys[key]
            else:
                keys[key] = name
        to_run = [n for n in args.strategies if n not in same_as]
        records_path = Path(args.records) if args.records else HERE / "out" / f"label_efficiency_{dataset}{'_quick' if args.quick else ''}.jsonl"
        records_path.parent.mkdir(parents=True, exist_ok=True)
        records: List[dict] = []
        done = set()
        if args.resume and records_path.exists():
            for line in records_path.read_text().splitlines():
                r = json.loads(line)
                if r.get("dataset") == dataset:
                    records.append(r)
                    if r.get("done"):
                        done.add((r["strategy"], r["seed"]))
            records = [r for r in records if (r["strategy"], r["seed"]) in done]
            records_path.write_text("".join(json.dumps(r) + "\n" for r in records))  # drop unfinished runs
        elif records_path.exists():
            records_path.unlink()
        n_val = min(100, max(10, len(pool) // 10))  # ActiveLearner's default validation_size
        print(f"**{dataset}**: {desc}. Validation set: {n_val} pool images labelled from the truth "
              f"(the learner's reports, and early stopping if enabled; not counted in the labels). Start: {args.init_per_class} labels per class "
              f"({args.init_per_class * len(pool.classes)}), {args.step} per round, budget {args.budget}, "
              f"seeds {args.seeds}, targets {100 * targets[0]:.0f} % / {100 * targets[1]:.0f} % "
              f"(runs stop at the higher one{'; disabled' if args.no_early_stop else ''}); torch threads "
              f"{args.threads}; overrides: mc_samples={args.mc_samples}, max_steps={args.max_steps}, augment={args.augment}, "
              f"pseudo_label_threshold={args.pseudo_labels}.\n", flush=True)

        def emit(rec: dict) -> None:
            rec = dict(rec, dataset=dataset)
            records.append(rec)
            with open(records_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            if "n_labels" in rec:
                print(f"  {dataset} {rec['strategy']} seed {rec['seed']}: {rec['n_labels']} labels, test "
                      f"{100 * rec['test_accuracy']:.1f} %, {rec['seconds']:.1f} s, on {rec.get('representation') or '-'}, "
                      f"picked by {rec.get('selection') or '-'}", file=sys.stderr, flush=True)

        for seed in args.seeds:  # seed by seed, so a cut-short run still compares the strategies
            for name in to_run:
                if (name, seed) in done:
                    continue
                one_run(pool, test, name, seed, args, targets[1], emit)
        curve_records = [r for r in records if "n_labels" in r]
        table = results_table(curve_records, targets, args.budget, args.strategies, same_as)
        print(table + "\n")
        if args.accuracy_at:
            print(accuracy_table(curve_records, args.accuracy_at, args.strategies, same_as) + "\n")
        png = plot_dir / f"label_efficiency_{dataset}.png"
        plot(curve_records, targets, f"{dataset}: {len(pool)} pool, {len(test)} test, "
             f"{args.init_per_class}/class start, +{args.step}/round, seeds {args.seeds} ({date[:10]})",
             png, args.strategies, same_as)
        print(f"Plot: {os.path.relpath(png)}\n")
        summary["datasets"][dataset] = {"description": desc, "table": table, "plot": str(png),
                                        "same_as": same_as, "records": curve_records}
    if "mnist" in args.dataset:
        print(anchors_table())
        print("\nOurs: 8,000-image pool from the MNIST test split; `default` and the named strategies: the semi "
              "recipe (self-supervised representation of the pool, Poisson learning + MC-dropout head each round, "
              f"slow cycle every {refine_every_default()} labels unless --refine-every); `old_recipe`: alwidget_cnn from scratch every round. The paper: "
              "60,000-image pool, a CNN trained from scratch every round.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
