"""The quickstart notebook in a real browser: JupyterLab and Notebook 7, driven like a person.

JupyterLab: open ``notebooks/01_quickstart.ipynb`` (a copy, in a temporary folder, with one
extra cell at the end holding a bare ``ipywidgets.Button`` for the timing baseline), run all
cells with the *Run* menu (``ALWIDGET_NB_SMALL=1``), then in the page:

* label cards by clicking class buttons and by pressing number keys over the grid;
* submit with Enter; wait for the background retrain;
* check that the grid refreshed, the histogram and the accuracy curve changed, and the status
  line counts the labels; then check in the store file that every label arrived once;
* time a click on a class button until the card shows the label, against a bare ipywidgets
  button round trip in the same page; the ratio goes to ``artifacts/click_ratio.json``;
* read the forecast in the status line; open *Check my labels*, correct one label with a class
  button and keep another with ``c``, and find both as ``"review"`` events in the store;
* open the *Map*: colour it by uncertainty, lasso a region, label it with one class (one group of
  ``"map"`` labels in the store), undo it with one click (``tests/browser/mapping.py``).

Notebook 7: run the same notebook; label by click and by key, Enter, and a background cycle
refreshes the grid, the status line and both plots; names with markup stay text.

Screenshots land in ``tests/browser/artifacts/`` (gitignored).
"""

from __future__ import annotations

import json
import re
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Dict, List

import pytest

from alwidget import LabelStore

from .conftest import ROOT
from .escaping import SOURCE as ESCAPING_SOURCE
from .escaping import check_names_are_text
from .mapping import exercise_map

NOTEBOOK = ROOT / "notebooks" / "01_quickstart.ipynb"
STORE_NAME = "quickstart_labels.db"  # the notebook's default store, next to the notebook
RATIO_GOAL = 2.0  # click on a card vs a bare ipywidgets button (the card answers in the page: far below)
CLICK_GOAL_MS = 50.0  # pointer event to the card showing its label, median
ENTER_GOAL_MS = 150.0  # Enter to the next batch on screen, median
ROUNDS = 9  # timed clicks of each kind (after one warm-up each; at most 9)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(420)]

PROBE_SOURCE = """\
# timing baseline for tests/browser: a bare ipywidgets button, one kernel round trip per click
import ipywidgets as _widgets
_probe = _widgets.Button(description="probe 0")
_probe.add_class("alw-probe")
_probe.clicks = 0
def _on_probe(button):
    button.clicks += 1
    button.description = f"probe {button.clicks}"
_probe.on_click(_on_probe)
_probe
"""

# ----------------------------------------------------------------------------- page helpers

RUN_STATE_JS = """() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  if (!cells.length) return 'loading';
  const outputs = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')].map(o => o.innerText).join('\\n');
  if (/Traceback \\(most recent call last\\)|\\w+Error: /.test(outputs)) return 'error';
  const prompts = cells.map(c => (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '');
  return prompts.every(p => /\\[\\d+\\]/.test(p)) ? 'done' : 'running';
}"""

PLOTS_JS = """() => [...document.querySelectorAll('.js-plotly-plot.alw-plots')].flatMap(gd => ['x', 'x2'].map(
  axis => (gd.data || []).filter(t => (t.xaxis || 'x') === axis).map(t => ({x: Array.from(t.x || []), y: Array.from(t.y || [])}))))"""

GRID_JS = """() => [...document.querySelectorAll('.alw-widget .alw-card')].map(card => ({
  id: card.querySelector('.alw-id').textContent,
  labeled: card.classList.contains('alw-labeled'),
  pending: card.classList.contains('alw-pending'),
  focused: card.classList.contains('alw-focus'),
  info: card.querySelector('.alw-info').innerText}))"""

GRID_HAS_FOCUS_JS = "() => !!(document.activeElement && document.activeElement.closest('.alw-grid'))"

# Enter pressed with the grid focused until every card of the grid shows another item
ENTER_UNTIL_NEW_BATCH_JS = """(grid) => new Promise((resolve, reject) => {
  const ids = () => [...grid.querySelectorAll('.alw-card .alw-id')].map(e => e.textContent);
  const old = ids();
  let t0 = null;
  const obs = new MutationObserver(() => {
    const now = ids();
    if (t0 !== null && now.length && now.every(i => !old.includes(i))) {
      obs.disconnect();
      const dom = performance.now() - t0;
      requestAnimationFrame(() => resolve({dom: dom, frame: performance.now() - t0}));
    }
  });
  obs.observe(grid, {subtree: true, childList: true});
  setTimeout(() => { obs.disconnect(); reject(new Error("no new batch within 10 s: " + JSON.stringify([old, ids()]))); }, 10000);
  grid.focus();
  t0 = performance.now();
  grid.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true, cancelable: true}));
})"""

CLICK_UNTIL_JS = """([button, box, text, exact]) => new Promise((resolve, reject) => {
  const seen = () => exact ? box.innerText.trim() === text : box.innerText.includes(text);
  const t0 = performance.now();
  const obs = new MutationObserver(() => {
    if (seen()) {  // in the DOM now; visible at the next frame, once the page's script lets it paint
      obs.disconnect();
      const dom = performance.now() - t0;
      requestAnimationFrame(() => resolve({dom: dom, frame: performance.now() - t0}));
    }
  });
  obs.observe(box, {subtree: true, childList: true, characterData: true, attributes: true});
  setTimeout(() => { obs.disconnect(); reject(new Error('no visible update within 30 s: ' + text)); }, 30000);
  button.click();
})"""


# a click on a card's class button: until the card shows the label (in the page, before the kernel
# answers), and until the kernel's confirmation lands (the card is no longer marked pending)
CARD_CLICK_JS = """([button, box, text]) => new Promise((resolve, reject) => {
  let t0 = null, dom = null, frame = null;
  const check = () => {
    if (dom === null && box.innerText.includes(text)) {
      dom = performance.now() - t0;
      requestAnimationFrame(() => { frame = performance.now() - t0; done(); });
    }
    done();
  };
  const done = () => {
    if (frame !== null && !box.classList.contains('alw-pending')) {
      obs.disconnect();
      resolve({dom: dom, frame: frame, confirmed: performance.now() - t0});
    }
  };
  const obs = new MutationObserver(check);
  obs.observe(box, {subtree: true, childList: true, characterData: true, attributes: true});
  setTimeout(() => { obs.disconnect(); reject(new Error('no confirmed update within 30 s: ' + text)); }, 30000);
  t0 = performance.now();
  button.dispatchEvent(new MouseEvent('mousedown', {bubbles: true, cancelable: true}));
  button.click();
})"""


def copy_notebook(work: Path, *, probe: bool, evil: bool = False) -> str:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    if evil:  # a second widget whose names carry markup (escaping.py)
        nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "alw-evil-names",
                            "metadata": {}, "outputs": [], "source": ESCAPING_SOURCE.splitlines(keepends=True)})
    if probe:
        nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "alw-timing-probe",
                            "metadata": {}, "outputs": [], "source": PROBE_SOURCE.splitlines(keepends=True)})
    (work / NOTEBOOK.name).write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return NOTEBOOK.name


def wait_for_kernel(server, name: str, timeout_s: float = 120) -> None:
    """Wait until the server reports the notebook's kernel started and idle."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sessions = json.loads(urllib.request.urlopen(server.url("api/sessions"), timeout=5).read())
        if any(s["path"].endswith(name) and (s.get("kernel") or {}).get("execution_state") == "idle" for s in sessions):
            return
        time.sleep(0.5)
    raise AssertionError(f"no idle kernel for {name} after {timeout_s:.0f} s")


def accept_dialog(page) -> bool:
    """Accept a dialog in the way (e.g. *Select Kernel*, preselected Python 3), as a person would."""
    button = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
    if button.count() and button.first.is_visible():
        button.first.click()
        return True
    return False


def run_all_cells(page, server, name: str, timeout_s: float = 240) -> float:
    """Run every cell through the *Run* menu and wait until each has run; returns the seconds taken."""
    page.wait_for_selector(".jp-Notebook .jp-CodeCell")
    wait_for_kernel(server, name)
    started = "() => /\\[(\\*|\\d+)\\]/.test(document.querySelector('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt').textContent)"
    t0 = time.monotonic()
    for attempt in range(6):  # a click while the page is still connecting to the kernel runs nothing: retry
        accept_dialog(page)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            page.wait_for_function(started, timeout=10_000, polling=200)
            break
        except Exception:
            if not accept_dialog(page):
                page.keyboard.press("Escape")  # close the menu
    else:
        raise AssertionError("Run All Cells did not start the first cell in a minute")
    handle = page.wait_for_function(f"() => {{ const s = ({RUN_STATE_JS})(); return s === 'done' || s === 'error' ? s : false; }}",
                                    timeout=timeout_s * 1000, polling=500)
    state = handle.json_value()
    assert state == "done", "a cell failed:\n" + page.locator(".jp-Notebook").inner_text()[-4000:]
    return time.monotonic() - t0


def grid(page) -> List[Dict]:
    return page.evaluate(GRID_JS)


def status_text(page) -> str:
    return page.locator(".alw-widget .alw-status").first.inner_text()


def card(page, item: str):
    return page.locator(f".alw-widget .alw-card[data-id='{item}']")


def wait_for_cycle(page, cycle: int, timeout_s: float = 120) -> None:
    """Wait until the (first widget's) status line reports ``cycle`` and no cycle is running.

    The status line, not the progress label: background work after a cycle (the representation's
    embedding, a slow cycle) writes its own step there."""
    page.wait_for_function(
        """(n) => { const s = document.querySelector('.alw-widget .alw-status'); const t = s ? s.innerText : '';
                    return t.includes('cycle ' + n + ':') && !t.includes('training…'); }""",
        arg=cycle, timeout=timeout_s * 1000, polling=200)


def last_cycle(page) -> int:
    found = re.findall(r"cycle (\d+): validation accuracy", status_text(page))
    return int(found[-1]) if found else 0


# ----------------------------------------------------------------------------- JupyterLab


def test_quickstart_in_jupyterlab_label_submit_retrain_and_timing(jupyter, page, artifacts):
    lab = jupyter("lab")
    name = copy_notebook(lab.work, probe=True)
    t_start = time.monotonic()
    page.goto(lab.url(f"lab/tree/{name}"))
    seconds_run = run_all_cells(page, lab, name)
    widget = page.locator(".alw-widget").first
    widget.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "lab_01_after_run_all.png"))
    assert page.locator(".alw-widget .alw-card img").count() == 12  # K cards, each with its image
    assert not [e for e in page.errors if "alwidget" in e or "anywidget" in e or "widget" in e.lower()], page.errors

    store_path = lab.work / STORE_NAME
    with LabelStore(store_path) as store:
        journal_before = len(store.history())
    given: Dict[str, List[str]] = {}  # item -> labels given in this test, in order

    # -- timing: a class button on a card vs a bare ipywidgets button, interleaved -------------
    # JupyterLab may detach cells scrolled out of view (windowing): find both buttons afresh each
    # time, scrolled into view as a person would, and time only from the click on
    first = grid(page)[0]["id"]
    card_ms, bare_ms, card_dom, bare_dom, card_confirmed = [], [], [], [], []
    labels = list("1234567890")  # a different class each round, so each click changes the card
    def time_bare(n: int) -> float:
        probe = page.locator(".alw-probe").first
        probe.scroll_into_view_if_needed()
        handle = probe.element_handle()
        return page.evaluate(CLICK_UNTIL_JS, [handle, handle, f"probe {n}", True])

    def time_card(label: str) -> float:
        box = card(page, first)
        box.scroll_into_view_if_needed()
        button = box.locator(f".alw-class[data-class='{label}']").element_handle()
        ms = page.evaluate(CARD_CLICK_JS, [button, box.element_handle(), f"✔ {label}"])
        given.setdefault(first, []).append(label)
        return ms

    for round_ in range(ROUNDS + 1):  # alternate the order; let each click's messages settle first
        pair = {}
        for kind in (("bare", "card") if round_ % 2 else ("card", "bare")):
            page.wait_for_timeout(300)
            pair[kind] = time_bare(round_ + 1) if kind == "bare" else time_card(labels[round_])
        if round_:  # the first of each is a warm-up
            bare_ms.append(pair["bare"]["frame"])
            card_ms.append(pair["card"]["frame"])
            bare_dom.append(pair["bare"]["dom"])
            card_dom.append(pair["card"]["dom"])
            card_confirmed.append(pair["card"]["confirmed"])
    ratio = statistics.median(card_ms) / statistics.median(bare_ms)
    result = {"card_click_to_update_ms": [round(x, 1) for x in card_ms],
              "bare_button_round_trip_ms": [round(x, 1) for x in bare_ms],
              "card_click_to_dom_change_ms": [round(x, 1) for x in card_dom],
              "bare_button_to_dom_change_ms": [round(x, 1) for x in bare_dom],
              "median_card_dom_ms": round(statistics.median(card_dom), 1),
              "median_bare_dom_ms": round(statistics.median(bare_dom), 1),
              "median_card_ms": round(statistics.median(card_ms), 1),
              "card_click_to_kernel_confirmed_ms": [round(x, 1) for x in card_confirmed],
              "median_card_confirmed_ms": round(statistics.median(card_confirmed), 1),
              "click_goal_ms": CLICK_GOAL_MS,
              "median_bare_ms": round(statistics.median(bare_ms), 1),
              "ratio": round(ratio, 2), "goal": RATIO_GOAL, "meets_goal": ratio <= RATIO_GOAL,
              "what": "click on a card's class button until the card shows the label, vs a bare ipywidgets "
                      "Button whose on_click sets its description; median of %d each, same page, alternating, "
                      "300 ms apart; until the change is in the DOM and the next frame" % ROUNDS}
    (artifacts / "click_ratio.json").write_text(json.dumps(result, indent=1))
    print(f"\nclick-to-update: card {result['median_card_ms']} ms vs bare button {result['median_bare_ms']} ms "
          f"-> ratio {result['ratio']} (goal <= {RATIO_GOAL})")
    assert ratio <= RATIO_GOAL and statistics.median(card_dom) <= CLICK_GOAL_MS, result

    # -- Enter: the next batch on screen. The first Enter submits the label given above and starts a
    # background cycle; once its refresh is in, Enter on batches left unlabelled starts none, so
    # each timed Enter has the page and the kernel to itself (a refresh landing mid-way would swap
    # cards under the measurement) ----------------------------------------------------------------
    widget.scroll_into_view_if_needed()  # JupyterLab may detach cells scrolled out of view
    grid_handle = page.locator(".alw-widget .alw-grid").first.element_handle()
    cycle_now = last_cycle(page)
    first_enter = page.evaluate(ENTER_UNTIL_NEW_BATCH_JS, grid_handle)
    wait_for_cycle(page, cycle_now + 1)
    page.wait_for_timeout(500)
    enter = [page.evaluate(ENTER_UNTIL_NEW_BATCH_JS, grid_handle) for _ in range(ROUNDS)]
    enter_result = {"enter_to_new_batch_dom_ms": [round(x["dom"], 1) for x in enter],
                    "enter_to_new_batch_frame_ms": [round(x["frame"], 1) for x in enter],
                    "median_dom_ms": round(statistics.median(x["dom"] for x in enter), 1),
                    "median_frame_ms": round(statistics.median(x["frame"] for x in enter), 1),
                    "goal_ms": ENTER_GOAL_MS,
                    "first_enter_starting_a_cycle_frame_ms": round(first_enter["frame"], 1),
                    "what": "Enter (keydown on the focused grid) until every card shows another item; 12 cards "
                            "with their images; median of %d, each with no cycle running (the first Enter, which starts one, is "
                            "reported apart)" % ROUNDS}
    (artifacts / "enter_latency.json").write_text(json.dumps(enter_result, indent=1))
    print(f"Enter to the next batch: median {enter_result['median_frame_ms']} ms (goal <= {ENTER_GOAL_MS})")
    assert enter_result["median_frame_ms"] <= ENTER_GOAL_MS, enter_result

    # -- a person labels: two cards by mouse, two by keyboard ---------------------------------
    before_submit = grid(page)
    plots_before = page.evaluate(PLOTS_JS)
    cycle_before = last_cycle(page)
    assert cycle_before >= 1 and len(plots_before) == 2
    unlabelled = [c["id"] for c in before_submit if not c["labeled"]]
    for item, label in zip(unlabelled[:2], ["0", "9"]):
        card(page, item).locator(f".alw-class[data-class='{label}']").click()  # a real mouse click
        given.setdefault(item, []).append(label)
        page.wait_for_function("([id, l]) => { const c = document.querySelector(`.alw-card[data-id='${id}']`);"
                               " return c && !c.classList.contains('alw-pending') && c.innerText.includes('✔ ' + l); }",
                               arg=[item, label])
    # the click gave the grid the keyboard focus; the pointer leaves for the margin, keys still act
    assert page.evaluate(GRID_HAS_FOCUS_JS)
    page.mouse.move(3, 3)
    cells_before = page.locator(".jp-Notebook .jp-Cell").count()
    for key in ["6", "8"]:
        focused = [c["id"] for c in grid(page) if c["focused"]]
        assert len(focused) == 1 and focused[0] not in given, grid(page)
        page.keyboard.press(key)
        given.setdefault(focused[0], []).append(key)
        page.wait_for_function("([id, l]) => { const c = document.querySelector(`.alw-card[data-id='${id}']`);"
                               " return c && !c.classList.contains('alw-pending') && c.innerText.includes('✔ ' + l); }",
                               arg=[focused[0], key])
    # JupyterLab's own shortcuts stay quiet while the grid has the focus: in command mode "b" would
    # insert a cell and "m" turn one into Markdown
    for key in ["b", "m"]:
        page.keyboard.press(key)
    page.wait_for_timeout(300)
    assert page.locator(".jp-Notebook .jp-Cell").count() == cells_before
    assert page.locator(".jp-Notebook .jp-MarkdownCell").count() == page.evaluate(
        "() => document.querySelectorAll('.jp-Notebook .jp-MarkdownCell').length")
    assert page.evaluate(GRID_HAS_FOCUS_JS)
    page.screenshot(path=str(artifacts / "lab_02_labelled_by_mouse_and_keys.png"))

    # -- submit with Enter, the next batch comes at once, the model retrains in the background ---
    page.keyboard.press("Enter")
    page.wait_for_function("(old) => { const ids = [...document.querySelectorAll('.alw-widget .alw-card .alw-id')]"
                           ".map(e => e.textContent); return ids.length && ids.every(i => !old.includes(i)); }",
                           arg=[c["id"] for c in before_submit])
    wait_for_cycle(page, cycle_before + 1)
    page.wait_for_timeout(500)  # let the last refresh messages land
    widget.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "lab_03_after_background_retrain.png"))
    page.locator(".js-plotly-plot.alw-plots").first.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "lab_04_plots_after_retrain.png"))

    after = grid(page)
    plots_after = page.evaluate(PLOTS_JS)
    assert [c["id"] for c in after] != [c["id"] for c in before_submit]  # the grid refreshed
    assert len(after) == 12 and not {c["id"] for c in after} & set(given)
    assert all("model:" in c["info"] for c in after)  # each card shows the new model's guess
    assert plots_after[0] != plots_before[0], "the uncertainty histogram did not change"
    assert plots_after[1] != plots_before[1], "the accuracy curve did not change"
    points = lambda plot: len(plot[2]["x"])  # noqa: E731  (the session's curve: ACCURACY_TRACES[2])
    assert points(plots_after[1]) == points(plots_before[1]) + 1  # one more point on the curve

    # -- the store: every label given in the page arrived, once -------------------------------
    with LabelStore(store_path) as store:
        counts = store.counts()
        new_sets = [e for kind, e, _ in store.history()[journal_before:] if kind == "set"]
        for item, labels_given in given.items():
            assert store.get(item).label == labels_given[-1]
            assert [e.label for e in new_sets if e.item_id == item] == labels_given  # each once, in order
        assert len(new_sets) == sum(len(v) for v in given.values())  # nothing else was written
        assert {e.source for e in new_sets} == {"human"}
    status = status_text(page)
    assert f"{counts['train']} labels" in status and f"validation {counts['validation']}/" in status, status
    assert f"cycle {cycle_before + 1}: validation accuracy" in status

    # -- the forecast line: after three cycles a number of labels (or why not), before that a reason --
    cycles = last_cycle(page)
    forecast = re.search(r"(≈ \d+ labels to 95 % \([^)]*\)|95 % not reachable by this curve[^·]*|"
                         r"95 % already reached[^·]*|cannot forecast yet: \d+ cycles?[^·]*)", status)
    assert forecast, status
    assert forecast.group(1).startswith("cannot forecast yet") == (cycles < 3), (cycles, forecast.group(1))
    print(f"forecast line after {cycles} cycles: {forecast.group(1)}")

    # -- Check my labels: the screen opens, ranks the labels, a class corrects one, c keeps one ------
    widget.scroll_into_view_if_needed()
    page.locator(".alw-widget .alw-tab", has_text="Check my labels").first.click()
    page.wait_for_function("() => document.querySelectorAll('.alw-widget .alw-card .alw-check').length > 0",
                           timeout=120_000, polling=250)
    page.screenshot(path=str(artifacts / "lab_05_check_my_labels.png"))
    shown = grid(page)
    assert shown and all("unseen model:" in c["info"] for c in shown), shown
    assert "Check my labels" in page.locator(".alw-widget .alw-instructions").first.inner_text()
    first_check = shown[0]["id"]
    with LabelStore(store_path) as store:
        old_label = store.get(first_check).label
    new_label = next(c for c in "0123456789" if c != old_label)
    card(page, first_check).locator(f".alw-class[data-class='{new_label}']").click()
    page.wait_for_function("(id) => { const c = document.querySelector(`.alw-card[data-id='${id}']`);"
                           " return c && !c.classList.contains('alw-pending') && c.innerText.includes('checked ✓'); }",
                           arg=first_check)
    kept = [c["id"] for c in grid(page) if c["focused"]][0]  # the page moved on to the next card to check
    assert kept != first_check
    page.keyboard.press("c")
    page.wait_for_function("(id) => { const c = document.querySelector(`.alw-card[data-id='${id}']`);"
                           " return c && !c.classList.contains('alw-pending') && c.innerText.includes('checked ✓'); }",
                           arg=kept)
    with LabelStore(store_path) as store:
        corrected, confirmed = store.get(first_check), store.get(kept)
    assert (corrected.label, corrected.source) == (new_label, "review")
    assert confirmed.source == "review"

    # -- the Map screen: colour by uncertainty, lasso a region, label it at once, undo it ----------
    region = exercise_map(page, store_path)
    page.screenshot(path=str(artifacts / "lab_06_map.png"))
    print(f"JupyterLab: the map's lasso selected {region} images, labelled and undone as one group")
    print(f"JupyterLab: run all {seconds_run:.1f} s, whole test {time.monotonic() - t_start:.1f} s; "
          f"{sum(len(v) for v in given.values())} labels given in the page, all in the store once")


# ----------------------------------------------------------------------------- Notebook 7


def test_quickstart_widget_appears_in_notebook7_and_names_stay_text(jupyter, page, artifacts):
    server = jupyter("notebook")
    name = copy_notebook(server.work, probe=False, evil=True)
    page.goto(server.url(f"notebooks/{name}"))
    run_all_cells(page, server, name)
    widget = page.locator(".alw-widget").first
    widget.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "nb7_01_widget.png"))
    assert page.locator(".alw-widget:not(.alw-evil .alw-widget) .alw-card img").count() == 12
    assert page.locator(".js-plotly-plot.alw-plots:not(.alw-evil)").count() == 1  # both panels in one figure
    assert re.search(r"\d+ labels", status_text(page)) and "validation accuracy" in status_text(page)
    # it responds: a click labels a card
    first = [c for c in grid(page) if not c["labeled"]][0]["id"]
    card(page, first).locator(".alw-class[data-class='3']").click()
    page.wait_for_function("(id) => { const c = document.querySelector(`.alw-card[data-id='${id}']`);"
                           " return c && !c.classList.contains('alw-pending') && c.innerText.includes('✔ 3'); }", arg=first)
    # a number key labels the card the focus moved to; Enter brings the next batch at once, and
    # the background cycle refreshes the grid, the status line and both plots
    main = ".alw-widget:not(.alw-evil .alw-widget)"
    focused = page.locator(f"{main} .alw-card.alw-focus").first.get_attribute("data-id")
    assert focused and focused != first
    page.mouse.move(2, 2)  # the pointer leaves; keys still go to the grid
    page.keyboard.press("5")
    page.wait_for_function("(id) => { const c = document.querySelector(`.alw-card[data-id='${id}']`);"
                           " return c && !c.classList.contains('alw-pending') && c.innerText.includes('✔ 5'); }", arg=focused)
    with LabelStore(server.work / STORE_NAME) as store:
        assert store.get(first).label == "3" and store.get(focused).label == "5"
    cycle0, plots0 = last_cycle(page), page.evaluate(PLOTS_JS)[:2]
    ids_js = f"() => [...document.querySelectorAll(\"{main} .alw-card .alw-id\")].map(e => e.textContent)"
    old = page.evaluate(ids_js)
    page.keyboard.press("Enter")
    page.wait_for_function(f"(old) => {{ const ids = ({ids_js})(); return ids.length === 12 && ids.every(i => !old.includes(i)); }}",
                           arg=old)
    wait_for_cycle(page, cycle0 + 1)
    page.wait_for_timeout(500)  # let the last refresh messages land
    page.screenshot(path=str(artifacts / "nb7_02_after_cycle.png"))
    plots1 = page.evaluate(PLOTS_JS)[:2]
    assert plots1[0] != plots0[0], "the uncertainty histogram did not change"
    assert plots1[1] != plots0[1], "the accuracy curve did not change"
    infos = page.evaluate(f"() => [...document.querySelectorAll(\"{main} .alw-card .alw-info\")].map(e => e.innerText)")
    assert len(infos) == 12 and all("model:" in i for i in infos)
    check_names_are_text(page, artifacts)
