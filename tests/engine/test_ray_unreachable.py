"""An unreachable Ray address fails within seconds, with a message that says what to do."""

from __future__ import annotations

import socket
import time

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'alwidget[ray]')")

from alwidget import ActiveLearner, datasets  # noqa: E402
from alwidget.engine import EngineError  # noqa: E402
from alwidget.engine.ray_engine import RayEngine  # noqa: E402


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("address", ["127.0.0.1:{port}", "10.255.255.1:6379"])
def test_unreachable_cluster_fails_within_seconds(address, tmp_path):
    if ray.is_initialized():
        ray.shutdown()
    address = address.format(port=_closed_port())
    pool = datasets.digits().subset(datasets.digits().ids[:300])
    learner = ActiveLearner(pool, mode="embed", engine=RayEngine(address=address, connect_timeout=2),
                            memory_limit="700.1MB", cache_dir=tmp_path, validation_from_truth=True, store=None)
    ids = learner.query(10)
    learner.teach(ids, [pool.truth[i] for i in ids])
    t0 = time.perf_counter()
    with pytest.raises(EngineError, match=f"cannot reach the Ray cluster at {address}.*engine='local'"):
        learner.retrain()
    assert time.perf_counter() - t0 < 10
    assert not ray.is_initialized()
    assert learner.labels  # the labels are kept


def test_a_bad_address_is_named():
    with pytest.raises(EngineError, match="not host:port"):
        RayEngine(address="nowhere").connect()
