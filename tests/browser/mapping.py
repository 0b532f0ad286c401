"""The Map screen in a real page (JupyterLab and marimo): switch the colouring, lasso a region,
label it with one class, undo it; the store says what happened. Shared by test_quickstart.py and
test_marimo.py. Works through shadow roots (marimo): Playwright's locators pierce them, and the
canvas is read with ``toDataURL`` through its element handle."""

from __future__ import annotations

from pathlib import Path

from alwidget import LabelStore


def exercise_map(page, store_path: Path, scope: str = ".alw-widget") -> int:
    """Open the Map screen of the first widget in ``scope`` and drive it; returns the region's size."""
    widget = page.locator(scope).first
    widget.locator(".alw-tab[data-mode='map']").click()
    canvas = widget.locator("canvas.alw-map-canvas")
    page.wait_for_function("(c) => c.width > 0 && c.offsetParent !== null", arg=canvas.element_handle(), timeout=30_000)
    state = widget.locator(".alw-map-state")
    state.filter(has_text="images").wait_for(timeout=120_000)  # "300 images": the map is drawn
    page.wait_for_timeout(300)
    pixels = lambda: canvas.evaluate("c => c.toDataURL()")  # noqa: E731
    by_label = pixels()
    widget.locator(".alw-map-colour[data-colour='unc']").click()
    page.wait_for_timeout(200)
    assert "alw-chosen" in widget.locator(".alw-map-colour[data-colour='unc']").get_attribute("class")
    assert pixels() != by_label, "colouring by uncertainty drew the same picture"
    # lasso: a loop around the middle third of the map
    box = canvas.bounding_box()
    cx, cy, rx, ry = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] / 5, box["height"] / 5
    page.mouse.move(cx - rx, cy - ry)
    page.mouse.down()
    for x, y in [(cx + rx, cy - ry), (cx + rx, cy + ry), (cx - rx, cy + ry), (cx - rx, cy - ry)]:
        page.mouse.move(x, y, steps=5)
    page.mouse.up()
    selection = widget.locator(".alw-map-selection")
    selection.filter(has_text="selected").wait_for(timeout=30_000)
    count = int(selection.inner_text().split(" selected")[0].split()[-1].replace(",", ""))
    assert count > 0
    assert widget.locator(".alw-map-selection img.alw-map-thumb").count() == min(12, count)
    with LabelStore(store_path) as store:
        before = store.labels(split=None)
    widget.locator(".alw-map-label[data-class='3']").click()
    widget.locator(".alw-message", has_text="from the map").wait_for(timeout=30_000)
    with LabelStore(store_path) as store:
        after = store.labels(split=None)
        new = {i: lab for i, lab in after.items() if before.get(i) != lab}
        assert new and set(new.values()) == {"3"} and len(new) <= count
        groups = {store.get(i).group for i in new}
        assert len(groups) == 1 and {store.get(i).source for i in new} == {"map"}
    widget.locator(".alw-bar [data-action='undo']").click()  # one undo: the whole region
    widget.locator(".alw-message", has_text="labels given together").wait_for(timeout=30_000)
    with LabelStore(store_path) as store:
        assert store.labels(split=None) == before
    return count
