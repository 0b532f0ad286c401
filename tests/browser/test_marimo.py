"""The widget in marimo (``marimo run`` and ``marimo edit``), in Chromium, driven like a person.

``notebooks/quickstart_marimo.py`` shows ``LabelingWidget`` as the last expression of a cell:
marimo renders it through the widget's ``_display_`` (the board, one anywidget, above the plotly
figure) with nothing else to write. In the page: 12 cards render; a click on a class and a
number key label two cards (each in the store once); Enter brings the next batch and starts a
background cycle, after which the grid shows the model's guesses, the status line the cycle, and
both panels of the figure have changed. The page fixture fails the test on any request that
leaves 127.0.0.1.

marimo puts each anywidget in a shadow root: the checks read the page with ``DEEP_JS``, which
looks into open shadow roots; Playwright's locators do that by themselves.
"""

from __future__ import annotations

import re

import pytest

from alwidget import LabelStore

from .conftest import ROOT
from .mapping import exercise_map

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(420)]

NOTEBOOK = ROOT / "notebooks" / "quickstart_marimo.py"
STORE_NAME = "quickstart_marimo_labels.db"

#: ``deep(selector)``: every element matching ``selector`` in the document and its open shadow roots
DEEP_JS = """const deep = (sel) => { const out = []; const walk = (root) => {
  root.querySelectorAll(sel).forEach(e => out.push(e));
  root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) walk(e.shadowRoot); }); };
  walk(document); return out; };"""

CARDS_JS = "() => { " + DEEP_JS + """ return deep('.alw-card').map(c => ({id: c.dataset.id,
  info: c.querySelector('.alw-info').innerText, pending: c.classList.contains('alw-pending'),
  focused: c.classList.contains('alw-focus'), img: !!c.querySelector('img.alw-image[src^="blob:"]')})); }"""

TEXT_JS = "() => { " + DEEP_JS + " return deep('.alw-widget').map(w => w.innerText).join('\\n'); }"

PLOTS_JS = "() => { " + DEEP_JS + """ return deep('.js-plotly-plot').flatMap(gd => ['x', 'x2'].map(
  axis => (gd.data || []).filter(t => (t.xaxis || 'x') === axis)
    .map(t => Array.from(t.y || []).reduce((a, b) => a + (+b || 0), 0)))); }"""


def _card_shows(page, item: str, label: str) -> None:
    page.wait_for_function("([id, l]) => { " + DEEP_JS + " const c = deep(`.alw-card[data-id='${id}']`)[0];"
                           " return c && c.innerText.includes('✔ ' + l) && !c.classList.contains('alw-pending'); }",
                           arg=[item, label], timeout=30_000)


@pytest.mark.parametrize("how", ["run", "edit"])
def test_quickstart_in_marimo_labels_submits_and_refreshes(marimo, page, artifacts, how):
    server = marimo(NOTEBOOK, how)
    page.goto(server.url())
    rendered = "() => { " + DEEP_JS + " return deep('.alw-card img[src^=\"blob:\"]').length === 12; }"
    if how == "edit":  # marimo 0.25 opens a notebook without running it: run every cell, as a person does
        for _ in range(12):  # the run button does nothing until the kernel is connected: press it again
            page.get_by_test_id("run-button").last.click()
            try:
                page.wait_for_function("() => { " + DEEP_JS + " return deep('.alw-widget, .alw-card').length > 0 "
                                       "|| !!document.querySelector('[data-status=\"running\"], [data-status=\"queued\"]'); }",
                                       timeout=5_000, polling=250)
                break
            except Exception:
                continue
    page.wait_for_function(rendered, timeout=180_000, polling=250)
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / f"marimo_{how}_01_rendered.png"))
    text = page.evaluate(TEXT_JS)
    assert "Check my labels" in text and "Retrain now" in text and "export to" in text  # the toolbar, the export row
    assert re.search(r"\d+ labels · validation \d+/\d+", text), text
    plots0 = page.evaluate(PLOTS_JS)
    assert len(plots0) == 2, plots0  # one figure, two panels

    # a click on a class labels a card; a number key labels the card the focus moved to
    cards = page.evaluate(CARDS_JS)
    first = cards[0]["id"]
    page.locator(f".alw-card[data-id='{first}'] .alw-class[data-class='3']").click()
    _card_shows(page, first, "3")
    focused = [c["id"] for c in page.evaluate(CARDS_JS) if c["focused"]]
    assert focused and focused[0] != first
    page.mouse.move(2, 2)  # the pointer leaves; keys still go to the grid
    page.keyboard.press("5")
    _card_shows(page, focused[0], "5")
    with LabelStore(server.work / STORE_NAME) as store:
        assert store.get(first).label == "3" and store.get(focused[0]).label == "5"
        assert sum(1 for kind, e, _ in store.history() if kind == "set" and e.item_id == first) == 1

    # Enter: the next batch at once, then a background cycle refreshes the grid, the status and both plots
    old = [c["id"] for c in page.evaluate(CARDS_JS)]
    page.keyboard.press("Enter")
    page.wait_for_function("(old) => { " + DEEP_JS + " const ids = deep('.alw-card').map(c => c.dataset.id);"
                           " return ids.length === 12 && ids.every(i => !old.includes(i)); }", arg=old)
    page.wait_for_function("() => { " + DEEP_JS + " const s = deep('.alw-status').map(w => w.innerText).join(' ');"
                           " return /cycle 1: validation accuracy/.test(s) && !s.includes('training…'); }",
                           timeout=180_000, polling=250)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts / f"marimo_{how}_02_after_cycle.png"), full_page=True)
    assert all("model:" in c["info"] for c in page.evaluate(CARDS_JS))
    plots1 = page.evaluate(PLOTS_JS)
    assert plots1[0] != plots0[0], "the uncertainty histogram did not change after the cycle"
    assert plots1[1] != plots0[1], "the accuracy curve did not change after the cycle"
    if how == "run":  # the Map screen: colour, lasso a region, label it at once, undo it
        assert exercise_map(page, server.work / STORE_NAME) > 0
        page.screenshot(path=str(artifacts / "marimo_run_03_map.png"))
    assert not [e for e in page.errors if "anywidget" in e.lower()], page.errors
