"""The PI notice outbox against a real SMTP server (aiosmtpd) on loopback."""

import socket

import pytest
from aiosmtpd.controller import Controller

from dkist_processing_core.datacenter.products.catalog.notify import Outbox, SQLiteOutboxStore


class RecordingHandler:
    """Accepts messages; refuses the DATA of the first ``refuse_first`` attempts (451)."""

    def __init__(self, refuse_first=0):
        self.refuse_first = refuse_first
        self.attempts = 0
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if self.attempts <= self.refuse_first:
            return "451 4.3.0 Try again later"
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    servers = []

    def start(handler, port):
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        servers.append(controller)
        return controller

    yield start
    for c in servers:
        c.stop()


def queue_two_versions(outbox):
    for version in ("v1", "v2"):
        outbox.queue_version_available(
            pi_email="pi@example.org",
            dataset_id="SIMDS",
            version=version,
            proposal_id="pid_1_23",
            where=f"/archive/SIMDS/{version}",
            now=0.0,
        )


def test_one_message_per_version_across_an_unreachable_server(tmp_path, smtp_server):
    port = free_port()
    outbox = Outbox(
        SQLiteOutboxStore(tmp_path), smtp_host="127.0.0.1", smtp_port=port, retry_base_s=60
    )
    queue_two_versions(outbox)
    queue_two_versions(outbox)  # queuing again changes nothing (idempotency key)
    assert len(outbox.store.all()) == 2
    # Server not started yet: both sends fail and stay pending.
    report = outbox.send_pending(now=1.0)
    assert report.sent == [] and len(report.failed) == 2
    assert all(m.status == "pending" and m.attempts == 1 for m in outbox.store.all())
    # Before the back-off has passed nothing is attempted.
    handler = RecordingHandler()
    smtp_server(handler, port)
    assert outbox.send_pending(now=30.0).sent == []
    report = outbox.send_pending(now=62.0)
    assert sorted(report.sent) == ["dataset-version:SIMDS:v1", "dataset-version:SIMDS:v2"]
    # Later runs send nothing again.
    assert outbox.send_pending(now=10_000.0).sent == []
    assert len(handler.messages) == 2
    subjects = sorted(
        e.content.decode().split("Subject: ")[1].split("\r\n")[0] for e in handler.messages
    )
    assert subjects == [
        "DKIST dataset SIMDS version v1 is available",
        "DKIST dataset SIMDS version v2 is available",
    ]
    assert all(e.rcpt_tos == ["pi@example.org"] for e in handler.messages)
    assert (
        b"/archive/SIMDS/v1" in handler.messages[0].content
        or b"/archive/SIMDS/v1" in handler.messages[1].content
    )


def test_refused_first_attempt_is_retried_exactly_once(tmp_path, smtp_server):
    port = free_port()
    handler = RecordingHandler(refuse_first=1)
    smtp_server(handler, port)
    outbox = Outbox(
        SQLiteOutboxStore(tmp_path), smtp_host="127.0.0.1", smtp_port=port, retry_base_s=10
    )
    queue_two_versions(outbox)
    first = outbox.send_pending(now=1.0)
    assert len(first.sent) == 1 and len(first.failed) == 1
    failed_key = next(iter(first.failed))
    assert "451" in first.failed[failed_key]
    second = outbox.send_pending(now=12.0)
    assert second.sent == [failed_key]
    assert outbox.send_pending(now=1000.0).sent == []
    assert handler.attempts == 3 and len(handler.messages) == 2
    ids = sorted(
        e.content.decode().split("Message-ID: ")[1].split("\r\n")[0] for e in handler.messages
    )
    assert ids == [
        "<dataset-version.SIMDS.v1@dkist.outbox>",
        "<dataset-version.SIMDS.v2@dkist.outbox>",
    ]


def test_outbox_survives_a_new_process(tmp_path):
    """The store is a file: a new Outbox over the same folder sees the same messages."""
    outbox = Outbox(SQLiteOutboxStore(tmp_path), smtp_host="127.0.0.1", smtp_port=1)
    queue_two_versions(outbox)
    again = Outbox(SQLiteOutboxStore(tmp_path), smtp_host="127.0.0.1", smtp_port=1)
    assert [m.key for m in again.store.due(now=5.0)] == [
        "dataset-version:SIMDS:v1",
        "dataset-version:SIMDS:v2",
    ]
