"""The end-to-end demo: both instruments' data go from the summit to a package and a PI mail."""

from __future__ import annotations

import io
import os
import tempfile
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import select

from dkist_processing_core.datacenter.operations.scheduling import build_run_spec
from dkist_processing_core.datacenter.operations.status import processing_status
from dkist_processing_core.datacenter.store import open_store
from dkist_processing_core.datacenter.store.models import (
    Dataset,
    DatasetVersion,
    Instrument,
    Ticket,
)
from dkist_processing_core.demo.run import PI, PROPOSAL, PlainNarrator, run_demo

pytestmark = pytest.mark.slow


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo") / "work"
    # Elsewhere the demo might write: the current folder and the temporary folder. Both are
    # fresh and empty here, so anything found in them afterwards was made by the demo.
    elsewhere = tmp_path_factory.mktemp("cwd")
    temporary = tmp_path_factory.mktemp("tmp")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(elsewhere)
        mp.setenv("TMPDIR", str(temporary))
        mp.setattr(tempfile, "tempdir", str(temporary))
        result = run_demo(workdir, narrator=PlainNarrator(io.StringIO()))
    yield workdir, result, _files(elsewhere) + _files(temporary)


def test_every_recipe_run_succeeded_with_no_open_ticket(demo):
    workdir, result, _ = demo
    assert len(result["outcomes"]) == 2
    assert [o.status for o in result["outcomes"]] == ["succeeded", "succeeded"]
    assert all(o.error is None for o in result["outcomes"])  # publishing included
    store = open_store(workdir=workdir)
    with store.session() as s:
        assert s.scalars(select(Ticket).where(Ticket.status == "open")).all() == []
    store.dispose()


def test_one_dataset_version_per_instrument(demo):
    workdir, result, _ = demo
    store = open_store(workdir=workdir)
    with store.session() as s:
        rows = s.execute(
            select(Instrument.name, Dataset.dataset_id, DatasetVersion.version_id)
            .join(Dataset, Dataset.instrument_id == Instrument.id)
            .join(DatasetVersion, DatasetVersion.dataset_pk == Dataset.id)
        ).all()
    store.dispose()
    assert sorted(name for name, _, _ in rows) == ["vbi", "visp"]
    assert {(p.dataset_id, p.version) for p in result["published"]} == {
        (dataset_id, version) for _, dataset_id, version in rows
    }
    for p in result["published"]:
        assert p.created and (p.package_path / "SHA256SUMS").is_file()
        assert list(p.package_path.glob("*.asdf"))


def test_exactly_one_mail_per_version_reached_the_smtp_server(demo):
    workdir, result, _ = demo
    received = sorted((workdir / "mail").glob("*.eml"))
    assert received == sorted(result["messages"])
    messages = [message_from_bytes(path.read_bytes()) for path in received]
    assert len(messages) == len(result["published"]) == 2
    for p in result["published"]:
        (mail,) = [m for m in messages if p.version in m["Subject"]]
        assert mail["To"] == PI[1]
        assert p.dataset_id in mail["Subject"]
        assert PROPOSAL in mail.get_payload()


def test_status_says_both_candidates_succeeded(demo):
    workdir, result, _ = demo
    store = open_store(workdir=workdir)
    with store.session() as s:
        (proposal,) = processing_status(s)
    store.dispose()
    assert proposal["proposal_id"] == PROPOSAL
    candidates = proposal["candidates"]
    assert len(candidates) == 2
    published = {p.dataset_id: p.version for p in result["published"]}
    for candidate in candidates:
        assert candidate["status"] == "succeeded"
        assert candidate["frames_received"] == candidate["frames_expected"]
        assert [r["status"] for r in candidate["runs"]] == ["succeeded"]
        assert candidate["open_tickets"] == []
        (version,) = candidate["dataset_versions"]
        assert published[version["dataset_id"]] == version["version_id"]
        assert version["status"] == "available"


def test_every_file_the_demo_made_lies_under_the_workdir(demo):
    workdir, result, made_elsewhere = demo
    assert made_elsewhere == []
    assert (workdir / "datacenter.sqlite").is_file()
    for name in ("summit", "scratch", "archive", "outbox", "mail"):
        assert (workdir / name).is_dir(), name
    store = open_store(workdir=workdir)
    with store.session() as s:
        scratch_dirs = [
            build_run_spec(s, o.recipe_run_id, workdir / "scratch").scratch_dir
            for o in result["outcomes"]
        ]
    store.dispose()
    places = [*scratch_dirs, *(p.package_path for p in result["published"])]
    places += list(result["messages"])
    for place in places:
        assert Path(os.path.realpath(place)).is_relative_to(workdir.resolve()), place
    # the packages' ASDF files refer to their frames by relative path, inside the package
    for p in result["published"]:
        (asdf_path,) = p.package_path.glob("*.asdf")
        assert str(workdir / "scratch").encode() not in asdf_path.read_bytes()
