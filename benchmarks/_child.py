"""Run a benchmark's measurement in a fresh interpreter (clean memory figures, no state carried
between rows) and read back the JSON line it prints last."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Optional, Sequence


def run_json(cmd: Sequence[str]) -> Optional[dict]:
    """Run ``cmd`` and return the JSON object on its last line of output; on failure print the
    end of its error output and return ``None``."""
    res = subprocess.run(list(cmd), capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])
