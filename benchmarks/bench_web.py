"""The overview and candidates pages over 100,000 candidates and a million frame counts.

The store is the readiness benchmark's (:mod:`benchmarks.bench_readiness`: 100,000
candidates, 1,010,000 frame counts, a tenth of the candidates complete), after
one readiness pass (10,000 recipe runs waiting). A real uvicorn server on a free
loopback port serves the pages; each figure is the time to fetch the page over
HTTP, reported as a ratio to the same library call run directly in this process
(the query the page cannot avoid), measured in the same run. The JSON twin is
fetched too (the same data, without the template).
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

import pytest

from dkist_processing_core.datacenter.clock import FixedClock
from dkist_processing_core.datacenter.operations import views
from dkist_processing_core.datacenter.operations.status import processing_status
from dkist_processing_core.datacenter.planning import readiness

from .bench_readiness import CANDIDATES, NOW, _fresh_store, _load, postgres  # noqa: F401
from .limits import best_of

PAGE_SIZE = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory):
    """The loaded store (after a readiness pass), served by uvicorn in a thread."""
    import uvicorn

    from dkist_processing_core.web import WebConfig, create_app

    store = _fresh_store(request.param, tmp_path_factory, request, "web_bench")
    _load(store)
    readiness.run_readiness_pass(store, clock=FixedClock(NOW))
    workdir = tmp_path_factory.mktemp("web-bench")
    config = WebConfig(store=store, workdir=workdir, secret_key="bench", clock=FixedClock(NOW))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config), host="127.0.0.1", port=port, access_log=False, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the benchmark's server did not start")
        time.sleep(0.1)
    yield store, url
    server.should_exit = True
    thread.join(timeout=30)
    store.dispose()


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        assert response.status == 200
        return response.read()


def _direct_overview(store):
    with store.session() as s:
        return views.overview(s, NOW)


def _direct_candidates(store):
    with store.session() as s:
        return processing_status(s, limit=PAGE_SIZE)


@pytest.mark.parametrize(
    "page, path, direct",
    [
        ("overview", "/", _direct_overview),
        ("overview (JSON)", "/api/overview", _direct_overview),
        ("candidates", "/candidates", _direct_candidates),
        ("candidates (JSON)", "/api/candidates", _direct_candidates),
    ],
)
def test_page_served_against_its_query_run_directly(benchmark, served, page, path, direct):
    store, url = served
    data = direct(store)
    if direct is _direct_overview:
        assert (
            data["candidates_by_state"]["waiting for frames"] == CANDIDATES + 1 - CANDIDATES // 10
        )
        assert data["runs_by_status"] == {"created": CANDIDATES // 10}
    else:
        assert sum(len(p["candidates"]) for p in data) == PAGE_SIZE
    _fetch(url + path)  # warm: templates compiled, connections open
    direct_s = best_of(lambda: direct(store))
    body = benchmark.pedantic(_fetch, args=(url + path,), rounds=5, iterations=1)
    assert len(body) > 100
    served_s = benchmark.stats.stats.median
    benchmark.extra_info.update(
        {
            "backend": store.dialect,
            "page": page,
            "candidates": CANDIDATES + 1,
            "served_s": round(served_s, 4),
            "direct_query_s": round(direct_s, 4),
            "ratio_to_direct_query": round(served_s / direct_s, 2),
        }
    )
