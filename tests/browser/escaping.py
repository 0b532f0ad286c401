"""Names with HTML or script in them are text in the page: item ids, class names, labels.

:data:`SOURCE` is a notebook cell that builds a pool whose ids and classes carry markup that
would run if any of it reached the page as HTML (``onerror`` sets ``window.__alw_pwned``) and
shows a second widget, ``evil``. ``test_quickstart.py``'s Notebook 7 test appends it to the
quickstart (one kernel, one page load for both) and calls :func:`check_names_are_text`, which
labels a card with the evil class and checks that nothing ran, that no element came from the
names, and that the names are shown as typed.
"""

from __future__ import annotations

EVIL_CLASS = '<img src=x onerror="window.__alw_pwned=1">'
EVIL_ID = "<script>window.__alw_pwned=2</script>"

SOURCE = f"""\
import numpy as np
from alwidget import ActiveLearner, ImagePool, LabelingWidget, datasets

EVIL_CLASS, EVIL_ID = {EVIL_CLASS!r}, {EVIL_ID!r}
digits = datasets.digits()
first = digits.ids[:40]
images = np.stack([digits.image(i) for i in first])
ids = [f"{{EVIL_ID}}{{i}}" if i % 2 else f"{{EVIL_CLASS}}-{{i}}.png" for i in range(40)]
truth = [EVIL_CLASS if int(digits.truth[i]) < 5 else "plain & simple" for i in first]
pool = ImagePool.from_arrays(images, ids=ids, truth=truth, classes=[EVIL_CLASS, "plain & simple"])
learner = ActiveLearner(pool, store="evil_labels.db", mode="embed", train={{"max_steps": 5}}, validation_size=4,
                        validation_from_truth=True, seed=0)
evil = LabelingWidget(learner, k=4)
evil.add_class("alw-evil")
evil
"""

CHECK_JS = """() => {
  const board = document.querySelector('.alw-evil .alw-board');
  return {
    pwned: window.__alw_pwned === undefined ? null : window.__alw_pwned,
    foreignImages: board.querySelectorAll('img:not([src^="blob:"]):not(.alw-image)').length,
    scripts: board.querySelectorAll('script').length,
    ids: [...board.querySelectorAll('.alw-card .alw-id')].map(e => e.textContent),
    buttons: [...board.querySelector('.alw-card').querySelectorAll('.alw-class')].map(b => b.textContent),
    recent: [...board.querySelectorAll('.alw-recent-row')].map(r => r.innerText),
    options: [...board.querySelectorAll('.alw-relabel option')].map(o => o.textContent),
  };
}"""


def check_names_are_text(page, artifacts) -> None:
    """Label a card of the ``evil`` widget (already run in ``page``) and check the names are text."""
    page.wait_for_function("() => document.querySelectorAll('.alw-evil .alw-board .alw-card').length === 4")
    first = page.locator(".alw-evil .alw-board .alw-card").first
    first.scroll_into_view_if_needed()
    first.locator(".alw-class").first.click()  # label it with the evil class
    page.wait_for_function("() => document.querySelectorAll('.alw-evil .alw-recent-row').length >= 1")
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / "evil_names.png"))
    seen = page.evaluate(CHECK_JS)
    assert seen["pwned"] is None and seen["foreignImages"] == 0 and seen["scripts"] == 0, seen
    assert all(i.startswith((EVIL_CLASS, EVIL_ID)) for i in seen["ids"]), seen["ids"]  # shown as typed
    assert seen["buttons"] == [f"1·{EVIL_CLASS}", "2·plain & simple"], seen["buttons"]
    assert any(EVIL_CLASS in row or EVIL_ID in row for row in seen["recent"]), seen["recent"]
    assert EVIL_CLASS in seen["options"]
    assert first.inner_text().count(f"✔ {EVIL_CLASS}") == 1
