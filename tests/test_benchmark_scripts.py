"""Smoke tests: the speed benchmarks run in --quick mode and print well-formed tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(args, timeout=300):
    res = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def _table_rows(text):
    return [line for line in text.splitlines() if line.startswith("|") and not line.startswith("|---")]


@pytest.mark.slow
def test_cycle_speed_quick(data_dir):
    out = _run([str(BENCH / "cycle_speed.py"), "--quick", "--data", str(data_dir)])
    header, *rows = _table_rows(out)
    assert "total s" in header and len(rows) == 2  # embed and finetune
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] in ("embed", "finetune") and cells[1] == "600" and cells[2] == "60"
        assert float(cells[8]) > 0 and cells[10].endswith("%")


@pytest.mark.slow
def test_strategy_speed_quick():
    out = _run([str(BENCH / "strategy_speed.py"), "--quick"])
    rows = _table_rows(out)[1:]
    names = [r.strip("|").split("|")[0].strip() for r in rows]
    assert names == ["BatchBALD", "core-set", "BADGE"]
    assert all(float(r.strip("|").split("|")[2]) >= 0 for r in rows)
