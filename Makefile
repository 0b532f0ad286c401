# The two commands of the README: `make demo` and `make test`. Each sets up first.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: setup demo test test-fast browser-setup lab

setup:  ## install alwidget in editable mode with the test tools
	$(PIP) install -q -e ".[dev]"

demo: setup  ## the main job: an active-learning run on scikit-learn's digits (offline)
	$(PYTHON) -m alwidget.demo

test: setup  ## the whole test suite (what CI runs)
	$(PYTHON) -m pytest -q

test-fast: setup  ## the suite without the slow marker
	$(PYTHON) -m pytest -q -m "not slow"

browser-setup:  ## what the browser tests need: Debian chromium (apt-get), playwright, JupyterLab, Notebook 7
	bash tests/browser/install.sh

lab: setup  ## open the quickstart notebook in JupyterLab
	$(PIP) install -q jupyterlab
	$(PYTHON) -m jupyter lab notebooks/01_quickstart.ipynb
