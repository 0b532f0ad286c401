"""Fixtures for the browser tests: Jupyter and Voila servers on 127.0.0.1 and headless Debian Chromium.

Each server runs in a temporary folder with its own config, data, runtime, settings and
workspace folders (nothing is read from or written to ``~/.jupyter``), a known token, no
news or update checks (the announcements plugin is disabled), and ``ALWIDGET_NB_SMALL=1``
so the notebook runs with its small settings. Chromium is Debian's ``/usr/bin/chromium``
driven by Playwright for Python; ``tests/browser/install.sh`` installs all of it.

The pages are offline by construction: every request and websocket to a host other than
127.0.0.1 / localhost is aborted and recorded in ``page.offsite``, and a test whose page
made one fails with the list (see :func:`page`).

The tests skip, with the reason, when chromium, playwright, jupyterlab or notebook is missing
(the ``voila`` fixture also when voila is).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.error import HTTPError
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
TOKEN = "alwidget-browser-test"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
# what ``page`` intercepts: any URL but http(s) / ws(s) on a loopback host (and data: / blob:, which are
# not network requests). Playwright matches a pattern in the browser, so local traffic is not
# intercepted at all (no Python round trip per request); the handler checks the host once more.
OFFSITE_URL = re.compile(r"^(?!(?:https?|wss?)://(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?(?:[/?#]|$))(?!(?:data|blob):)")
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


def is_offsite(url: str) -> bool:
    """Whether a page's request for ``url`` would leave this machine (not 127.0.0.1 / localhost / ::1)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return False
    return parts.hostname not in LOCAL_HOSTS


def _isolated_env(home: Path) -> Dict[str, str]:
    """The environment of a server over ``home``: its own Jupyter folders, the small notebook settings.

    ``JUPYTER_CONFIG_DIR``, ``JUPYTER_DATA_DIR``, ``JUPYTER_RUNTIME_DIR``, ``IPYTHONDIR``,
    ``JUPYTERLAB_SETTINGS_DIR`` and ``JUPYTERLAB_WORKSPACES_DIR`` point into ``home``; the page
    config there disables the announcements plugin (no news toast, no news fetch: Lab and
    Notebook 7 read it); ``ALWIDGET_NB_SMALL=1``; no ``ALWIDGET_NB_STORE`` (the notebook's store
    lands next to it); the repository first on ``PYTHONPATH``.
    """
    env = dict(os.environ)
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                     ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    (home / "config" / "labconfig").mkdir(exist_ok=True)
    (home / "config" / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    env["ALWIDGET_NB_SMALL"] = "1"
    env.pop("ALWIDGET_NB_STORE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()  # the server shuts its kernels down
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_until_answering(server, url: str, name: str, timeout: float, http_error_is_up: bool = False) -> None:
    """Wait until ``url`` answers (an HTTP error counts when ``http_error_is_up``); stop ``server``
    and raise with its log's tail if it exits or stays silent for ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{name} exited ({server.proc.returncode}):\n{server.log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except HTTPError:
            if http_error_is_up:
                return
            time.sleep(0.25)
        except OSError:
            time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"{name} did not answer within {timeout:.0f} s:\n{server.log.read_text()[-3000:]}")


class JupyterServer:
    """A ``jupyter lab`` or ``jupyter notebook`` server over a temporary folder."""

    def __init__(self, app: str, work: Path, home: Path) -> None:
        self.app, self.work, self.home = app, work, home
        self.port = _free_port()
        self.token = TOKEN
        self.log = home / f"{app}-server.log"
        env = _isolated_env(home)
        cmd = [sys.executable, "-m", "jupyter", app, "--no-browser", "--allow-root", "--ip=127.0.0.1",
               f"--port={self.port}", "--ServerApp.port_retries=0", f"--ServerApp.token={self.token}",
               "--ServerApp.password=", f"--ServerApp.root_dir={work}",
               "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if app == "notebook":  # Notebook 7 has no such options; the page config turns its news off
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
        _wait_until_answering(self, self.url("api/status"), f"jupyter {self.app}", timeout)

    def stop(self) -> None:
        _stop(self.proc)
        self._log.close()


# Voila's "lab" template links Font Awesome 5 from a CDN (two <link rel="stylesheet"> in
# voila/templates/lab/index.html.j2) although Voila's own bundle already carries Font Awesome
# 5.15.4 with its fonts: icons show without them. VOILA_TEMPLATE is a copy of that template
# without the two links, written into the server's own data folder.
VOILA_TEMPLATE = "lab-offline"
_CDN_LINK = re.compile(r"^\s*<link[^>]*https://cdn\.jsdelivr\.net/npm/@fortawesome/[^>]*>\s*\n", re.MULTILINE)


def _offline_lab_template(data_dir: Path) -> List[str]:
    """Write the ``lab-offline`` Voila template into ``data_dir``; returns the links it dropped."""
    from jupyter_core.paths import jupyter_path

    source = next(Path(d) / "index.html.j2" for d in jupyter_path("voila", "templates", "lab")
                  if (Path(d) / "index.html.j2").is_file())
    text = source.read_text(encoding="utf-8")
    dropped = [m.group(0).strip() for m in _CDN_LINK.finditer(text)]
    folder = data_dir / "voila" / "templates" / VOILA_TEMPLATE
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "conf.json").write_text(json.dumps({"base_template": "lab"}))  # the rest comes from "lab"
    (folder / "index.html.j2").write_text(_CDN_LINK.sub("", text), encoding="utf-8")
    return dropped


class VoilaServer:
    """``voila <notebook>`` on 127.0.0.1: a copy of the notebook in a temporary folder, as a dashboard.

    Voila runs the notebook, in a fresh kernel, each time its page is requested, and streams the
    page while the cells run: the page's ``load`` event comes only once the last cell has run
    (the small quickstart: about 30 s on an idle machine, up to 90 s on a busy one), and its
    widgets render a few seconds after that. Use :meth:`open`, or ``page.goto(server.url(),
    wait_until="commit")`` and a long wait for what the test looks for. The copy's folder
    (``work``) is the working directory of every kernel: the notebook's label store and cache
    land there and persist from one page load to the next.

    Options, beside the environment of :func:`_isolated_env`: no token (Voila has none by
    default); no per-cell time limit by Voila's default (``VoilaExecutor.timeout`` is None), so
    ``cell_timeout`` (seconds) sets one, after which Voila shows a timeout error in the page and
    stops the run; kernels whose page went away are culled after two idle minutes (Voila's own
    shutdown on ``beforeunload`` is refused with "'_xsrf' argument missing", voila#1458); the
    Notebook 7 lab extension, which fails to load in Voila's page, is not loaded; the template is
    ``template`` (default :data:`VOILA_TEMPLATE`, the "lab" template without its CDN links; pass
    ``"lab"`` for Voila's stock page).
    """

    def __init__(self, notebook: Path, home: Path, *, template: str = VOILA_TEMPLATE,
                 cell_timeout: float = 300.0) -> None:
        self.home, self.work = home, home / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.notebook = self.work / Path(notebook).name
        shutil.copy(notebook, self.notebook)
        self.port = _free_port()
        self.template = template
        self.log = home / f"voila-{self.notebook.stem}-{template}.log"
        env = _isolated_env(home)
        self.dropped_links = _offline_lab_template(home / "data") if template == VOILA_TEMPLATE else []
        cmd = [sys.executable, "-m", "voila", self.notebook.name, "--no-browser", "--Voila.ip=127.0.0.1",
               f"--port={self.port}", "--Voila.port_retries=0", f"--Voila.connection_dir_root={home / 'runtime'}",
               f"--template={template}", "--show_tracebacks=True",
               f"--VoilaExecutor.timeout={int(cell_timeout)}",
               "--VoilaConfiguration.extension_denylist=@jupyter-notebook/lab-extension",
               "--MappingKernelManager.cull_idle_timeout=120", "--MappingKernelManager.cull_interval=30"]
        self._log = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, env=env, cwd=self.work, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_up()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "") -> str:
        """The dashboard (``""``) or another path on the server; each request of the dashboard runs the notebook."""
        return f"{self.base}/{path.lstrip('/')}"

    def open(self, page, timeout_s: float = 300.0) -> float:
        """Load the dashboard in ``page`` until the run notebook is in it (``load``); returns the seconds taken."""
        t0 = time.monotonic()
        page.goto(self.url(), wait_until="commit", timeout=timeout_s * 1000)
        page.wait_for_load_state("load", timeout=max(1.0, timeout_s - (time.monotonic() - t0)) * 1000)
        return time.monotonic() - t0

    def _wait_up(self, timeout: float = 90.0) -> None:
        # any HTTP answer from a path that is not the dashboard (which would run the notebook)
        _wait_until_answering(self, self.url("voila/static/"), "voila", timeout, http_error_is_up=True)

    def stop(self) -> None:
        _stop(self.proc)
        self._log.close()


class MarimoServer:
    """``marimo run`` or ``marimo edit`` of a copy of a marimo notebook, on 127.0.0.1, no token.

    The copy lands in ``home / "work"``, the working directory of the notebook's kernel (its
    label store and cache land there). ``marimo run`` runs every cell when the page connects;
    ``marimo edit`` (0.25) waits for its *run* button. marimo renders each anywidget in a shadow
    root: the page's ``document.querySelector`` does not see into it (Playwright's locators do;
    see ``DEEP_JS`` in ``test_marimo.py``). No update check (``--skip-update-check``, ``edit``).
    """

    def __init__(self, notebook: Path, home: Path, how: str) -> None:
        if how not in ("run", "edit"):
            raise ValueError(f"how must be 'run' or 'edit', got {how!r}")
        self.home, self.work, self.how = home, home / "work", how
        self.work.mkdir(parents=True, exist_ok=True)
        self.notebook = self.work / Path(notebook).name
        shutil.copy(notebook, self.notebook)
        self.port = _free_port()
        self.log = home / f"marimo-{how}-{self.notebook.stem}.log"
        env = _isolated_env(home)
        env["MARIMO_SKIP_UPDATE_CHECK"] = "1"
        cmd = [sys.executable, "-m", "marimo", how, self.notebook.name, "--headless", "--no-token",
               "--host", "127.0.0.1", "-p", str(self.port)]
        if how == "edit":
            cmd.append("--skip-update-check")
        self._log = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, env=env, cwd=self.work, stdout=self._log, stderr=subprocess.STDOUT)
        _wait_until_answering(self, self.url("health"), f"marimo {how}", 90.0, http_error_is_up=True)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def stop(self) -> None:
        _stop(self.proc)
        self._log.close()


@pytest.fixture(scope="session")
def marimo(tmp_path_factory) -> Iterator[Any]:
    """``marimo(notebook, how)``: a started :class:`MarimoServer` (``how``: ``"run"`` or ``"edit"``).

    Skips when marimo is not installed. At the end each server stops and its log goes to ``artifacts/``.
    """
    if importlib.util.find_spec("marimo") is None:
        pytest.skip(f"python package marimo is not installed; {INSTALL}")
    servers: List[MarimoServer] = []

    def start(notebook: Path, how: str) -> MarimoServer:
        server = MarimoServer(Path(notebook), tmp_path_factory.mktemp(f"marimo-{how}"), how)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
        shutil.copy(server.log, ARTIFACTS / server.log.name) if ARTIFACTS.is_dir() else None


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
def voila(tmp_path_factory) -> Iterator[Any]:
    """``voila(notebook, template=VOILA_TEMPLATE, cell_timeout=300.0)``: a started :class:`VoilaServer`.

    One server per notebook file and template per session, each over its own temporary folder
    with a copy of ``notebook`` (write a variant anywhere, e.g. in ``tmp_path``, and pass that).
    Skips when voila is not installed. At the end each server stops (its kernels with it) and its
    log goes to ``artifacts/``.
    """
    if importlib.util.find_spec("voila") is None:
        pytest.skip(f"python package voila is not installed; {INSTALL}")
    servers: Dict[Tuple[Path, str], VoilaServer] = {}

    def start(notebook: Path, *, template: str = VOILA_TEMPLATE, cell_timeout: float = 300.0) -> VoilaServer:
        key = (Path(notebook).resolve(), template)
        if key not in servers:
            home = tmp_path_factory.mktemp(f"voila-{Path(notebook).stem}")
            servers[key] = VoilaServer(Path(notebook), home, template=template, cell_timeout=cell_timeout)
        return servers[key]

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
    """A fresh page (1400 × 1000), offline by construction; console errors are kept in ``page.errors``.

    Every request of the page's context to a host other than 127.0.0.1 / localhost / ::1 is
    aborted (``net::ERR_BLOCKED_BY_CLIENT`` in the page) and its URL appended to
    ``page.offsite``; websockets likewise (``route_web_socket``: never connected, closed; and any
    other seen by ``page.on("websocket")`` is recorded). data: and blob: URLs are no requests.
    A test whose page made any such request fails with the list (:func:`pytest_runtest_call`);
    one made after the test body, during teardown, makes the teardown fail.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    offsite: List[str] = []

    def block(route) -> None:
        url = route.request.url
        if is_offsite(url):
            offsite.append(url)
            route.abort("blockedbyclient")
        else:
            route.fallback()

    def block_websocket(ws) -> None:  # not connected to any server
        offsite.append(ws.url)
        ws.close()

    def seen_websocket(ws) -> None:
        if is_offsite(ws.url) and ws.url not in offsite:
            offsite.append(ws.url)

    context.route(OFFSITE_URL, block)
    context.route_web_socket(OFFSITE_URL, block_websocket)
    page = context.new_page()
    page.offsite = offsite
    page.offsite_reported = 0  # how many of them pytest_runtest_call has reported
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("websocket", seen_websocket)
    page.set_default_timeout(60_000)
    yield page
    if getattr(request.node, "rep_call_failed", False):
        page.screenshot(path=str(artifacts / f"{request.node.name}-failure.png"))
    context.close()
    late = offsite[page.offsite_reported:]
    if late:
        pytest.fail(_offsite_message(late, "while the page closed"), pytrace=False)


def _offsite_message(urls: List[str], when: str) -> str:
    lines = "\n".join(f"  {u}" for u in urls)
    return f"the page requested {len(urls)} URL(s) off 127.0.0.1/localhost {when} (aborted):\n{lines}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After the test body: a page that requested anything off this machine fails the test, with the list."""
    try:
        result = yield
    finally:
        page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
        urls = list(getattr(page, "offsite", ()) or ())
        if urls:
            item.add_report_section("call", "offsite requests", "\n".join(urls))
            page.offsite_reported = len(urls)
    if urls:
        pytest.fail(_offsite_message(urls, "during the test"), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.when == "call":
        item.rep_call_failed = rep.failed
    return rep
