"""Helper for the kill test in test_store.py (run as a script, not collected by pytest).

Usage: ``python store_writer.py STORE_PATH COUNT``. Opens the label store, prints
``ready``, then sets labels ``item-00000``, ``item-00001``, ... one by one and prints
``ack I SEQ`` right after each ``set`` returns -- the moment a notebook would show
"saved". The parent kills this process with SIGKILL at some acknowledgement.
"""

import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _load_store_class():
    """Load the data layer without the package __init__ (which imports the model layer and
    torch), so the child starts in a fraction of a second. Only done when run as a script:
    the tests import ``label_of``/``split_of`` from here and must keep the real package."""
    package = types.ModuleType("alwidget")
    package.__path__ = [str(REPO / "alwidget")]
    sys.modules["alwidget"] = package
    from alwidget.data.store import LabelStore

    return LabelStore


def label_of(i: int) -> str:
    return f"label-{i % 7}"


def split_of(i: int) -> str:
    return "validation" if i % 5 == 0 else "train"


def main(path: str, count: int) -> None:
    store = _load_store_class()(path)
    print("ready", flush=True)
    for i in range(count):
        event = store.set(f"item-{i:05d}", label_of(i), split=split_of(i), source="human")
        print(f"ack {i} {event.seq}", flush=True)
    store.close()
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
