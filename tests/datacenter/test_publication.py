"""Publication is a step of every succeeded run; manual work and PI mail end in distribution.

Every test runs on SQLite and on a real PostgreSQL (the ``store`` fixtures). Runs execute
a small real workflow (``publishing_workflows.PUBLISHABLE``: L1 frames of a simulated L1
dataset and the real dataset product tasks); commands run as real subprocesses; mail goes
to real aiosmtpd servers on loopback (one of them answers 5xx); the full disk is a real
tmpfs mounted for the test (skipped where mounting is not allowed).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from astropy.io import fits
from sqlalchemy import select

from dkist_processing_core.datacenter.operations import resolutions, tickets
from dkist_processing_core.datacenter.operations.scheduling import Scheduler
from dkist_processing_core.datacenter.planning import readiness, recipes
from dkist_processing_core.datacenter.products import outbox as store_outbox_module
from dkist_processing_core.datacenter.products.outbox import StoreOutbox, store_outbox
from dkist_processing_core.datacenter.products.publication import (
    pending_publications,
    publish_pending,
)
from dkist_processing_core.datacenter.store.models import (
    DatasetVersion,
    OutboxMessage,
    Proposal,
    RecipeRun,
    RecipeRunPublication,
    Ticket,
)

from .commands import Recorder
from .scenario import announce, deliver

pytestmark = pytest.mark.slow

SCRIPT = Path(sys.executable).parent / "dkist-processing"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "dkist_processing_core.cli"]
PI_EMAIL = "pi@example.org"


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def set_up(store, clock, l1_folder, *, fail=False, observe_op="obs_1") -> int:
    """A publishable recipe, a ready candidate with a PI e-mail, and its recipe run; its id."""
    with store.session() as s:
        if not recipes.list_instruments(s):
            recipes.create_instrument(s, "testinst", "instrument of the tests", clock=clock)
            recipes.create_workflow_specification(
                s,
                "testinst",
                "publishable",
                "1.0",
                import_path="tests.datacenter.publishing_workflows:PUBLISHABLE",
                clock=clock,
            )
            recipes.set_resource_pool(s, "default", 2)
            configuration = {"l1_folder": str(l1_folder)}
            if fail:
                configuration["fail_in"] = "WriteL1Frames"
            # The product tasks declare the browse movie's size: the recipe gives its value.
            recipes.create_parameter(s, "testinst", "browse_movie_max_size", "int", clock=clock)
            recipes.add_parameter_value(
                s, "testinst", "browse_movie_max_size", 2048, datetime(2000, 1, 1, tzinfo=UTC),
                clock=clock,
            )  # fmt: skip
            recipes.create_recipe(
                s,
                "publish",
                "testinst",
                "publishable",
                "1.0",
                parameters=["browse_movie_max_size"],
                default_configuration=configuration,
                clock=clock,
            )
    announce(store, clock, observe_op, {observe_op: 2}, recipe="publish")
    with store.session() as s:
        s.get(Proposal, "pid_1_1").principal_investigator_email = PI_EMAIL
    deliver(store, clock, observe_op, [0, 1])
    assert readiness.run_readiness_pass(store).recipe_runs_created == 1
    with store.session() as s:
        return max(r.id for r in s.scalars(select(RecipeRun)))


def versions(store) -> list[DatasetVersion]:
    with store.session() as s:
        return list(s.scalars(select(DatasetVersion)))


def publication(store, run_id) -> RecipeRunPublication | None:
    with store.session() as s:
        return s.get(RecipeRunPublication, run_id)


def messages(store) -> list[OutboxMessage]:
    with store.session() as s:
        return list(s.scalars(select(OutboxMessage)))


# --- 1, 5, 8: runs schedule publishes; the notice waits without a mail server; readable ---


def test_runs_schedule_publishes_and_queues_the_notice_without_smtp(
    store, clock, database_url, tmp_path, l1_folder
):
    run_id = set_up(store, clock, l1_folder)
    work = tmp_path / "work"
    done = cli(
        "runs",
        "schedule",
        "--scratch-root",
        str(work / "scratch"),
        "--database-url",
        database_url,
        "--workdir",
        str(work),
    )
    assert "published" in done.stdout, done.stdout[-2500:] + done.stderr[-2500:]
    (version,) = versions(store)
    assert version.recipe_run_id == run_id
    row = publication(store, run_id)
    assert (row.status, row.attempts, row.version_id) == ("published", 1, version.version_id)
    # No SMTP server anywhere: the notice waits in the store's outbox.
    (message,) = messages(store)
    assert (message.status, message.recipient, message.recipe_run_id) == (
        "queued",
        PI_EMAIL,
        run_id,
    )
    listed = cli("outbox", "list", "--database-url", database_url, "--workdir", str(work))
    assert message.key in listed.stdout and "queued" in listed.stdout
    # Readable by other users: folders 0755, files 0644; nothing staged is left behind.
    package = work / "archive" / "obs_1" / version.version_id
    for path in [package.parent, package, *package.iterdir()]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))
    assert list((work / "archive" / ".staging").iterdir()) == []
    # Published exactly once: a pass finds nothing more; publishing the run again is a no-op.
    again = cli("publish", "--database-url", database_url, "--workdir", str(work))
    assert "nothing to publish" in again.stdout
    cli("publish", str(run_id), "--database-url", database_url, "--workdir", str(work))
    assert len(versions(store)) == 1 and len(messages(store)) == 1


def test_a_pass_publishes_what_succeeded_elsewhere_exactly_once(store, clock, tmp_path, l1_folder):
    run_id = set_up(store, clock, l1_folder)
    # Succeeded by a caller that does not publish (a plain Scheduler, as an engine would).
    (outcome,) = Scheduler(store, tmp_path / "scratch").run_until_idle()
    assert outcome.status == "succeeded"
    with store.session() as s:
        assert pending_publications(s) == [run_id]
    first = publish_pending(
        store, scratch_root=tmp_path / "scratch", archive_root=tmp_path / "archive"
    )
    second = publish_pending(
        store, scratch_root=tmp_path / "scratch", archive_root=tmp_path / "archive"
    )
    assert [o.status for o in first] == ["published"] and second == []
    assert len(versions(store)) == 1
    with store.session() as s:
        assert pending_publications(s) == []


# --- 1: a publish that fails on a full disk is a ticket; tickets retry publishes again ---


def test_a_publish_on_a_full_disk_becomes_a_ticket_that_retry_publishes(
    store, clock, database_url, tmp_path, l1_folder, small_disk
):
    archive, grow = small_disk
    work = tmp_path  # the work folder: scratch and archive (a 48 kB tmpfs) in it
    run_id = set_up(store, clock, l1_folder)
    (outcome,) = Scheduler(store, work / "scratch").run_until_idle()
    assert outcome.status == "succeeded"
    (failed,) = publish_pending(store, scratch_root=work / "scratch", archive_root=archive)
    assert failed.status == "failed" and "No space left on device" in failed.error
    row = publication(store, run_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "No space left on device" in row.last_error
    with store.session() as s:
        ticket = tickets.open_ticket_for_run(s, run_id, tickets.PUBLICATION)
        assert ticket.id == failed.ticket_id and ticket.failed_task == "publish"
        assert s.get(RecipeRun, run_id).status == "succeeded"
    assert versions(store) == []
    # Nothing half-written is left in the archive: no package, no staging folder.
    assert [p for p in archive.rglob("*") if p.is_file()] == []
    # A pass does not retry a failed publication by itself (its ticket waits for a person).
    assert publish_pending(store, scratch_root=work / "scratch", archive_root=archive) == []
    # An earlier attempt killed part-way left a staging folder: the retry removes it first.
    leftover = archive / ".staging" / f"{run_id}-1"
    leftover.mkdir(parents=True)
    (leftover / "half.fits").write_bytes(b"SIMPLE")
    grow()  # the operator frees space
    done = cli(
        "tickets",
        "retry",
        str(failed.ticket_id),
        "--operator",
        "op",
        "--database-url",
        database_url,
        "--workdir",
        str(work),
    )
    assert f"recipe run {run_id}: published" in done.stdout
    (version,) = versions(store)
    row = publication(store, run_id)
    assert (row.status, row.attempts, row.version_id) == ("published", 2, version.version_id)
    assert not leftover.exists() and list((archive / ".staging").iterdir()) == []
    with store.session() as s:
        ticket = s.get(Ticket, failed.ticket_id)
        assert (ticket.status, ticket.resolution) == ("resolved", "publish_again")


# --- 5: PI e-mail from the CLI; claim before send; 5xx is refused for good, with a ticket ---


def test_candidates_add_stores_the_pi_email(store, clock, database_url, tmp_path, l1_folder):
    set_up(store, clock, l1_folder)  # makes the recipe 'publish'
    cli(
        "candidates",
        "add",
        "obs_2",
        "publish",
        "pid_2",
        "Dr. Two",
        "2024-04-20",
        "--pi-email",
        "two@example.org",
        "--database-url",
        database_url,
        "--workdir",
        str(tmp_path),
    )
    with store.session() as s:
        assert s.get(Proposal, "pid_2").principal_investigator_email == ("two@example.org")


def _queue(store, n: int, recipe_run_id=None, dataset_id="DS") -> list[str]:
    outbox = store_outbox(store)
    keys = []
    for i in range(n):
        key, added = outbox.queue_version_available(
            pi_email=PI_EMAIL,
            dataset_id=dataset_id,
            version=f"v{i}",
            proposal_id="pid_1_1",
            where=f"/archive/{dataset_id}/v{i}",
            recipe_run_id=recipe_run_id,
        )
        assert added
        keys.append(key)
    return keys


def test_concurrent_senders_send_each_message_once(store, smtp):
    keys = _queue(store, 6)
    recorder = Recorder()
    port = smtp(recorder)
    reports, barrier = [], threading.Barrier(3)

    def send() -> None:
        sender = store_outbox(store, ("127.0.0.1", port))
        barrier.wait()
        reports.append(sender.send_pending())

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = sorted(k for r in reports for k in r.sent)
    assert sent == sorted(keys)  # every message by exactly one sender
    assert len(recorder.messages) == len(keys)
    ids = [e.content.decode().split("Message-ID: ")[1].split("\r\n")[0] for e in recorder.messages]
    assert len(set(ids)) == len(keys)
    assert {m.status for m in messages(store)} == {"sent"}
    # A claimed message is not claimable by a second sender.
    (late,) = _queue(store, 1, dataset_id="LATE")
    first, second = StoreOutbox(store), StoreOutbox(store)
    now = 4e9
    assert first.claim(late, now) and not second.claim(late, now)


def test_a_5xx_refusal_is_not_retried_and_opens_a_ticket(
    store, clock, database_url, tmp_path, l1_folder, smtp
):
    run_id = set_up(store, clock, l1_folder)
    (key,) = _queue(store, 1, recipe_run_id=run_id)
    refusing = Recorder(reply="550 5.1.1 mailbox unavailable")
    port = smtp(refusing)
    report = store_outbox(store, ("127.0.0.1", port)).send_pending()
    assert list(report.refused) == [key] and "550" in report.refused[key]
    again = store_outbox(store, ("127.0.0.1", port)).send_pending(now=4e9)
    assert again.sent == [] and again.refused == {} and again.failed == {}
    (message,) = messages(store)
    assert (message.status, message.attempts) == ("refused", 1)
    with store.session() as s:
        ticket = tickets.open_ticket_for_run(s, run_id, tickets.NOTIFICATION)
        assert "550" in ticket.error and PI_EMAIL in ticket.error
    # The operator fixes the address at the server's end and retries from the command line.
    accepting = Recorder()
    good_port = smtp(accepting)
    common = ["--database-url", database_url, "--workdir", str(tmp_path)]
    cli("outbox", "retry", key, *common)
    assert messages(store)[0].status == "queued"
    done = cli("outbox", "send", "--smtp", f"127.0.0.1:{good_port}", *common)
    assert "1 sent" in done.stdout and len(accepting.messages) == 1
    assert messages(store)[0].status == "sent"
    with store.session() as s:
        assert tickets.open_ticket_for_run(s, run_id, tickets.NOTIFICATION) is None
    # A sent message can neither be retried nor abandoned (the error path says so).
    refused = cli("outbox", "abandon", key, *common, check=False)
    assert refused.returncode != 0 and "sent" in refused.stderr


def test_outbox_abandon_from_the_cli(store, database_url, tmp_path):
    (key,) = _queue(store, 1)
    cli("outbox", "abandon", key, "--database-url", database_url, "--workdir", str(tmp_path))
    assert messages(store)[0].status == "abandoned"
    unknown = cli(
        "outbox",
        "retry",
        "nope",
        "--database-url",
        database_url,
        "--workdir",
        str(tmp_path),
        check=False,
    )
    assert unknown.returncode == 1 and "error:" in unknown.stderr and "'nope'" in unknown.stderr


# --- 3: manual processing ends in a distributed, announced version ---


def test_manual_processing_is_validated_ingested_and_announced(
    store, clock, database_url, tmp_path, l1_folder, smtp
):
    run_id = set_up(store, clock, l1_folder, fail=True)
    work = tmp_path / "work"
    (outcome,) = Scheduler(store, work / "scratch").run_until_idle()
    assert outcome.status == "failed"
    common = ["--database-url", database_url, "--workdir", str(work)]
    with store.session() as s:
        ticket_id = tickets.ticket_for_run(s, run_id).id
    # The operator exports the plan, fixes it by hand and runs it.
    plan = tmp_path / "plan"
    cli("tickets", "plan", str(ticket_id), "--out", str(plan), *common)
    assert {p.name for p in plan.iterdir()} == {
        "run_spec.json",
        "input_dataset.json",
        "parameter_values.json",
    }
    spec = json.loads((plan / "run_spec.json").read_text())
    assert spec["provenance"]["manual_processing"] is True
    assert json.loads((plan / "input_dataset.json").read_text()) == spec["input_dataset"]
    del spec["configuration"]["fail_in"]  # the manual fix
    (plan / "run_spec.json").write_text(json.dumps(spec))
    cli("run", str(plan / "run_spec.json"))
    # Files that are not this dataset's manual output are refused, naming each file.
    automated = sorted(l1_folder.glob("*.fits"))[:1]
    refused = cli(
        "tickets",
        "manual",
        str(ticket_id),
        "--operator",
        "Dr. Hand",
        "--actions",
        "x",
        "--reason",
        "y",
        "--file",
        str(plan / "scratch"),
        "--file",
        str(automated[0]),
        *common,
        check=False,
    )
    assert refused.returncode == 1 and automated[0].name in refused.stderr
    assert "DSETID" in refused.stderr and "MANPROCD" in refused.stderr
    assert versions(store) == []
    # The real manual output is validated, ingested, packaged and announced.
    recorder = Recorder()
    port = smtp(recorder)
    cli(
        "tickets",
        "manual",
        str(ticket_id),
        "--operator",
        "Dr. Hand",
        "--actions",
        "ran the plan without the failing setting",
        "--reason",
        "writer bug",
        "--file",
        str(plan / "scratch"),
        "--smtp",
        f"127.0.0.1:{port}",
        *common,
    )
    (version,) = versions(store)
    assert version.manually_processed
    (execution,) = version.provenance["manual_influence"]["executions"]
    assert (execution["operator"], execution["reason"]) == ("Dr. Hand", "writer bug")
    package = work / "archive" / "obs_1" / version.version_id
    frames = sorted(package.glob("*.fits"))
    assert frames
    for frame in frames:
        with fits.open(frame) as hdul:
            assert hdul[1].header["MANPROCD"] is True
            assert hdul[1].header["DSETID"] == "obs_1"
    assert (
        len(recorder.messages) == 1 and version.version_id in recorder.messages[0].content.decode()
    )
    assert publication(store, version.recipe_run_id).status == "published"


def test_a_manual_execution_cannot_resolve_a_publication_ticket(store, clock, tmp_path, l1_folder):
    run_id = set_up(store, clock, l1_folder)
    Scheduler(store, tmp_path / "scratch").run_until_idle()
    (failed,) = publish_pending(
        store, scratch_root=tmp_path / "elsewhere", archive_root=tmp_path / "archive"
    )
    assert failed.status == "failed" and "has no L1 frames" in failed.error
    with store.session() as s, pytest.raises(tickets.TicketError, match="publication"):
        resolutions.resolve_by_manual_execution(s, failed.ticket_id, "op", "a", "b")
    with store.session() as s:
        assert s.get(Ticket, failed.ticket_id).status == "open"
    assert run_id == failed.recipe_run_id
    assert store_outbox_module.list_messages  # the outbox module is the CLI's library


def test_publish_command_names_what_cannot_be_published(store, clock, database_url, tmp_path):
    common = ["--database-url", database_url, "--workdir", str(tmp_path)]
    unknown = cli("publish", "999", *common, check=False)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error:") and "recipe run 999 does not exist" in unknown.stderr
    set_up_recipe_only = cli(
        "tickets", "plan", "42", "--out", str(tmp_path / "p"), *common, check=False
    )
    assert (
        set_up_recipe_only.returncode == 1
        and "ticket 42 does not exist" in set_up_recipe_only.stderr
    )
    assert "nothing to publish" in cli("publish", *common).stdout


# --- dkist-processing run on a stored recipe run: recorded, then published exactly once ---


def test_run_of_a_stored_recipe_run_records_and_publishes_it_once(
    store, clock, database_url, tmp_path, l1_folder
):
    run_id = set_up(store, clock, l1_folder)
    work = tmp_path / "work"
    common = ["--database-url", database_url, "--workdir", str(work)]
    done = cli("run", "--recipe-run", str(run_id), *common)
    (version,) = versions(store)
    assert f"recipe run {run_id}: published as version {version.version_id}" in done.stdout
    assert "WriteL1Frames" in done.stdout  # the report's tasks
    with store.session() as s:
        run = s.get(RecipeRun, run_id)
        assert (run.status, run.lease_owner) == ("succeeded", None)
    row = publication(store, run_id)
    assert (row.status, row.attempts, row.version_id) == ("published", 1, version.version_id)
    assert (work / "archive" / "obs_1" / version.version_id / "SHA256SUMS").is_file()
    (message,) = messages(store)
    assert (message.status, message.recipe_run_id) == ("queued", run_id)
    # Exactly once: a pass finds nothing to publish; running the run again is refused.
    assert "nothing to publish" in cli("publish", *common).stdout
    again = cli("run", "--recipe-run", str(run_id), *common, check=False)
    assert again.returncode == 1 and f"recipe run {run_id} is succeeded" in again.stderr
    assert len(versions(store)) == 1 and len(messages(store)) == 1
    # A spec file runs without a store: the store's options go with --recipe-run.
    spec = tmp_path / "spec.json"
    spec.write_text("{}")
    mixed = cli("run", str(spec), *common, check=False)
    assert mixed.returncode == 2 and "--recipe-run" in mixed.stderr


def test_run_of_a_stored_recipe_run_that_fails_is_a_ticket(
    store, clock, database_url, tmp_path, l1_folder
):
    run_id = set_up(store, clock, l1_folder, fail=True)
    work = tmp_path / "work"
    done = cli("run", "--recipe-run", str(run_id), "--database-url", database_url,
               "--workdir", str(work), check=False)  # fmt: skip
    assert done.returncode == 1
    assert f"recipe run {run_id} failed in task WriteL1Frames" in done.stderr
    with store.session() as s:
        ticket = tickets.ticket_for_run(s, run_id)
        assert (ticket.status, ticket.failed_task) == ("open", "WriteL1Frames")
        assert f"(ticket {ticket.id})" in done.stderr
    assert versions(store) == [] and messages(store) == []
