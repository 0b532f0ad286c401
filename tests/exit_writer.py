"""Child process for the exit tests: a headless script that ends without ``close()`` while
background work runs.

Usage: python exit_writer.py STORE_PATH {representation,slow,check,cycle} CACHE_DIR

- ``representation``: 20 labels taught while the self-supervised trunk is still being learned;
- ``slow``: the README's pattern, two ``teach`` + ``retrain`` rounds of 50 labels, the script
  ends while the slow cycle the second round started fine-tunes the trunk;
- ``check``: 50 labels, one cycle, then the widget's label check started on its thread;
- ``cycle``: 50 labels, then ``retrain_async`` while the representation is being learned.

Prints ``ack <item_id> <label>`` for every label ``teach`` acknowledged, then
``running <what> <bool>``: whether that work was still running when the script ended.
"""

import os
import sys
import warnings

warnings.simplefilter("ignore")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from alwidget import ActiveLearner, datasets  # noqa: E402


def teach(learner, pool, ids) -> None:
    learner.teach(ids, [pool.truth[i] for i in ids])
    for i in ids:
        print(f"ack {i} {pool.truth[i]}", flush=True)


def main() -> None:
    path, phase, cache_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    digits = datasets.digits()
    pool = digits.subset(digits.ids[:400])
    long_build = phase in ("representation", "cycle")
    learner = ActiveLearner(pool, store=path, validation_from_truth=True, validation_size=30, seed=0,
                            representation="contrastive",  # the trunk alone: its slow cycle is due
                            representation_config={"steps": 100_000 if long_build else 20},
                            refine_every=50, refine_config={"steps": 100_000}, cache_dir=cache_dir)
    if phase == "representation":
        teach(learner, pool, learner.query(20))
        print(f"running representation {learner.recipe.candidates.running}", flush=True)
    elif phase == "slow":
        for _ in range(2):
            teach(learner, pool, learner.query(50))
            learner.retrain()
        print(f"running slow {learner.refining}", flush=True)
    elif phase == "check":
        from alwidget.ui.checking import LabelChecker

        teach(learner, pool, learner.query(50))
        learner.retrain()
        checker = LabelChecker(learner, lambda error: None)
        learner.background.add("label check", checker, weak=True)
        checker.start()
        print(f"running check {checker.running}", flush=True)
    elif phase == "cycle":
        teach(learner, pool, learner.query(50))
        learner.retrain_async()
        print(f"running cycle {learner.running}", flush=True)
    else:
        raise SystemExit(f"unknown phase {phase!r}")
    # the script ends here: no close()


if __name__ == "__main__":
    main()
