"""Store fixtures: every store test runs on SQLite and on a real PostgreSQL server.

The PostgreSQL server is started once per test session on loopback (see
:mod:`dkist_processing_core.datacenter.store.postgres_server`) and stopped at the
end. Each test gets a fresh database copied from a migrated template, and a
fresh migrated SQLite file, so tests never see each other's rows.
When the server cannot be started the postgres tests skip, except under CI
(environment variable ``CI`` set), where they fail.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
from datetime import UTC, datetime

import pytest

from dkist_processing_core.datacenter.clock import FixedClock
from dkist_processing_core.datacenter.store import Store, upgrade
from dkist_processing_core.datacenter.store.postgres_server import (
    PostgresServer,
    PostgresUnavailable,
)

BACKENDS = ["sqlite", "postgresql"]
_database_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer(durable=False)
    try:
        server.start()
    except PostgresUnavailable as error:
        server.stop()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL could not be started under CI: {error}")
        pytest.skip(f"PostgreSQL could not be started: {error}")
    try:
        template_url = server.create_database("migrated_template")
        upgrade(template_url)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """The URL of an empty, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "datacenter.sqlite"
        shutil.copy(request.getfixturevalue("migrated_sqlite_file"), path)
        return f"sqlite:///{path}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"test_{next(_database_numbers)}", template="migrated_template")


@pytest.fixture
def store(database_url):
    store = Store.open(database_url)
    yield store
    store.dispose()


@pytest.fixture
def clock():
    return FixedClock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def smtp():
    """Start real SMTP servers on loopback: ``smtp(handler)`` returns the port of a new one."""
    from aiosmtpd.controller import Controller

    controllers = []

    def start(handler) -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def small_disk(tmp_path):
    """A 48 kB tmpfs at ``tmp_path/archive`` (skipped where mounting is not allowed), and a
    function that grows it to 64 MB (the operator frees space)."""
    mount_point = tmp_path / "archive"
    mount_point.mkdir()
    tried = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if tried.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {tried.stderr.strip()}")

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=64m", str(mount_point)], check=True)

    try:
        yield mount_point, grow
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


@pytest.fixture(scope="module")
def l1_folder(tmp_path_factory):
    """A tiny simulated L1 dataset (the frames the ``publishing_workflows`` runs write)."""
    from dkist_processing_core.simulate.l1_dataset import write_simulated_l1_dataset

    folder = tmp_path_factory.mktemp("l1") / "frames"
    write_simulated_l1_dataset(folder, detector_shape=(16, 24), n_maps=1, n_steps=2)
    return folder
