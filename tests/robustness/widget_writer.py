"""Child process for test_widget_kill: labels digits by clicking a LabelingWidget, acknowledging each.

Usage: python widget_writer.py STORE_PATH

Prints "ready", then "ack <item_id> <label>" once a click has turned its card to "labelled"
(what the person sees as saved). Every six labels it submits the batch, which starts a long
background cycle, and keeps clicking while it trains, until it is killed.
"""

import sys
import warnings

warnings.simplefilter("ignore")

from alwidget import ActiveLearner, Backbone, datasets  # noqa: E402
from alwidget.ui import LabelingWidget  # noqa: E402
from alwidget.uncertainty import MCDropout  # noqa: E402


def main() -> None:
    digits = datasets.digits()
    pool = digits.subset(digits.ids[:120])
    learner = ActiveLearner(pool, store=sys.argv[1], validation_size=12, validation_from_truth=True,
                            backbone=Backbone(image_size=16), uncertainty=MCDropout(n_samples=2), seed=0,
                            train={"max_steps": 100_000, "max_epochs": 100_000, "patience": 0})
    w = LabelingWidget(learner, k=6)
    print("ready", flush=True)
    while True:
        todo = [c for c in w.cards if c.label is None]
        if not todo:
            w.submit()  # next batch; the first submit starts a background cycle that outlives the test
            continue
        card = todo[0]
        label = pool.truth[card.item_id]
        card.pick(label)
        if card.label == label:  # the card shows it as given: it must survive a crash
            print(f"ack {card.item_id} {label}", flush=True)


if __name__ == "__main__":
    main()
