"""``make demo`` (``python -m alwidget.demo``): the README's first command, on a small budget."""

from __future__ import annotations

import re

import pytest

from alwidget import demo


@pytest.mark.slow
def test_demo_runs_the_default_against_random_and_reports_both(monkeypatch, capsys):
    monkeypatch.setenv("ALWIDGET_DEMO_BUDGET", "40")
    monkeypatch.setenv("ALWIDGET_DEMO_STEP", "10")
    monkeypatch.setenv("ALWIDGET_DEMO_SEEDS", "1")
    monkeypatch.setenv("ALWIDGET_DEMO_REPR_STEPS", "40")
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    assert "pool 1348, test 449" in out  # digits, a quarter held out
    rows = re.findall(r"^(budget_aware|random)\s+0\s+(\d+)\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)", out, re.M)
    assert [(name, int(n)) for name, n, _, _, _ in rows] == [
        ("budget_aware", 20), ("budget_aware", 30), ("budget_aware", 40),
        ("random", 20), ("random", 30), ("random", 40)]
    assert all(0 < float(acc) <= 100 for _, _, acc, _, _ in rows)
    # the random run reuses the representation: its first cycle does not learn it again
    first = {name: float(s) for name, n, _, _, s in rows if n == "20"}
    assert first["random"] < first["budget_aware"]
    final = re.search(r"at 40 labels: budget_aware \(the default\) ([\d.]+)% vs random ([\d.]+)% test accuracy", out)
    assert final, out
    by_row = {name: acc for name, n, acc, _, _ in rows if n == "40"}
    assert final.groups() == (by_row["budget_aware"], by_row["random"])  # the summary is the last cycle's figure
