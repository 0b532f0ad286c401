"""The widget in a real JupyterLab 4 and Chromium: it renders, keys reach it, clicks label.

Skipped unless JupyterLab, Playwright (``pip install -e '.[browser]'``) and a Chromium
(``apt-get install chromium``, or ``ALWIDGET_CHROMIUM=/path``) are present. It checks what a
kernel-side test cannot: the cards show crisp images, a number key typed over the grid labels a
card instead of reaching JupyterLab (in command mode ``3`` would turn the cell into a heading),
the plots draw, and a background cycle updates the page.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]


def _chromium() -> str:
    for candidate in (os.environ.get("ALWIDGET_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("no Chromium found (apt-get install chromium, or set ALWIDGET_CHROMIUM)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_labels(db: Path) -> list:
    con = sqlite3.connect(str(db), timeout=10)
    try:
        rows = con.execute("SELECT seq, item_id, label, split, source, kind, target_seq FROM events ORDER BY seq").fetchall()
    finally:
        con.close()
    undone = {r[6] for r in rows if r[5] == "undo"}
    return [(r[1], r[2], r[4]) for r in rows if r[5] == "set" and r[0] not in undone and r[3] == "train"]


@pytest.fixture
def lab(tmp_path):
    pytest.importorskip("jupyterlab", reason="needs JupyterLab (pip install -e '.[browser]')")
    pytest.importorskip("playwright.sync_api", reason="needs Playwright (pip install -e '.[browser]')")
    browser_path = _chromium()
    import nbformat

    db = tmp_path / "labels.db"
    source = f"""import warnings
warnings.simplefilter("ignore")
from alwidget import ActiveLearner, LabelingWidget, datasets
pool = datasets.digits()
pool = pool.subset(pool.ids[:200])
learner = ActiveLearner(pool, store={str(db)!r}, validation_from_truth=True, train={{"max_steps": 20}},
                        mode="embed", seed=0)
w = LabelingWidget(learner, k=8, simulate=True)
w"""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, tmp_path / "check.ipynb")
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"))
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
                             "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=alwtest",
                             f"--ServerApp.root_dir={tmp_path}", "--allow-root", "--LabApp.news_url=None"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.skip(f"JupyterLab did not start: {(tmp_path / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/lab/tree/check.ipynb?token=alwtest", db, browser_path, tmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_widget_renders_and_takes_keys_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    url, db, browser_path, tmp_path = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            page.goto(url)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            # wait for the kernel, then run the cell
            page.wait_for_function("() => document.body.innerText.includes('Python 3 (ipykernel) | Idle')",
                                   timeout=90_000)
            page.click(".jp-Cell .jp-InputArea-editor")
            page.keyboard.press("Shift+Enter")
            try:
                page.wait_for_selector(".alw-card img", timeout=120_000)
            except Exception:
                page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)
                raise AssertionError(f"the widget did not render; see {tmp_path / 'failed.png'} and "
                                     f"{tmp_path / 'lab.log'}")
            page.wait_for_timeout(1000)
            assert len(page.query_selector_all(".alw-card")) == 8
            rendering = page.eval_on_selector(".alw-card img", "e => getComputedStyle(e).imageRendering")
            assert rendering in ("pixelated", "crisp-edges")
            assert len(page.query_selector_all(".js-plotly-plot")) == 2

            # keys over the grid go to the widget, not to JupyterLab
            cells = len(page.query_selector_all(".jp-Cell"))
            page.hover(".alw-keyboard")
            page.wait_for_timeout(500)
            page.keyboard.press("3")

            def wait_for(predicate, timeout=20.0):
                end = time.monotonic() + timeout
                while time.monotonic() < end:
                    value = predicate()
                    if value:
                        return value
                    page.wait_for_timeout(200)
                return predicate()

            assert wait_for(lambda: [x for x in _train_labels(db) if x[1] == "3"])
            assert "jp-CodeCell" in page.eval_on_selector(".jp-Cell", "e => e.className")  # not a heading now
            page.keyboard.press("Backspace")  # undo, not "delete cell" / browser back
            assert wait_for(lambda: not _train_labels(db))
            assert len(page.query_selector_all(".jp-Cell")) == cells

            # a click on a class button labels that card
            page.query_selector_all(".alw-card")[2].query_selector("button:text-is('7')").click()
            assert wait_for(lambda: [x for x in _train_labels(db) if x[1] == "7" and x[2] == "human"])

            # the oracle answers the rest; Enter submits and trains in the background
            page.hover(".alw-keyboard")
            page.keyboard.press("o")
            page.keyboard.press("Enter")
            page.wait_for_function("() => document.querySelector('.alw-widget').innerText.includes('cycle 1:')",
                                   timeout=120_000)
            assert page.eval_on_selector_all(".js-plotly-plot .bars path", "els => els.length") > 0
            page.screenshot(path=str(tmp_path / "widget.png"), full_page=True)
        finally:
            browser.close()
