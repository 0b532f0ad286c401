"""Peak resident memory of a notebook's kernel, run top to bottom at its full settings.

Binder gives about 2 GB; the issue's goal is a quickstart kernel under 1.5 GB whatever
representations it builds. The notebook is copied to a temporary folder and executed by
``jupyter nbconvert --execute`` (a real IPython kernel, widgets included); a poller reads the
kernel's ``VmHWM`` (the kernel's own peak resident set, kept by Linux) from ``/proc`` every
0.2 s until the kernel exits, and the largest value read is reported.

``--weights lite0``: the EfficientNet-Lite0 weights are placed in a temporary Hugging Face cache
(``HF_HOME``), where ``backbone="auto"`` finds them as it would after a download on a machine with
internet, so the pretrained candidate is built too. ``--weights none``: the offline fallback.
Both set ``HF_HUB_OFFLINE=1`` (nothing is downloaded).

Usage::

    python benchmarks/notebook_memory.py --notebook notebooks/01_quickstart.ipynb --weights lite0
    python benchmarks/notebook_memory.py --notebook notebooks/01_quickstart.ipynb --weights none
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def seed_hf_cache(home: Path, weights_dir: Path) -> None:
    """Put the Lite0 timm checkpoint where ``huggingface_hub`` looks for ``timm/tf_efficientnet_lite0.in1k``."""
    from lite0_weights import lite0_checkpoint

    ckpt = lite0_checkpoint(weights_dir)
    repo = home / "hub" / "models--timm--tf_efficientnet_lite0.in1k"
    commit = "0" * 40
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ckpt, snap / "pytorch_model.bin")
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)


def _kernels(root_pid: int) -> Dict[int, str]:
    """``{pid: cmdline}`` of the IPython kernels among ``root_pid``'s descendants."""
    children: Dict[int, list] = {}
    cmd: Dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd[int(entry)] = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, stack = {}, [root_pid]
    while stack:
        pid = stack.pop()
        for c in children.get(pid, []):
            stack.append(c)
            if "ipykernel" in cmd.get(c, ""):
                out[c] = cmd[c]
    return out


def _peak_kb(pid: int, field: str = "VmHWM:") -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run(notebook: Path, weights: str, weights_dir: Path, timeout: int) -> dict:
    """Execute ``notebook`` and return its kernel's peak resident memory (MB) and wall time (s)."""
    with tempfile.TemporaryDirectory(prefix="alwidget-nbmem-") as tmp:
        work = Path(tmp)
        nb = work / notebook.name
        shutil.copyfile(notebook, nb)
        env = dict(os.environ, HF_HUB_OFFLINE="1", ALWIDGET_NB_SMALL="0")
        if weights == "lite0":
            env["HF_HOME"] = str(work / "hf")
            seed_hf_cache(work / "hf", weights_dir)
        else:
            env["HF_HOME"] = str(work / "hf-empty")
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                                 f"--ExecutePreprocessor.timeout={timeout}", "--output", "executed.ipynb",
                                 str(nb)], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        peak: Dict[int, int] = {}
        trace: list = []  # (wall clock, resident MB) of the kernel, to find the cell of the peak
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                for pid in _kernels(proc.pid):
                    kb = _peak_kb(pid)
                    if kb is not None:
                        peak[pid] = max(peak.get(pid, 0), kb)
                    rss = _peak_kb(pid, "VmRSS:")
                    if rss is not None:
                        trace.append((time.time(), rss / 1024))
                time.sleep(0.2)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        out, _ = proc.communicate(timeout=timeout + 120)
        done.set()
        poller.join()
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"the notebook failed:\n{out.decode(errors='replace')[-4000:]}")
        return dict(peak_mb=max(peak.values()) / 1024 if peak else float("nan"), kernels=len(peak), seconds=wall,
                    cells=_cells_by_memory(work / "executed.ipynb", trace))


def _cells_by_memory(executed: Path, trace: list) -> list:
    """``[(largest resident MB seen while the cell ran, cell number, first line)]`` of each code
    cell, from the executed notebook's timing metadata and the poller's trace."""
    import json
    from datetime import datetime

    cells = [c for c in json.loads(executed.read_text())["cells"] if c["cell_type"] == "code"]
    out = []
    for i, cell in enumerate(cells, 1):
        meta = cell.get("metadata", {}).get("execution", {})
        try:
            t0, t1 = (datetime.fromisoformat(meta[k].replace("Z", "+00:00")).timestamp()
                      for k in ("iopub.execute_input", "shell.execute_reply"))
        except (KeyError, ValueError):
            continue
        seen = [mb for t, mb in trace if t0 - 0.2 <= t <= t1 + 0.2]
        first = next((ln for ln in "".join(cell["source"]).splitlines() if ln.strip()), "")
        out.append((max(seen) if seen else float("nan"), i, first[:70]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--notebook", type=Path, default=HERE.parent / "notebooks" / "01_quickstart.ipynb")
    ap.add_argument("--weights", choices=("lite0", "none"), default="lite0")
    ap.add_argument("--weights-dir", type=Path, default=Path(tempfile.gettempdir()) / "alwidget-weights")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds a cell may take")
    args = ap.parse_args(argv)
    res = run(args.notebook.resolve(), args.weights, args.weights_dir, args.timeout)
    cmd = "python benchmarks/notebook_memory.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"`{cmd}` ({time.strftime('%Y-%m-%d %H:%M')}): kernel peak resident {res['peak_mb']:.0f} MB "
          f"(VmHWM, {res['kernels']} kernel), notebook run {res['seconds']:.0f} s")
    print("largest resident MB while each cell ran:")
    for mb, i, first in res["cells"]:
        print(f"  cell {i:2d}: {mb:6.0f} MB  {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
