"""After a recipe run succeeds: catalog its products, register the version, notify the PI.

This joins the three pieces of ingest: the file-level catalog work
(:mod:`.catalog`: checksums, inventories, ASDF, package), the store
(:mod:`~dkist_processing_core.datacenter.products.ingest`: the dataset version and its inventories, all or nothing) and the
PI's notification (:mod:`.catalog.notify`: an outbox that never loses nor
repeats a message). The version is derived once, from the provenance the store
records for the run (:func:`.versions.provenance_document`), with the code
versions the L1 frames themselves record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.calibration.l1.header import read_provenance_history
from dkist_processing_core.datacenter.operations.scheduling import scratch_dir_for
from dkist_processing_core.datacenter.products.catalog.ingest import ingest_dataset
from dkist_processing_core.datacenter.products.catalog.notify import Outbox
from dkist_processing_core.datacenter.products.ingest import register_dataset_version
from dkist_processing_core.datacenter.products.versions import provenance_document, version_id
from dkist_processing_core.datacenter.store import Store
from dkist_processing_core.datacenter.store.models import (
    ProcessingCandidate,
    Proposal,
    RecipeInstance,
    RecipeRun,
)
from dkist_processing_core.framework import Scratch


class PublishError(RuntimeError):
    """A succeeded run whose products cannot be catalogued; the message says why."""


@dataclass
class Published:
    recipe_run_id: int
    dataset_id: str
    version: str
    package_path: Path
    created: bool
    notification_key: str | None


def _products(scratch: Scratch) -> dict[str, Path]:
    """The quality data, report and movie the workflow made (empty if it made none)."""
    found: dict[str, Path] = {}
    for kind, tag in (
        ("quality_data", "QUALITY_DATA"),
        ("quality_report_data", "QUALITY_REPORT_DATA"),
        ("quality_report", "QUALITY_REPORT"),
    ):
        paths = scratch.find(t.OUTPUT, t.QUALITY, tag)
        if len(paths) == 1:
            found[kind] = paths[0]
    for path in scratch.find(t.OUTPUT, t.MOVIE):
        found["preview" if path.suffix == ".png" else "movie"] = path
    return found


def publish_recipe_run(
    store: Store,
    recipe_run_id: int,
    *,
    scratch_root: Path | str,
    archive_root: Path | str,
    outbox: Outbox | None = None,
) -> Published:
    """Catalog a succeeded run's L1 dataset as a new (or the existing) version.

    Idempotent: publishing the same run again finds the same version and the same
    package, registers nothing twice and queues no second message.
    """
    with store.session() as session:
        run = session.get(RecipeRun, recipe_run_id)
        if run is None:
            raise PublishError(f"recipe run {recipe_run_id} does not exist")
        if run.status != "succeeded":
            raise PublishError(
                f"recipe run {recipe_run_id} is {run.status}: only a succeeded run is published"
            )
        instance = session.get(RecipeInstance, run.recipe_instance_id)
        candidate = session.get(ProcessingCandidate, instance.processing_candidate_id)
        proposal = session.get(Proposal, candidate.proposal_id)
    scratch_dir = scratch_dir_for(scratch_root, recipe_run_id)
    with Scratch(scratch_dir) as scratch:
        frames = scratch.find(t.OUTPUT, t.L1)
        products = _products(scratch)
    if not frames:
        raise PublishError(f"recipe run {recipe_run_id} has no L1 frames in {scratch_dir}")
    header = fits.getheader(frames[0], 1)
    dataset_id = str(header["DSETID"])
    code_versions = read_provenance_history(header)["library_versions"]
    with store.session() as session:
        provenance = provenance_document(session, recipe_run_id, code_versions=code_versions)
    version = version_id(provenance)
    result = ingest_dataset(
        frames,
        archive_root,
        dataset_id=dataset_id,
        version=version,
        provenance=provenance,
        parameter_values=provenance["parameter_values"],
        products=products,
    )
    with store.session() as session:
        registered = register_dataset_version(
            session,
            recipe_run_id,
            dataset_inventory={
                **result.dataset_inventory.model_dump(mode="json"),
                "dataset_id": dataset_id,
            },
            frames=[f.model_dump(mode="json") for f in result.frame_inventory],
            objects=[o.model_dump(mode="json") for o in result.object_inventory],
            provenance=provenance,
        )
    key = None
    if outbox is not None and proposal is not None and proposal.principal_investigator_email:
        key, _ = outbox.queue_version_available(
            pi_email=proposal.principal_investigator_email,
            dataset_id=dataset_id,
            version=registered.version_id,
            proposal_id=proposal.id,
            where=str(result.package_path),
            summary=f"{result.dataset_inventory.frame_count} Level 1 frames.",
        )
        outbox.send_pending()
    return Published(
        recipe_run_id, dataset_id, registered.version_id, result.package_path, result.created, key
    )
