"""The heavy passes on a Ray cluster, through Ray Data.

Each pass is a Ray Dataset of chunk descriptors (``chunk``, ``start``, ``stop``, or a chunk of
features), mapped with ``map_batches`` by a pool of actors that each hold the task and its model
(created once per actor, not per chunk). Results stream back to the notebook's process as they
finish; the notebook writes them into its cache and keeps the widget and the label store.

``ray.init(address=...)`` is the user's: an engine uses the Ray that is running, or connects to
``address`` (checked first, so an unreachable cluster fails within seconds), or starts a local
one on this machine.
"""

from __future__ import annotations

import os
import pickle
import socket
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from ..progress import CycleCancelled, check, report
from .local import Engine, EngineError

__all__ = ["RayEngine", "ray_available"]

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a cluster's address to answer before giving up."""


def ray_available() -> bool:
    """Whether ``ray`` (with Ray Data) can be imported."""
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except Exception:
        return False
    return True


def _probe(address: str, timeout: float) -> None:
    """Raise :class:`EngineError` unless ``host:port`` accepts a TCP connection within ``timeout``."""
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise EngineError(f"Ray address {address!r} is not host:port (e.g. '10.0.0.5:6379'); "
                          "pass the address `ray start --head` printed, or 'auto' for a cluster on this machine")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise EngineError(f"cannot reach the Ray cluster at {address} within {timeout:.0f} s ({exc}); start it "
                          "with `ray start --head` on that machine, check the address and the firewall, or use "
                          "engine='local'") from None


class _TaskActor:
    """A Ray Data actor: unpickles the task once, then runs it on each batch of descriptors."""

    def __init__(self, task_bytes: bytes, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, int(threads)))
        self.task = pickle.loads(task_bytes)
        self.where = f"{socket.gethostname()} (pid {os.getpid()})"

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        out: List[bytes] = []
        for i in range(len(batch["chunk"])):
            if "features" in batch:
                result = self.task(pickle.loads(batch["features"][i]))
            else:
                result = self.task(int(batch["start"][i]), int(batch["stop"][i]))
            result["where"] = self.where
            out.append(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        return {"chunk": np.asarray(batch["chunk"], dtype=np.int64), "result": np.array(out, dtype=object)}


class RayEngine(Engine):
    """Run the passes over the pool on Ray actors (``pip install alwidget[ray]``).

    Parameters
    ----------
    address : str, optional
        A cluster to connect to when Ray is not initialised yet (``"host:port"``, or ``"auto"``);
        by default the running Ray is used, else ``$RAY_ADDRESS``, else a local Ray is started
        with every core of this machine.
    workers : int, optional
        Actors per pass (default: the cluster's CPUs divided by ``threads``).
    threads : int
        torch threads per actor.
    max_restarts : int
        How often a dead actor is restarted, and its chunk retried, before the pass fails.
    connect_timeout : float
        Seconds to wait for ``address`` to answer.
    """

    name = "ray"

    def __init__(self, address: Optional[str] = None, *, workers: Optional[int] = None, threads: int = 1,
                 max_restarts: int = 2, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        if not ray_available():
            raise ImportError("engine='ray' needs Ray with Ray Data: pip install 'alwidget[ray]' "
                              "(or pip install 'ray[data]'); or use engine='local'")
        if workers is not None and int(workers) < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if int(threads) < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.address = address
        self.workers = None if workers is None else int(workers)
        self.threads = int(threads)
        self.max_restarts = int(max_restarts)
        self.connect_timeout = float(connect_timeout)

    # ------------------------------------------------------------------ connection
    def connect(self) -> None:
        """Make sure Ray is initialised (see the class docstring); fails within
        ``connect_timeout`` seconds when the address does not answer."""
        import ray

        if ray.is_initialized():
            return
        address = self.address or os.environ.get("RAY_ADDRESS")
        if address and address not in ("auto", "local"):
            _probe(address, self.connect_timeout)
        try:
            if address == "local" or not address:
                ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                # Ray retries a silent GCS once a second for 20 s; a cluster that does not answer
                # should fail within connect_timeout (unless the user set the wait explicitly)
                wait_key = "RAY_gcs_server_port_wait_time_s"
                before = os.environ.get(wait_key)
                if before is None:
                    os.environ[wait_key] = str(max(1, int(round(self.connect_timeout))))
                try:
                    ray.init(address=address, log_to_driver=False)
                finally:
                    if before is None:
                        os.environ.pop(wait_key, None)
        except Exception as exc:
            if address and address not in ("auto", "local"):
                raise EngineError(f"cannot reach the Ray cluster at {address} ({_first_line(exc)}); check that "
                                  "`ray start --head` runs there and the address, or use engine='local'") from None
            raise EngineError(f"cannot start Ray on this machine ({_first_line(exc)}); or use engine='local'") from exc

    def _n_workers(self) -> int:
        import ray

        if self.workers is not None:
            return self.workers
        cpus = int(ray.cluster_resources().get("CPU", 1))
        return max(1, cpus // self.threads)

    def describe(self) -> str:
        try:
            import ray

            if ray.is_initialized():
                cpus = int(ray.cluster_resources().get("CPU", 0))
                return f"ray ({self._n_workers()} actors, {cpus} CPUs in the cluster)"
        except Exception:  # pragma: no cover - description only
            pass
        return "ray (not connected yet)"

    def __repr__(self) -> str:
        return f"RayEngine(address={self.address!r}, workers={self.workers}, threads={self.threads})"

    # ------------------------------------------------------------------ passes
    def _run(self, task: Any, rows: List[Dict[str, Any]], n: int, progress, cancel, step: str
             ) -> Iterator[Tuple[int, Dict[str, Any]]]:
        import ray
        import ray.data

        self.connect()
        report(progress, step, 0.0)
        if not rows:
            report(progress, step, 1.0)
            return
        try:
            from ray import cloudpickle  # classes defined in a notebook travel by value

            task_bytes = cloudpickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise EngineError(f"the {step} pass cannot be sent to Ray workers: {exc}; the model and the pool must "
                              "be picklable (define custom modules in an importable file)") from exc
        workers = min(self._n_workers(), len(rows))
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        ds = ds.map_batches(_TaskActor, fn_constructor_kwargs={"task_bytes": task_bytes, "threads": self.threads},
                            batch_size=1, concurrency=workers, num_cpus=self.threads, batch_format="numpy",
                            max_restarts=self.max_restarts, max_task_retries=self.max_restarts)
        done = 0
        started = time.perf_counter()
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
                for chunk, blob in zip(batch["chunk"], batch["result"]):
                    check(cancel)
                    done += 1
                    report(progress, step, done / n)
                    yield int(chunk), pickle.loads(blob)
        except CycleCancelled:
            raise
        except Exception as exc:
            raise EngineError(
                f"the {step} pass failed on Ray after {time.perf_counter() - started:.0f} s, with {done} of {n} chunks "
                f"done ({type(exc).__name__}: {_first_line(exc)}); chunks finished before stay in the cache, nothing "
                "is half-written; run it again to resume, or use engine='local'") from exc
        report(progress, step, 1.0)

    def map_rows(self, task, ranges, *, tensors=None, progress=None, cancel=None, step="embed"):
        ranges = list(ranges)
        rows = [{"chunk": int(c), "start": int(s), "stop": int(e)} for c, s, e in ranges]
        pool = getattr(task, "pool", None)
        for chunk, result in self._run(task, rows, len(rows), progress, cancel, step):
            failed = result.get("failed") or {}
            if failed and pool is not None:
                _check_readable_here(pool, failed, result.get("where", "a Ray worker"))
            yield chunk, result

    def map_arrays(self, task, items, n_items, *, progress=None, cancel=None, step="score"):
        rows = [{"chunk": int(c), "features": pickle.dumps(np.ascontiguousarray(a), protocol=pickle.HIGHEST_PROTOCOL)}
                for c, a in items]
        yield from self._run(task, rows, len(rows), progress, cancel, step)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def _check_readable_here(pool: Any, failed: Dict[int, str], where: str) -> None:
    """Raise when images a worker could not read are readable in this process (the files are on
    this machine only)."""
    here: List[Tuple[str, str]] = []
    for p, reason in sorted(failed.items())[:20]:
        item = pool.ids[int(p)]
        try:
            pool.image(item)
        except Exception:
            continue
        here.append((item, reason))
    if here:
        names = "; ".join(f"{item!r} ({reason})" for item, reason in here[:5])
        raise EngineError(
            f"{len(here)} image(s) are readable on this machine but not on the Ray worker {where}: {names}; put the "
            "images on storage every node can read (a shared folder or object store, at the same path), or use "
            "engine='local'")
