"""Shared fixtures: small real pools and fast training settings."""

from __future__ import annotations

import os
import signal
import subprocess
import warnings
from pathlib import Path

import pytest

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"

# tests never contact a model hub: backbone="auto" then falls back at once (tests of the probe
# itself unset this and make the connection hang, see tests/model/test_pretrained.py)
os.environ["HF_HUB_OFFLINE"] = "1"

FAST_TRAIN = {"max_steps": 40, "patience": 0}
"""Training settings that keep one cycle on a few hundred digits under a second or two."""


@pytest.fixture(scope="session")
def digits_pool():
    """scikit-learn's 1,797 digits as an ImagePool with truth."""
    from alwidget import datasets

    return datasets.digits()


@pytest.fixture(scope="session")
def small_pool(digits_pool):
    """The first 300 digits."""
    return digits_pool.subset(digits_pool.ids[:300])


def composed(opts: dict) -> dict:
    """The suite's shorthands, handed to the components that own them: ``image_size``,
    ``pretrained`` and ``weights`` to a :class:`~alwidget.Backbone`, ``mc_samples`` to the
    estimator's ``n_samples``, by the learner's own folding of them (``ActiveLearner`` takes them
    flat only with a ``FutureWarning``, tested in ``tests/test_recipes.py``)."""
    from alwidget._deprecated import BACKBONE_FIELDS, moved_settings

    opts = dict(opts)
    if any(k in opts for k in (*BACKBONE_FIELDS, "mc_samples")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # the suite writes them flat on purpose
            opts["backbone"], opts["uncertainty"] = moved_settings(opts, opts.get("backbone", "auto"),
                                                                   opts.get("uncertainty", "mc_dropout"))
    return opts


@pytest.fixture
def learners():
    """``learners(pool, defaults, **kwargs)``: an ActiveLearner on ``pool`` with ``defaults``
    overridden by ``kwargs`` (its UserWarnings silenced); every learner is closed after the test.
    Unless ``mode`` is given, the learner trains from scratch (``mode="finetune"``): most tests
    check the session's behaviour, not the representation (``tests/test_learner_semi.py`` does)."""
    from alwidget import ActiveLearner

    made = []

    def make(pool, defaults, **kwargs):
        opts = dict(mode="finetune")
        opts.update(defaults)
        opts.update(kwargs)
        opts = composed(opts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            learner = ActiveLearner(pool, **opts)
        made.append(learner)
        return learner

    yield make
    for learner in made:
        learner.close()


@pytest.fixture
def make_learner(small_pool, learners):
    """``make_learner(**kwargs)``: a learner on 300 digits with fast settings, closed afterwards."""

    def make(pool=None, **kwargs):
        defaults = dict(train=dict(FAST_TRAIN), image_size=16, mc_samples=8, validation_size=30)
        return learners(pool if pool is not None else small_pool, defaults, **kwargs)

    return make


@pytest.fixture
def label_then_kill():
    """``label_then_kill(args, n_acks, env=None)``: run the writer command ``args`` (it prints
    ``ready``, then one ``ack <item> <label>`` line per saved label), SIGKILL it after ``n_acks``
    acknowledgements and return ``{item: label}`` of the acknowledged labels."""

    def run(args, n_acks, env=None):
        child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        acked = {}
        try:
            assert child.stdout.readline().strip() == "ready", child.stderr.read()
            while len(acked) < n_acks:
                line = child.stdout.readline()
                assert line, f"writer ended early: {child.stderr.read()}"
                _, item, label = line.split()
                acked[item] = label
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        return acked

    return run


@pytest.fixture
def oracle():
    """``oracle(learner, ids)``: label ``ids`` from the pool's truth."""

    def teach(learner, ids):
        learner.teach(ids, [learner.pool.truth[i] for i in ids], source="oracle")

    return teach


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets folder (env ALWIDGET_DATA or the repo's sibling shared/datasets)."""
    path = Path(os.environ.get("ALWIDGET_DATA") or DEFAULT_DATA)
    if not (path / "fashion-mnist").is_dir():
        pytest.skip(f"real datasets not found at {path}; set ALWIDGET_DATA")
    return path


_LEFT_RUNNING: list = []
"""``(test id, thread names)`` of tests whose background work had to be stopped after them."""


@pytest.fixture(autouse=True)
def _no_background_work_outlives_its_test(request):
    """A learner a test drops keeps no thread busy in the tests after it: threads that compete
    for the cores slow the suite and change the thread counts other tests' seeded runs see.
    Dropped learners are collected (their finalizer cancels the representation build) and the
    threads joined; a thread that is still alive then fails the test."""
    import gc
    import threading

    before = set(threading.enumerate())
    yield

    def ours():
        return [t for t in threading.enumerate() if t not in before and t.name.startswith("alwidget-") and t.is_alive()]

    if not ours():
        return
    names = sorted(t.name for t in ours())
    gc.collect()
    for t in ours():
        t.join(120)
    _LEFT_RUNNING.append((request.node.nodeid, names))
    alive = ours()
    assert not alive, f"background work still running after the test: {[t.name for t in alive]}"


def pytest_terminal_summary(terminalreporter):
    if _LEFT_RUNNING:
        terminalreporter.section("background work stopped after tests")
        for nodeid, names in _LEFT_RUNNING:
            terminalreporter.write_line(f"{nodeid}: {', '.join(names)}")


@pytest.fixture
def run_script(monkeypatch):
    """``run_script(path, argv, env={}, cwd=None) -> (exit code, stdout, stderr)``: a benchmark
    script run as ``__main__`` in this process (one torch import for all the smoke tests, not one
    interpreter each). What a script may change for the tests after it is put back: ``sys.argv``,
    ``sys.path``, the environment, the working directory, warnings filters, torch's thread count
    and the global torch and NumPy generators. Scripts whose figures are this process's memory,
    or that start Ray, run in a subprocess instead."""
    import contextlib
    import io
    import runpy
    import sys

    import numpy as np
    import torch

    def run(path, argv, env=None, cwd=None):
        out, err = io.StringIO(), io.StringIO()
        threads, torch_rng, np_rng = torch.get_num_threads(), torch.get_rng_state(), np.random.get_state()
        with monkeypatch.context() as m, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.setattr(sys, "argv", [str(path), *map(str, argv)])
            m.setattr(sys, "path", [str(Path(path).parent), *sys.path])
            for key, value in (env or {}).items():
                m.setenv(key, str(value))
            if cwd is not None:
                m.chdir(cwd)
            code = 0
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    runpy.run_path(str(path), run_name="__main__")
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if not isinstance(exc.code, (int, type(None))):
                    err.write(str(exc.code))
            finally:
                torch.set_num_threads(threads)
                torch.set_rng_state(torch_rng)
                np.random.set_state(np_rng)
        return code, out.getvalue(), err.getvalue()

    return run
