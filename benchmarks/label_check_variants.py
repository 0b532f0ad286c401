"""Which label check? Paired variants of ``learner.label_issues`` on the same careless labels.

The protocol of ``label_issues.py`` (10 % wrong labels, 100 validation + 300 training labels,
20 per round, no slow cycle), then on the very same labels the check five ways: as shipped
(the fast cycle's head with the graph's pseudo-labels, 300 steps, cleanlab's self-confidence);
150 steps; no pseudo-labels; cleanlab's normalized margin; its confidence-weighted entropy.
Prints one record per run and variant: recall of the top 2F (F = wrong labels) and seconds.

    python benchmarks/label_check_variants.py --data ../shared/datasets --cache-dir /tmp/final/cache \\
        --records benchmarks/out/label_check_variants.jsonl fashion mnist
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from label_efficiency import load_data  # noqa: E402
from label_issues import careless, label_carelessly  # noqa: E402

VARIANTS = [("default", None, None, "self_confidence"), ("steps150", 150, None, "self_confidence"),
            ("no_pseudo", None, 0.0, "self_confidence"), ("margin", None, None, "normalized_margin"),
            ("entropy", None, None, "confidence_weighted_entropy")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="+", choices=["mnist", "fashion", "digits"])
    ap.add_argument("--data", default=os.environ.get("ALWIDGET_DATA"))
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--records", default="benchmarks/out/label_check_variants.jsonl")
    args = ap.parse_args()
    from alwidget import ActiveLearner

    warnings.simplefilter("ignore")
    Path(args.records).parent.mkdir(parents=True, exist_ok=True)
    out = open(args.records, "a")
    for dataset in args.datasets:
        fashion = dataset == "fashion"
        pool, test, _ = load_data(dataset, args.data, 10000 if fashion else None, 2000 if fashion else None, 0)
        for seed in args.seeds:
            learner = ActiveLearner(pool, seed=seed, cache_dir=args.cache_dir, refine_every=None, slow_cycle="inline",
                                    num_threads=1)
            wrong, _ = label_carelessly(learner, careless(pool, seed, 0.1, learner.classes), seed, 300, 20)
            base_cfg, base_pf = learner.train_config, learner.recipe.pseudo_fraction
            for name, steps, pf, method in VARIANTS:
                learner.train_config = replace(base_cfg, max_steps=steps) if steps else base_cfg
                learner.recipe.pseudo_fraction = base_pf if pf is None else pf
                t = time.perf_counter()
                check = learner.label_issues(method=method)
                seconds = time.perf_counter() - t
                top = set(check.ids[: 2 * len(wrong)])
                rec = dict(dataset=dataset, seed=seed, variant=name, wrong=len(wrong),
                           recall=len(top & wrong) / len(wrong), seconds=seconds)
                print(rec, flush=True)
                out.write(json.dumps(rec) + "\n")
                out.flush()
            learner.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
