"""A Dask run without a scheduler address listens on the loopback interface only."""

from __future__ import annotations

import psutil
import pytest

from dkist_processing_core.framework.executors.dask import DaskExecutor

from .test_local_executor import make_spec, report_of

pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

LOOPBACK = {"127.0.0.1", "::1"}


def listening_addresses(process: psutil.Process) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket of ``process`` and its children."""
    found = set()
    for p in [process, *process.children(recursive=True)]:
        try:
            connections = p.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for c in connections:
            if c.status == psutil.CONN_LISTEN:
                found.add((c.laddr.ip, c.laddr.port))
    return found


def test_the_executors_own_cluster_listens_on_loopback_only(tmp_path):
    me = psutil.Process()
    before = listening_addresses(me)
    with DaskExecutor(n_workers=1, threads_per_worker=1, processes=True) as executor:
        opened = listening_addresses(me) - before
        # The scheduler, the worker and its nanny listen; nothing on another interface.
        assert len(opened) >= 2, opened
        assert {ip for ip, _ in opened} <= LOOPBACK, opened
        report = executor.run(make_spec(tmp_path))
        assert report.status == "succeeded" and report_of(make_spec(tmp_path))["sum"] == 10.0
        assert {ip for ip, _ in listening_addresses(me) - before} <= LOOPBACK
    assert listening_addresses(me) - before == set()  # closed with the executor


def test_a_dashboard_when_asked_is_on_loopback_too():
    me = psutil.Process()
    before = listening_addresses(me)
    with DaskExecutor(n_workers=1, processes=False, dashboard=True) as executor:
        dashboard = executor.client.dashboard_link
        opened = listening_addresses(me) - before
        assert {ip for ip, _ in opened} <= LOOPBACK, opened
        # The dashboard is among them (its link names the machine, its socket is loopback).
        assert int(dashboard.split(":")[2].split("/")[0]) in {port for _, port in opened}
