"""Child process for the kill tests: labels digits through an ActiveLearner, acknowledging each.

Usage: python learner_writer.py STORE_PATH [--background | --groups]
Prints "ready", then "ack <item_id> <label>" after each ``teach`` returns. With
``--background`` it first starts a background retrain and keeps labelling while it runs; with
``--groups`` it labels five items at a time as one group (``teach(..., group=True)``, source
``"map"``, as the map's selections are) and acknowledges them after the call returns.
"""

import sys
import warnings

warnings.simplefilter("ignore")

from alwidget import ActiveLearner, Backbone, datasets  # noqa: E402


def main() -> None:
    path = sys.argv[1]
    digits = datasets.digits()
    pool = digits.subset(digits.ids[:300])
    learner = ActiveLearner(pool, store=path, validation_size=30, backbone=Backbone(image_size=16), seed=0,
                            train={"max_steps": 100000, "max_epochs": 100000, "patience": 0})
    print("ready", flush=True)
    if "--background" in sys.argv:
        first = learner.query(20)
        learner.teach(first, [pool.truth[i] for i in first])
        for i in first:
            print(f"ack {i} {pool.truth[i]}", flush=True)
        learner.retrain_async()
    todo = learner.query(10_000)
    if "--groups" in sys.argv:
        for start in range(0, len(todo), 5):
            group = todo[start:start + 5]
            learner.teach(group, [pool.truth[i] for i in group], source="map", group=True)
            for item in group:
                print(f"ack {item} {pool.truth[item]}", flush=True)
        return
    for item in todo:
        learner.teach(item, pool.truth[item])
        print(f"ack {item} {pool.truth[item]}", flush=True)


if __name__ == "__main__":
    main()
