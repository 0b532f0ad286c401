"""The three notebooks run top to bottom under ``pytest --nbval-lax`` with small settings.

Each notebook is copied to a temporary folder (its label store, exports and model land there,
not in the repository) and run by nbval in a separate pytest process with
``ALWIDGET_NB_SMALL=1``: every cell runs, with smaller pools and fewer training steps.
``ALWIDGET_DATA`` (set by CI to the shared datasets) is passed through; without it the
notebooks fall back to scikit-learn's digits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

pytest.importorskip("nbval", reason="the notebook tests need nbval (pip install -e '.[dev]')")


def test_the_three_notebooks_are_there_and_committed_without_outputs():
    import nbformat

    assert [p.name for p in NOTEBOOKS] == ["01_quickstart.ipynb", "02_your_own_images.ipynb",
                                          "03_compare_strategies.ipynb"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), path.name
        # a papermill-style parameter cell reads the small settings from the environment
        assert "parameters" in code[0].metadata.get("tags", []) and "ALWIDGET_NB_SMALL" in code[0].source


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_under_nbval_lax(notebook: Path, tmp_path: Path):
    work = tmp_path / "nb"
    work.mkdir()
    shutil.copy(notebook, work / notebook.name)
    env = dict(os.environ, ALWIDGET_NB_SMALL="1", PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    env.pop("ALWIDGET_IMAGE_DIR", None)  # notebook 02 makes its own demo folder
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=600",
           "-p", "no:cacheprovider", "-q", "-o", "addopts=", notebook.name]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=880)
    assert proc.returncode == 0, f"{notebook.name} failed under nbval:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_binder_environment_installs_what_the_package_needs():
    """binder/ must keep up with pyproject: every runtime dependency, CPU-only torch, anywidget."""
    import re
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0].lower() for d in deps}
    lines = [ln.strip() for ln in (ROOT / "binder" / "requirements.txt").read_text().splitlines()]
    binder = {re.split(r"[<>=!~ \[;]", ln, maxsplit=1)[0].lower() for ln in lines if ln and not ln.startswith(("#", "-"))}
    assert names <= binder, f"binder/requirements.txt misses {sorted(names - binder)}"
    assert {"anywidget", "jupyterlab"} <= binder  # plotly's FigureWidget renders through anywidget
    assert any("download.pytorch.org/whl/cpu" in ln for ln in lines)  # CPU-only torch wheels
    post = (ROOT / "binder" / "postBuild")
    assert os.access(post, os.X_OK) and "pip install" in post.read_text()
