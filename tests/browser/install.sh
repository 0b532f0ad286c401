#!/usr/bin/env bash
# Install what tests/browser needs, when it is missing:
#   Debian's chromium (apt-get), and from PyPI playwright (>=1.48: the page fixture routes
#   websockets), jupyterlab, notebook>=7, voila and marimo (>=0.25: renders plotly 6+ FigureWidgets).
# Idempotent and quiet; a second run only checks (well under a second).
# Playwright drives /usr/bin/chromium: `playwright install` (a browser download) is never run.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "tests/browser/install.sh: installing Debian chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

missing="$("$PYTHON" - <<'PY'
import importlib.metadata as md

def version(name):
    try:
        return tuple(int(p) for p in md.version(name).split(".")[:2] if p.isdigit())
    except md.PackageNotFoundError:
        return None

want = {"playwright": (1, 48), "jupyterlab": (4, 1), "notebook": (7, 0), "voila": (0, 5), "marimo": (0, 25)}
print(" ".join(f"{name}>={'.'.join(map(str, low))}" for name, low in want.items()
               if version(name) is None or version(name) < low))
PY
)"
if [ -n "$missing" ]; then
  echo "tests/browser/install.sh: pip install $missing" >&2
  # shellcheck disable=SC2086
  "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore $missing \
    2> >(grep -v "^WARNING: Location '.*' is ignored" >&2)
fi
