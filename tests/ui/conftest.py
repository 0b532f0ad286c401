"""Fixtures for the widget tests: tiny learners on 200 digits that train in about a second."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from alwidget import ActiveLearner, ImagePool, datasets

SMALL_TRAIN = {"max_steps": 20}


@pytest.fixture(scope="session")
def digits200() -> ImagePool:
    """The first 200 of scikit-learn's digits, with their truth."""
    pool = datasets.digits()
    return pool.subset(pool.ids[:200])


@pytest.fixture
def make_learner(make_learner, tmp_path, digits200) -> Callable[..., ActiveLearner]:
    """``make_learner(**kwargs)``: the suite's learner factory, on 200 digits in embed mode with a
    store in ``tmp_path`` and the validation set labelled from the truth."""
    count = [0]

    def make(pool: ImagePool = None, **kwargs: Any) -> ActiveLearner:
        opts = dict(store=tmp_path / f"labels{count[0]}.db", train=SMALL_TRAIN, mode="embed",
                    validation_from_truth=True, validation_size=20, mc_samples=5, seed=0,
                    image_size=None)
        opts.update(kwargs)
        count[0] += 1
        return make_learner_base(pool if pool is not None else digits200, **opts)

    make_learner_base = make_learner
    return make


@pytest.fixture
def make_widget(make_learner):
    """``make_widget(learner=None, **widget_kwargs)``: a LabelingWidget, closed after the test."""
    from alwidget.ui import LabelingWidget

    made = []

    def make(learner: ActiveLearner = None, **kwargs: Any) -> LabelingWidget:
        w = LabelingWidget(learner if learner is not None else make_learner(), **kwargs)
        made.append(w)
        return w

    yield make
    for w in made:
        w.wait(60)
        w.close()


class Page:
    """What the board's page (``alwidget/ui/board.js``) sends, for kernel-side tests.

    Messages go in through the comm entry point (``Board._handle_custom_msg``), exactly as
    they arrive from the browser, and the board's answers (``ack``) are kept in ``acks``.
    :meth:`key` does what board.js does with a key press: number keys pick for the focused
    card and move the focus on, arrows move it, ``a``/``s``/``c`` accept/skip/confirm, the rest is
    forwarded. The browser tests check board.js itself against the same contract.
    """

    def __init__(self, w) -> None:
        self.w = w
        self.acks: list = []
        self.token = 0
        w.board.send = lambda content, buffers=None: self.acks.append(content)

    @property
    def focus(self) -> int:
        return self.w._focus

    def send(self, **msg) -> dict:
        """Send one message; returns the board's ack for it (``{}`` when none was sent)."""
        if msg.get("kind") != "focus" and "token" not in msg:
            self.token += 1
            msg["token"] = self.token
        before = len(self.acks)
        self.w.board._handle_custom_msg(msg, [])
        return self.acks[-1] if len(self.acks) > before else {}

    def set(self, name: str, value) -> dict:
        """Change toolbar field ``name`` (mode, strategy, k, target, auto_retrain, export_dir) to ``value``."""
        return self.send(kind="set", name=name, value=value)

    def action(self, name: str, **args) -> dict:
        """Press a button (submit, accept_all, undo, oracle, retrain, cancel, dismiss, export)."""
        return self.send(kind="action", name=name, **args)

    def _next_open(self, index: int) -> int:
        cards = self.w.board.cards
        checking = self.w.board.mode == "check"  # checking labels: open until confirmed or changed
        for step in range(1, len(cards) + 1):
            i = (index + step) % len(cards)
            if (cards[i]["source"] != "review") if checking else (cards[i]["label"] is None and not cards[i]["skipped"]):
                return i
        return index

    def click(self, index: int, label: str) -> dict:
        """Click class ``label`` on card ``index``."""
        card = self.w.board.cards[index]
        return self.send(kind="pick", id=card["id"], label=label, focus=self._next_open(index))

    def key(self, key: str, **mods) -> dict:
        """Press ``key`` with the grid focused."""
        i, cards = self.focus, self.w.board.cards
        n, columns = len(cards), self.w.board.columns
        if key in ("ArrowRight", "ArrowLeft", "Tab"):
            step = -1 if key == "ArrowLeft" or (key == "Tab" and mods.get("shiftKey")) else 1
            return self.send(kind="focus", index=(i + step) % n, id=cards[(i + step) % n]["id"])
        if key in ("ArrowUp", "ArrowDown"):
            j = min(max(i + (columns if key == "ArrowDown" else -columns), 0), n - 1)
            return self.send(kind="focus", index=j, id=cards[j]["id"])
        if key in self.w.board.key_map:
            return self.click(i, self.w.board.key_map[key])
        if key == "a":
            sug = cards[i]["suggestion"]
            return self.send(kind="accept", id=cards[i]["id"], label=sug and sug["label"], focus=self._next_open(i))
        if key == "s":
            return self.send(kind="skip", id=cards[i]["id"], focus=self._next_open(i))
        if key == "c":
            return self.send(kind="confirm", id=cards[i]["id"], focus=self._next_open(i))
        return self.send(kind="key", type="keydown", key=key, shiftKey=bool(mods.get("shiftKey")), index=i,
                         id=cards[i]["id"] if cards else None)


@pytest.fixture
def page() -> Callable[..., Page]:
    """``page(widget)``: a :class:`Page` that sends what the browser sends."""
    return Page


def _label_from_truth(w, n: int = None) -> list:
    truth = w.learner.pool.truth
    cards = list(w.cards)[: n if n is not None else len(w.cards)]
    for card in cards:
        card.pick(truth[card.item_id])
    return [c.item_id for c in cards]


@pytest.fixture
def label_from_truth() -> Callable[..., list]:
    """``label_from_truth(widget, n=None)``: click the true class button on the first ``n`` cards
    of the grid (all by default), like a person would; returns the ids."""
    return _label_from_truth
