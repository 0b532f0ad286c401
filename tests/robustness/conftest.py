"""Fixtures for the robustness tests: tiny learners, widgets, image files, and a tally.

Everything here is kept small (120 digits, 16 px inputs, 5 training steps, 2 posterior
samples) so a whole cycle takes a fraction of a second on a shared CPU.

The tally (labels given / lost in the fault tests, bad-input cases tried / handled) is
printed at the end of the run, so the numbers quoted in docs/bad_input.md come from a run.
"""

from __future__ import annotations

import io
import itertools
import struct
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, List

import numpy as np
import pytest
from PIL import Image

TINY_TRAIN = {"max_steps": 5, "patience": 0}
"""Training settings of every robustness learner: five steps, no early stopping."""

EVIL = "<img src=x onerror=alert(1)>"
"""A name that runs script if some HTML is rendered unescaped."""

TALLY: Counter = Counter()
"""Counts gathered by the tests, printed by :func:`pytest_terminal_summary`."""


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # pragma: no cover - reporting
    if not TALLY:
        return
    tr = terminalreporter
    tr.section("robustness tally")
    if TALLY["fault_labels_given"]:
        tr.write_line(f"fault tests: {TALLY['fault_cases']} faults injected, "
                      f"{TALLY['fault_labels_given']} labels given, {TALLY['fault_labels_lost']} lost")
    if TALLY["stateful_steps"]:
        tr.write_line(f"state machine: {TALLY['stateful_runs']} runs, {TALLY['stateful_steps']} steps, "
                      f"{TALLY['stateful_labels']} labels written, {TALLY['stateful_mismatches']} mismatches")
    if TALLY["bad_input_tried"]:
        tr.write_line(f"bad input: {TALLY['bad_input_tried']} cases tried, {TALLY['bad_input_handled']} handled "
                      f"({TALLY['bad_input_works']} work, {TALLY['bad_input_skipped']} skipped with a reason, "
                      f"{TALLY['bad_input_refused']} refused with a clear message)")


@pytest.fixture(scope="session")
def digits120():
    """The first 120 of scikit-learn's digits, with their truth."""
    from alwidget import datasets

    pool = datasets.digits()
    return pool.subset(pool.ids[:120])


@pytest.fixture
def tiny_learner(tmp_path, learners) -> Callable[..., Any]:
    """``tiny_learner(pool, **kwargs)``: a learner with tiny settings and a store in ``tmp_path``.

    The validation set (12 items) is labelled from the pool's truth unless
    ``validation_from_truth=False``, so a widget opens on the *Label* screen.
    """
    n_made = itertools.count()

    def make(pool, **kwargs: Any):
        defaults = dict(store=tmp_path / f"labels{next(n_made)}.db", image_size=16, train=dict(TINY_TRAIN),
                        mc_samples=2, validation_size=min(12, len(pool) // 4), seed=0,
                        validation_from_truth=pool.truth is not None)
        return learners(pool, defaults, **kwargs)

    return make


@pytest.fixture
def make_widget() -> Iterator[Callable[..., Any]]:
    """``make_widget(learner, k=...)``: a LabelingWidget, waited for and closed after the test."""
    from alwidget.ui import LabelingWidget

    made: List[Any] = []

    def make(learner, **kwargs: Any):
        w = LabelingWidget(learner, **kwargs)
        made.append(w)
        return w

    yield make
    for w in made:
        w.cancel()
        w.wait(60)
        w.close()


def html_children(w) -> List[str]:
    """Every markup string of the widget that the page renders as HTML: the board's ``status``,
    ``message``, ``instructions`` and ``notes`` (the board sets everything else as text, the
    error line included)."""
    b = w.board
    return [b.status, b.message, b.instructions, b.notes]


def board_text(w) -> List[str]:
    """Every name the board shows as text: card ids, labels, suggestions, class names, recent rows."""
    b = w.board
    out: List[str] = list(b.classes)
    for card in b.cards:
        out += [card["id"], card["label"] or "", (card["suggestion"] or {}).get("label", "")]
    for row in b.recent:
        out += [row["id"], row["label"]]
    return out


def png_bytes(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG built by hand: a 10,000 × 10,000 image costs ~12 kB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def save_digit(pool, item: str, path: Path, mode: str = "L", **save_kwargs: Any) -> Path:
    """Write the digit ``item`` of ``pool`` to ``path`` as an image of PIL ``mode``."""
    grey = np.asarray(pool.image(item))[:, :, 0]
    img = Image.fromarray(grey, "L")
    if mode == "I;16":
        img = Image.fromarray(grey.astype(np.uint16) * 257)  # mode I;16
    elif mode != "L":
        img = img.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **save_kwargs)
    return path


def garbage_bytes(n: int = 2048, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def truncated_png_bytes() -> bytes:
    """A 64 × 64 noisy PNG cut to a third of its bytes: the header reads, the pixels do not."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)).save(buf, "PNG")
    data = buf.getvalue()
    return data[: len(data) // 3]
