"""Child process for the kill test: labels digits while the representation trains in the background.

Usage: python representation_writer.py STORE_PATH CACHE_DIR
Prints "ready", then "ack <item_id> <label>" after each ``teach`` returns (slowly, so that the
representation is checkpointed meanwhile).
"""

import sys
import time
import warnings

warnings.simplefilter("ignore")

from alwidget import ActiveLearner, Backbone, datasets  # noqa: E402


def main() -> None:
    store, cache = sys.argv[1], sys.argv[2]
    digits = datasets.digits()
    pool = digits.subset(digits.ids[:300])
    learner = ActiveLearner(pool, store=store, cache_dir=cache, validation_size=30, backbone=Backbone(image_size=16), seed=0,
                            representation_config={"steps": 60, "batch_size": 64, "checkpoint_every": 5})
    print("ready", flush=True)
    for item in learner.pool.ids:
        if item in learner.validation_ids:
            continue
        learner.teach(item, pool.truth[item])
        print(f"ack {item} {pool.truth[item]}", flush=True)
        time.sleep(0.05)


if __name__ == "__main__":
    main()
