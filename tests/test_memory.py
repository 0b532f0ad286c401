"""The malloc arena cap (``alwidget._memory``): process-wide, so each case runs in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")

# eight threads each allocate and free 1 MB blocks, then glibc's malloc_stats() lists its arenas on stderr
_ARENAS = r"""
import ctypes, importlib.util, sys, threading
spec = importlib.util.spec_from_file_location("_memory", sys.argv[1])  # the module alone: no torch to import
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
print(mod.limit_malloc_arenas(*[int(a) for a in sys.argv[2:]]), flush=True)
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
start = threading.Barrier(8)
def work():
    start.wait()
    for _ in range(200):
        libc.free(libc.malloc(100_000))
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc.malloc_stats()
"""


def _run(args=(), **env):
    full = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "ALWIDGET_MALLOC_ARENAS")}
    full.update(env)
    import alwidget._memory

    res = subprocess.run([sys.executable, "-c", _ARENAS, alwidget._memory.__file__, *map(str, args)], capture_output=True, text=True,
                         env=full, timeout=60)
    return res


def _glibc() -> bool:
    import platform

    return platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc_stats")
def test_the_cap_limits_the_arenas_threads_create():
    free = _run(ALWIDGET_MALLOC_ARENAS="0")
    capped = _run([1])
    assert free.returncode == 0 and capped.returncode == 0, free.stderr + capped.stderr
    assert free.stdout.split()[0] == "None" and capped.stdout.split()[0] == "1"
    assert capped.stderr.count("Arena ") == 1  # every thread shares the main arena
    assert free.stderr.count("Arena ") > 1  # left alone, threads get arenas of their own


@pytest.mark.skipif(not _glibc(), reason="glibc's mallopt")
def test_default_and_environment():
    assert _run().stdout.split()[0] == "2"  # DEFAULT_ARENAS
    assert _run(ALWIDGET_MALLOC_ARENAS="3").stdout.split()[0] == "3"
    assert _run(MALLOC_ARENA_MAX="4").stdout.split()[0] == "None"  # the user's own setting wins
    bad = _run(ALWIDGET_MALLOC_ARENAS="two")
    assert bad.returncode != 0 and "ALWIDGET_MALLOC_ARENAS must be a whole number" in bad.stderr


def test_negative_is_refused_and_the_first_cap_stays():
    from alwidget import _memory

    with pytest.raises(ValueError, match="≥ 0"):
        _memory.limit_malloc_arenas(-1)
    first = _memory.limit_malloc_arenas()
    assert _memory.limit_malloc_arenas(7) == first  # once per process


_TRIM = r"""
import ctypes, importlib.util, sys
spec = importlib.util.spec_from_file_location("_memory", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
def rss_mb():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS:")) / 1024
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: 64 KB blocks stay in the heap, as freed tensors do
blocks = [libc.malloc(65536) for _ in range(4000)]  # 250 MB in the heap
for b in blocks:
    ctypes.memset(b, 1, 65536)
keep = libc.malloc(16)  # the top of the heap stays in use: only trimming inside the heap helps
for b in blocks:
    libc.free(b)
before = rss_mb()
print(mod.release_free_memory(), before - rss_mb())
"""


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc_trim")
def test_release_free_memory_returns_freed_heap_pages():
    import alwidget._memory

    res = subprocess.run([sys.executable, "-c", _TRIM, alwidget._memory.__file__], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    returned, freed_mb = res.stdout.split()
    assert returned == "True" and float(freed_mb) > 200  # of the 250 MB freed inside the heap
