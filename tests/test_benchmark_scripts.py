"""Smoke tests: the speed benchmarks run in --quick mode (in this process) and print well-formed tables."""

from __future__ import annotations

import re

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

SUBPROCESS = {"strategy_speed.py"}
"""Scripts run in a fresh interpreter: their figures include the process's own memory (tracing
every allocation of the whole test process took 18 s instead of 5)."""


@pytest.fixture
def _run(run_script):
    """``_run([script, *args])``: the script's output, run in this process (see ``run_script``)."""

    def run(args):
        if Path(args[0]).name in SUBPROCESS:
            res = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=300)
            assert res.returncode == 0, res.stderr[-3000:]
            return res.stdout
        code, out, err = run_script(args[0], args[1:])
        assert code == 0, (out[-2000:], err[-3000:])
        return out

    return run


def _table_rows(text):
    return [line for line in text.splitlines() if line.startswith("|") and not line.startswith("|---")]


@pytest.mark.slow
def test_cycle_speed_quick(_run, data_dir):
    out = _run([str(BENCH / "cycle_speed.py"), "--quick", "--data", str(data_dir)])
    grid, growth = out.split("Growth with the pool")
    grid, semi = grid.split("semi mode, the one-time and background steps")
    header, *rows = _table_rows(grid)
    assert "total s" in header and len(rows) == 6  # semi, embed and finetune, pools 300 and 600
    header, *slow = _table_rows(semi)
    assert "representation s" in header and "slow cycle s" in header and len(slow) == 2
    for row in slow:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] in ("300", "600") and float(cells[2]) > 0 and float(cells[4]) > 0
    totals = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] in ("semi", "embed", "finetune") and cells[1] in ("300", "600") and cells[2] == "60"
        assert float(cells[8]) > 0 and cells[10].endswith("%")
        totals[cells[0], int(cells[1])] = float(cells[8])
    header, *lines = _table_rows(growth)
    assert "s per 10,000 images" in header and len(lines) == 3
    for line in lines:  # the slope is the line through the two points of the grid
        cells = [c.strip() for c in line.strip("|").split("|")]
        mode, slope = cells[0], float(cells[4])
        expected = (totals[mode, 600] - totals[mode, 300]) / 0.03
        assert slope == pytest.approx(expected, abs=0.4 + 0.05 * abs(expected))  # totals shown to 0.01 s


@pytest.mark.slow
def test_strategy_speed_quick(_run):
    out = _run([str(BENCH / "strategy_speed.py"), "--quick"])
    rows = _table_rows(out)[1:]
    names = [r.strip("|").split("|")[0].strip() for r in rows]
    assert names == ["BatchBALD", "core-set", "BADGE"]
    for row in rows:  # timed (not zero) and within the strategy's time target ("≤ 5 s")
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert 0 < float(cells[2]) <= float(cells[3].split()[1]), cells


@pytest.mark.slow
def test_widget_refresh_quick(_run):
    out = _run([str(BENCH / "widget_refresh.py"), "--quick"])
    rows = [line for line in out.splitlines() if "refreshed grid" in line and "batch " in line and "labels)" in line]
    assert len(rows) == 4  # digits, finetune and embed, 2 batches each
    for row in rows:
        next_ms = float(row.split("next batch")[1].split("ms")[0])
        refreshed = float(row.split("refreshed grid")[1].split(" s")[0])
        assert 0 < next_ms < 1000 * refreshed  # the next batch shows before the cycle's refresh
    assert "medians per dataset and mode" in out


@pytest.mark.slow
def test_photo_folder_quick(_run, data_dir):
    out = _run([str(BENCH / "photo_folder.py"), "--quick", "--data", str(data_dir)])
    assert "120 JPEG photos" in out and "image_size=32 px" in out  # photos shrunk to the compute budget
    header, *rows = _table_rows(out)
    assert header.startswith("| step |") and len(rows) == 5
    seconds = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        seconds[cells[0].split(" (")[0].split(":")[0]] = [float(x) for x in re.findall(r"[\d.]+", cells[1])]
    ready, build = seconds["representation ready"]  # "6 (build 3)": the build is part of it
    assert 0 < build <= ready
    # a cycle on the learned representation costs a fraction of learning it (a ratio in one run)
    assert 0 < seconds["fast cycle"][0] < ready and 0 < seconds["first cycle"][0] < ready
