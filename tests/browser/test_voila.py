"""The quickstart as an app in Voila (teaching demos): it renders, labels by click and by key,
Enter submits, and a background cycle refreshes the grid, the status line and the plots.

Voila runs the whole notebook when the page is requested and shows the widgets once every cell
ran, so the page reads the state the notebook left (the plots' data included, see
:func:`alwidget.ui.plots.keep_for_late_pages`) and then follows live updates from the kernel.
Both plots are panels of one FigureWidget: with two, the second one's 4.6 MB copy of plotly.js
sometimes missed anywidget's 2-second start-up limit here (about one page load in three under
load) and that plot never updated.
The stock lab template links two Font Awesome stylesheets from a CDN; the fixture's copy of it
drops those links (``voila(...).dropped_links``), and the page fixture fails the test on any
request that leaves 127.0.0.1.
"""

from __future__ import annotations

import re

import pytest

from .conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(480)]

PLOTS_JS = """() => [...document.querySelectorAll('.js-plotly-plot.alw-plots')].flatMap(gd => ['x', 'x2'].map(
  axis => (gd.data || []).filter(t => (t.xaxis || 'x') === axis).map(t => Array.from(t.y || []).reduce((a, b) => a + (+b || 0), 0))))"""


def _text(page) -> str:
    return page.evaluate("() => document.querySelector('.alw-widget').innerText")


def _cycle(page) -> int:
    return max([int(x) for x in re.findall(r"cycle (\d+): validation accuracy", _text(page))] or [0])


def test_quickstart_in_voila_labels_submits_and_refreshes(voila, page, artifacts):
    server = voila(ROOT / "notebooks" / "01_quickstart.ipynb")
    assert len(server.dropped_links) == 2 and all("fontawesome" in u for u in server.dropped_links)
    server.open(page)
    page.wait_for_function("() => document.querySelectorAll('.alw-widget .alw-card img').length === 12",
                           timeout=180_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts / "voila_01_rendered.png"))
    cycle0 = _cycle(page)
    assert cycle0 >= 1, _text(page)
    plots0 = page.evaluate(PLOTS_JS)
    # the page connected after the notebook ran: the histogram shows the pool, not the empty start
    assert len(plots0) == 2 and sum(plots0[0]) > 0 and sum(plots0[1]) > 0, plots0

    first = page.locator(".alw-widget .alw-card").first
    item = first.get_attribute("data-id")
    first.locator(".alw-class[data-class='3']").click()
    page.wait_for_function("(id) => { const c = document.querySelector(`.alw-card[data-id='${id}']`);"
                           " return c && c.innerText.includes('✔ 3') && !c.classList.contains('alw-pending'); }",
                           arg=item)
    assert page.evaluate("() => !!(document.activeElement && document.activeElement.closest('.alw-grid'))")
    page.mouse.move(2, 2)  # the pointer leaves; keys still go to the grid
    focused = page.locator(".alw-widget .alw-card.alw-focus").first.get_attribute("data-id")
    assert focused != item
    page.keyboard.press("5")
    page.wait_for_function("(id) => { const c = document.querySelector(`.alw-card[data-id='${id}']`);"
                           " return c && c.innerText.includes('✔ 5') && !c.classList.contains('alw-pending'); }",
                           arg=focused)
    old = page.evaluate("() => [...document.querySelectorAll('.alw-widget .alw-card .alw-id')].map(e => e.textContent)")
    page.keyboard.press("Enter")
    page.wait_for_function("(old) => { const ids = [...document.querySelectorAll('.alw-widget .alw-card .alw-id')]"
                           ".map(e => e.textContent); return ids.length === 12 && ids.every(i => !old.includes(i)); }",
                           arg=old)
    page.wait_for_function("(n) => { const t = document.querySelector('.alw-widget').innerText;"
                           " return t.includes('cycle ' + n + ':') && t.includes('cycle done'); }",
                           arg=cycle0 + 1, timeout=180_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts / "voila_02_after_cycle.png"))
    assert re.search(rf"cycle {cycle0 + 1}: validation accuracy [\d.]+%", _text(page))
    assert all("model:" in c for c in page.evaluate(
        "() => [...document.querySelectorAll('.alw-widget .alw-card .alw-info')].map(e => e.innerText)"))
    plots1 = page.evaluate(PLOTS_JS)
    assert plots1[0] != plots0[0], "the uncertainty histogram did not change after the cycle"
    # the accuracy curve changed too (both panels are one FigureWidget: one copy of plotly.js to
    # load, well within anywidget's 2-second start-up limit even on a loaded machine)
    assert len(plots1) == 2 and plots1[1] != plots0[1], (page.errors, plots0, plots1)
    assert not [e for e in page.errors if "anywidget" in e], page.errors
