"""Where a process's resident memory peaks: a sampler thread that, each time the anonymous
resident set (``RssAnon``: heap and anonymous maps, not file pages such as a memory-mapped pool)
passes its last high by ``step_mb``, records the package's frames on every thread (Linux only).

    with MemoryTrace(step_mb=100) as trace:
        ...
    trace.peak()   # {"anon_mb", "file_mb", "t", "where": {thread: [frames]}}
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from typing import Any, Dict, List, Optional


def rss_parts() -> Dict[str, float]:
    """``{"anon": MB, "file": MB}`` of this process now (``/proc/self/status``)."""
    out = {"anon": float("nan"), "file": float("nan")}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                out["anon"] = int(line.split()[1]) / 1024
            elif line.startswith("RssFile:"):
                out["file"] = int(line.split()[1]) / 1024
    return out


def _frames(frame: Any, keep: int = 4) -> List[str]:
    """The innermost ``keep`` frames of the package (or the benchmarks), as ``path:line function``."""
    out = []
    for f in traceback.extract_stack(frame):
        path = f.filename.replace(os.sep, "/")
        for root in ("/alwidget/", "/benchmarks/"):
            if root in path:
                out.append(f"{root.strip('/')}/{path.split(root, 1)[1]}:{f.lineno} {f.name}")
                break
    return out[-keep:]


class MemoryTrace:
    """Sample the anonymous resident set every ``every_s`` seconds; record a new high of ``step_mb``
    or more with the package's frames on each thread (see the module docstring)."""

    def __init__(self, step_mb: float = 100.0, every_s: float = 0.05) -> None:
        self.step_mb, self.every_s = float(step_mb), float(every_s)
        self.events: List[Dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._t0 = 0.0

    def __enter__(self) -> "MemoryTrace":
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="memory-trace", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        high = 0.0
        me = threading.get_ident()
        while not self._stop.wait(self.every_s):
            now = rss_parts()
            if now["anon"] >= high + self.step_mb:
                high = now["anon"]
                names = {t.ident: t.name for t in threading.enumerate()}
                where = {names.get(tid, str(tid)): _frames(frame) for tid, frame in sys._current_frames().items()
                         if tid != me}
                self.events.append({"t": round(time.perf_counter() - self._t0, 1), "anon_mb": round(now["anon"]),
                                    "file_mb": round(now["file"]), "where": {k: v for k, v in where.items() if v}})

    def peak(self) -> Dict[str, Any]:
        """The highest anonymous resident set recorded, with where every thread was then."""
        return max(self.events, key=lambda e: e["anon_mb"]) if self.events else {}
