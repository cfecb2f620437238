"""Faults: kill -9 while a succeeded run is being published.

A recipe run of a small publishable workflow (``tests.datacenter.publishing_workflows``)
succeeds once; each case starts from a copy of that work folder (metadata store in its
SQLite file, the run's scratch) and runs ``dkist-processing publish RUN`` as a real
subprocess that kills itself (SIGKILL) at a named point of the publish path (see
:mod:`dkist_processing_core.framework.crashpoints`): mid-copy into the staged package,
with the package whole in staging, after the rename into the archive with the version's
rows not committed, and with the PI's notice inserted but not committed, or queued but not
sent. After the kill:

- the archive holds whole packages only (each passes ``verify_package``); an unfinished
  attempt is a hidden folder under ``<archive>/.staging``;
- every version row of the store has its whole package, and its object inventory lists
  exactly the package's files; a package without a version row is the one a killed
  publication (still ``publishing``) renamed in before committing its rows, which the next
  pass registers;
- no notice is queued for an unregistered version, and no mail was sent.

Publishing the run again right away is skipped with a message naming the claim and when
it may be taken again. A later pass (its clock past the stale-claim time, after which a
``publishing`` claim is one whose publisher died) publishes the run: one version, a package equal to that of an
uninterrupted publish (same files, same sha256), one notice, one mail, nothing staged.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from dkist_processing_core.datacenter.clock import FixedClock
from dkist_processing_core.datacenter.operations.periodic import work_folder
from dkist_processing_core.datacenter.operations.scheduling import Scheduler
from dkist_processing_core.datacenter.products.catalog.checksums import sha256_file
from dkist_processing_core.datacenter.products.catalog.package import read_package, verify_package
from dkist_processing_core.datacenter.products.outbox import store_outbox
from dkist_processing_core.datacenter.products.publication import (
    DEFAULT_STALE_AFTER_S,
    publish_pending,
    publish_run,
)
from dkist_processing_core.datacenter.store import open_store
from dkist_processing_core.datacenter.store.models import (
    DatasetVersion,
    ObjectInventory,
    OutboxMessage,
    RecipeRunPublication,
)
from dkist_processing_core.framework.crashpoints import ENV_MATCH, ENV_POINT
from dkist_processing_core.simulate.l1_dataset import write_simulated_l1_dataset
from tests.datacenter.test_publication import PI_EMAIL
from tests.datacenter.test_publication import set_up as set_up_publishable_run

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).with_name("dkist-processing")
#: Where the publish subprocess kills itself (``point`` or ``point:n``, the n-th pass).
POINTS = [
    "publish-copy:3",  # mid-copy: three files whole in the staged package, the rest not yet
    "publish-staged",
    "publish-before-commit",
    "outbox-before-commit",
    "outbox-queued",
]


class Mailbox:
    """What a real SMTP server on loopback (aiosmtpd) received."""

    def __init__(self):
        self.messages, self.lock = [], threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(envelope)
        return "250 OK"


@contextlib.contextmanager
def mail_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A work folder whose recipe run succeeded, not yet published; kept as a copy.

    Cases restore the copy to the same place, so the absolute paths the store and the
    scratch record stay true.
    """
    base = tmp_path_factory.mktemp("publish-faults")
    l1_folder = base / "l1"
    write_simulated_l1_dataset(l1_folder, detector_shape=(16, 24), n_maps=1, n_steps=2)
    work = work_folder(base / "work")
    store = open_store(None, work)
    run_id = set_up_publishable_run(store, FixedClock(datetime(2024, 5, 1, tzinfo=UTC)), l1_folder)
    (outcome,) = Scheduler(store, work / "scratch").run_until_idle()
    assert outcome.status == "succeeded"
    store.dispose()
    shutil.copytree(work, base / "template")
    return work, base / "template", run_id


def restore(template) -> Path:
    work, copy, _ = template
    shutil.rmtree(work)
    shutil.copytree(copy, work)
    return work


def archive_files(archive: Path) -> dict[str, str]:
    """Every file of the archive outside its hidden staging folder: path -> sha256."""
    return {
        p.relative_to(archive).as_posix(): sha256_file(p)
        for p in sorted(archive.rglob("*"))
        if p.is_file() and not p.relative_to(archive).parts[0].startswith(".")
    }


def later_pass(store, work: Path, port: int):
    """A publishing pass after the stale-claim time, sending through the mail server."""
    later = FixedClock(datetime.now(UTC) + timedelta(seconds=2 * DEFAULT_STALE_AFTER_S))
    return publish_pending(
        store,
        scratch_root=work / "scratch",
        archive_root=work / "archive",
        outbox=store_outbox(store, ("127.0.0.1", port)),
        clock=later,
    )


@pytest.fixture(scope="module")
def uninterrupted(template):
    """The archive and the mail of a publish that nothing interrupted."""
    work = restore(template)
    with mail_server() as (port, mailbox):
        store = open_store(None, work)
        (outcome,) = later_pass(store, work, port)
        store.dispose()
    assert outcome.status == "published", outcome.error
    (mail,) = mailbox.messages
    return archive_files(work / "archive"), mail.rcpt_tos, outcome.version


def assert_consistent(store, archive: Path, run_id: int) -> None:
    """No half package visible, no version row without its files, no notice without a version."""
    visible = [
        p for p in archive.glob("*/*") if not p.relative_to(archive).parts[0].startswith(".")
    ]
    packages = {}
    for path in visible:
        assert path.is_dir(), f"{path}: a file where only packages lie"
        check = verify_package(path)
        assert check.ok, f"{path}: a half-written package: {check}"
        packages[path.name] = path
    with store.session() as s:
        versions = {v.version_id: v for v in s.scalars(select(DatasetVersion))}
        publication = s.get(RecipeRunPublication, run_id)
        for version_id in versions:
            assert version_id in packages, f"version {version_id} has no package in {archive}"
            listed = {
                (o.object_key, o.sha256)
                for o in s.scalars(
                    select(ObjectInventory).where(ObjectInventory.version_id == version_id)
                )
            }
            package = read_package(packages[version_id])
            prefix = f"{package.dataset_id}/{package.version}"
            assert listed == {(f"{prefix}/{f.path}", f.sha256) for f in package.files}
        for version_id in set(packages) - set(versions):
            # Renamed in by the killed publisher before its rows were committed.
            assert publication.status == "publishing", (version_id, publication.status)
        for message in s.scalars(select(OutboxMessage)):
            assert message.key.rsplit(":", 1)[-1] in versions, message.key
            assert message.status == "queued", (message.key, message.status)


@pytest.mark.parametrize("point", POINTS)
def test_kill_9_while_publishing_then_a_later_pass_publishes_it_equal(
    template, uninterrupted, point
):
    with mail_server() as (port, mailbox):
        kill_then_publish_again(template, uninterrupted, point, port, mailbox)


def kill_then_publish_again(template, uninterrupted, point, port, mailbox) -> None:
    work = restore(template)
    run_id = template[2]
    env = {**os.environ, ENV_POINT: point, ENV_MATCH: ""}
    killed = subprocess.run(
        [str(CLI), "publish", str(run_id), "--workdir", str(work), "--smtp", f"127.0.0.1:{port}"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert killed.returncode == -9, f"not killed at {point}: {killed.stdout}{killed.stderr}"
    assert mailbox.messages == []

    store = open_store(None, work)
    try:
        assert_consistent(store, work / "archive", run_id)
        # Right away, the dead publisher's claim is named (and when it may be taken again).
        now = publish_run(
            store, run_id, scratch_root=work / "scratch", archive_root=work / "archive", again=True
        )
        assert now.status == "skipped"
        assert "another publisher claimed it at " in now.error
        assert f"a claim older than {DEFAULT_STALE_AFTER_S:g} s is a dead publisher's" in now.error
        (outcome,) = later_pass(store, work, port)
        assert outcome.status == "published", outcome.error
        published_files = archive_files(work / "archive")
        files, recipients, version = uninterrupted
        assert outcome.version == version
        assert published_files == files  # same files, same checksums
        assert list((work / "archive" / ".staging").iterdir()) == []
        with store.session() as s:
            assert [v.version_id for v in s.scalars(select(DatasetVersion))] == [version]
            publication = s.get(RecipeRunPublication, run_id)
            assert (publication.status, publication.attempts) == ("published", 2)
            (message,) = s.scalars(select(OutboxMessage))
            assert (message.status, message.recipient) == ("sent", PI_EMAIL)
        (mail,) = mailbox.messages  # one mail, never two
        assert mail.rcpt_tos == recipients == [PI_EMAIL]
        # The version verifies and a pass finds nothing more to publish.
        assert verify_package(work / "archive" / outcome.dataset_id / version).ok
        assert later_pass(store, work, port) == []
    finally:
        store.dispose()
