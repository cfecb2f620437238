"""The end-to-end demo: from simulated summit data to a packaged, catalogued, announced dataset.

Everything it makes goes under one folder (``workdir``)::

    datacenter.sqlite   the metadata store (SQLite, the embedded default)
    summit/<instr>/     the simulated raw frames, their transfer manifest and the truth
    scratch/            each recipe run's working files
    archive/            the packaged dataset versions (L1 frames, ASDF, quality report, movie)
    outbox/, mail/      the PI notifications: queued, and as received by a local SMTP server

The path, as the data center walks it: the observations are announced as processing
candidates with their transfer manifests; frames arrive (some late), the periodic
readiness pass waits for them, then assembles input datasets and creates recipe runs;
the scheduler runs them (local executor) and publishes each result: checksums,
inventories, ASDF, quality report, movie, a version derived from the provenance, a
package, and an email to the PI.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import TextIO

from dkist_processing_core.datacenter.operations.scheduling import Scheduler
from dkist_processing_core.datacenter.operations.status import (
    STATUS_COLUMNS,
    processing_status,
    status_rows,
)
from dkist_processing_core.datacenter.planning import readiness, recipes
from dkist_processing_core.datacenter.products.catalog.notify import Outbox, SQLiteOutboxStore
from dkist_processing_core.datacenter.products.publish import publish_recipe_run

from ..datacenter.store import open_store
from ..simulate import simulate_vbi, simulate_visp, single_filter

PROPOSAL = "pid_2_114"
PI = ("Dr. Helios Sunfield", "pi@sunfield.example")
OBSERVATION_DATE = datetime(2024, 5, 1, tzinfo=UTC)


class _MailDrop:
    """An SMTP handler that files each received message under ``folder``."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        n = len(list(self.folder.glob("*.eml")))
        (self.folder / f"{n + 1:03d}.eml").write_bytes(envelope.original_content)
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def local_smtp_server(folder: Path):
    """A real SMTP server on loopback (aiosmtpd) that files what it receives; yields its port."""
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(_MailDrop(folder), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


class PlainNarrator:
    """Tells the demo's story as plain text on a stream (stdout by default).

    The command line passes a narrator that draws rules and tables in a terminal; any
    object with these three methods will do.
    """

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout

    def section(self, title: str) -> None:
        print(f"\n== {title} ==", file=self.stream)

    def say(self, text: str) -> None:
        print(text, file=self.stream)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        widths = [max([len(c), *(len(str(r[i])) for r in rows)]) for i, c in enumerate(columns)]
        print(title, file=self.stream)
        for row in [columns, *rows]:
            print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)), file=self.stream)


def run_demo(workdir: Path | str, *, seed: int = 1, narrator=None) -> dict:
    say = narrator or PlainNarrator()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    say.section("1. the summit: simulated observations with a known truth")
    observations = {
        "visp": simulate_visp(workdir / "summit" / "visp", seed=seed),
        # A VBI dataset is one filter: the demo observes one (430.5 nm) of the three.
        "vbi": simulate_vbi(workdir / "summit" / "vbi", seed=seed, **single_filter(1)),
    }
    for name, obs in observations.items():
        say.say(f"{name}: {len(obs.frames)} raw frames in {len(obs.op_runs)} OP runs")

    say.section("2. the data center: recipes, processing candidates, transfer manifests")
    store = open_store(workdir=workdir)
    with store.session() as s:
        for name in observations:
            recipes.register_instrument_package(s, name, valid_from=OBSERVATION_DATE)
        recipes.set_resource_pool(s, "default", 2)
    for name, obs in observations.items():
        calibration_ops = [op for op, kind in obs.op_runs.items() if kind != "observe"]
        (observe_op,) = [op for op, kind in obs.op_runs.items() if kind == "observe"]
        with store.session() as s:
            readiness.register_processing_candidate(
                s,
                observe_op,
                calibration_ops,
                proposal_id=PROPOSAL,
                principal_investigator=PI[0],
                principal_investigator_email=PI[1],
                recipe=f"{name}_l1_calibration",
                observation_date=OBSERVATION_DATE,
            )
            readiness.record_transfer_manifests(s, obs.transfer_manifest)

    def deliver(obs, records):
        arrivals = [
            readiness.FrameArrival(
                obs.frame_id(r), r.op_run_id, obs.op_runs[r.op_run_id], str(obs.path_of(r))
            )
            for r in records
        ]
        with store.session() as s:
            return readiness.record_frames(s, arrivals)

    say.section("3. frames arrive; the readiness pass waits for all of them")
    for obs in observations.values():
        deliver(obs, obs.frames[:-5])  # the last five frames are late...
        deliver(obs, obs.frames[:3])  # ...and a few are delivered twice (counted once)
    first = readiness.run_readiness_pass(store)
    say.say(f"first pass: {first.ready} ready, {first.recipe_runs_created} recipe runs")
    for obs in observations.values():
        deliver(obs, obs.frames[-5:])
    second = readiness.run_readiness_pass(store)
    say.say(
        f"after the late frames: {second.ready} ready, {second.recipe_runs_created} recipe runs"
    )
    processing_table(store, say)

    say.section("4. the scheduler runs the recipe runs and publishes each dataset")
    mail = workdir / "mail"
    with local_smtp_server(mail) as port:
        outbox = Outbox(
            SQLiteOutboxStore(workdir / "outbox"), smtp_host="127.0.0.1", smtp_port=port
        )
        published = []

        def publish(recipe_run_id: int) -> None:
            published.append(
                publish_recipe_run(
                    store,
                    recipe_run_id,
                    scratch_root=workdir / "scratch",
                    archive_root=workdir / "archive",
                    outbox=outbox,
                )
            )

        scheduler = Scheduler(store, workdir / "scratch", after_success=publish)
        outcomes = scheduler.run_until_idle()
    for outcome in outcomes:
        say.say(f"recipe run {outcome.recipe_run_id}: {outcome.status}" + (
            f" ({outcome.failed_task}: {outcome.error})" if outcome.error else ""
        ))  # fmt: skip

    say.section("5. status, datasets and notifications")
    processing_table(store, say)
    say.table(
        "packaged dataset versions",
        ("dataset", "version", "package"),
        [(p.dataset_id, p.version, str(p.package_path)) for p in published],
    )
    messages = sorted(mail.glob("*.eml"))
    for path in messages:
        message = message_from_bytes(path.read_bytes())
        say.say(f"mail to {message['To']}: {message['Subject']}")
    say.say(f"everything is under {workdir}")
    return {"outcomes": outcomes, "published": published, "messages": messages}


def processing_table(store, narrator) -> None:
    """The status view as a table: one row per processing candidate."""
    with store.session() as s:
        rows = status_rows(processing_status(s))
    narrator.table("processing status", STATUS_COLUMNS, rows)
