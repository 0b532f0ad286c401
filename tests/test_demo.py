"""``make demo`` (``python -m alwidget.demo``): the README's first command, on a small budget."""

from __future__ import annotations

import re

import pytest

from alwidget import demo


@pytest.mark.slow
def test_demo_runs_margin_against_random_and_reports_both(monkeypatch, capsys):
    monkeypatch.setenv("ALWIDGET_DEMO_BUDGET", "50")
    monkeypatch.setenv("ALWIDGET_DEMO_STEP", "25")
    monkeypatch.setenv("ALWIDGET_DEMO_SEEDS", "1")
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    assert "pool 1348, test 449" in out  # digits, a quarter held out
    rows = re.findall(r"^(margin|random)\s+0\s+(\d+)\s+([\d.]+)%\s+([\d.]+)%", out, re.M)
    assert [(name, int(n)) for name, n, _, _ in rows] == [("margin", 25), ("margin", 50),
                                                         ("random", 25), ("random", 50)]
    assert all(0 < float(acc) <= 100 for _, _, acc, _ in rows)
    final = re.search(r"at 50 labels: margin ([\d.]+)% vs random ([\d.]+)% test accuracy", out)
    assert final, out
    by_row = {name: acc for name, n, acc, _ in rows if n == "50"}
    assert final.groups() == (by_row["margin"], by_row["random"])  # the summary is the last cycle's figure
