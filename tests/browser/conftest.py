"""Fixtures for the browser tests: a Jupyter server on 127.0.0.1 and headless Debian Chromium.

Each server runs in a temporary folder with its own config, data, runtime, settings and
workspace folders (nothing is read from or written to ``~/.jupyter``), a known token, no
news or update checks (the announcements plugin is disabled), and ``ALWIDGET_NB_SMALL=1``
so the notebook runs with its small settings. Chromium is Debian's ``/usr/bin/chromium``
driven by Playwright for Python; ``tests/browser/install.sh`` installs all of it.

The tests skip, with the reason, when chromium, playwright, jupyterlab or notebook is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
TOKEN = "alwidget-browser-test"
INSTALL = "run tests/browser/install.sh"


def _missing() -> Optional[str]:
    if not CHROMIUM.exists():
        return f"Debian chromium not found at {CHROMIUM}; {INSTALL}"
    for module, package in (("playwright", "playwright"), ("jupyterlab", "jupyterlab"), ("notebook", "notebook>=7")):
        if importlib.util.find_spec(module) is None:
            return f"python package {package} is not installed; {INSTALL}"
    from importlib.metadata import version

    if int(version("notebook").split(".")[0]) < 7:
        return f"notebook {version('notebook')} is installed, Notebook 7 is needed; {INSTALL}"
    return None


MISSING = _missing()


def pytest_collection_modifyitems(config, items):
    if MISSING is None:
        return
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.skip(reason=MISSING))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """A ``jupyter lab`` or ``jupyter notebook`` server over a temporary folder."""

    def __init__(self, app: str, work: Path, home: Path) -> None:
        self.app, self.work, self.home = app, work, home
        self.port = _free_port()
        self.token = TOKEN
        self.log = home / f"{app}-server.log"
        env = dict(os.environ)
        for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                         ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                         ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")):
            (home / sub).mkdir(parents=True, exist_ok=True)
            env[var] = str(home / sub)
        # no "get notified about Jupyter news?" toast, no news fetch (Lab and Notebook 7 read this)
        (home / "config" / "labconfig").mkdir(exist_ok=True)
        (home / "config" / "labconfig" / "page_config.json").write_text(json.dumps(
            {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
        env["ALWIDGET_NB_SMALL"] = "1"
        env.pop("ALWIDGET_NB_STORE", None)  # the notebook's store lands next to it, in ``work``
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [sys.executable, "-m", "jupyter", app, "--no-browser", "--allow-root", "--ip=127.0.0.1",
               f"--port={self.port}", "--ServerApp.port_retries=0", f"--ServerApp.token={self.token}",
               "--ServerApp.password=", f"--ServerApp.root_dir={work}",
               "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if app == "notebook":  # Notebook 7 has no such options; the page config above turns its news off
            cmd = [c for c in cmd if not c.startswith("--LabApp.")]
        self._log = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, env=env, cwd=work, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_up()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}?token={self.token}"

    def _wait_up(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter {self.app} exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(self.url("api/status"), timeout=2).read()
                return
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"jupyter {self.app} did not answer within {timeout:.0f} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # the server shuts its kernels down
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def jupyter(tmp_path_factory) -> Iterator[Any]:
    """``jupyter(app)``: a started server (``"lab"`` or ``"notebook"``), one per app per session."""
    servers: Dict[str, JupyterServer] = {}

    def start(app: str) -> JupyterServer:
        if app not in servers:
            home = tmp_path_factory.mktemp(f"jupyter-{app}")
            work = home / "work"
            work.mkdir()
            servers[app] = JupyterServer(app, work, home)
        return servers[app]

    yield start
    for server in servers.values():
        server.stop()
        shutil.copy(server.log, ARTIFACTS / server.log.name) if ARTIFACTS.is_dir() else None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (no ``playwright install``: none is possible here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, artifacts, request) -> Iterator[Any]:
    """A fresh page (1400 × 1000) whose console errors are kept in ``page.errors``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.set_default_timeout(60_000)
    yield page
    if getattr(request.node, "rep_call_failed", False):
        page.screenshot(path=str(artifacts / f"{request.node.name}-failure.png"))
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.when == "call":
        item.rep_call_failed = rep.failed
    return rep
