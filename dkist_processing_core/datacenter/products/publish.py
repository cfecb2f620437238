"""After a recipe run succeeds: package its products, register the version, notify the PI.

Publication moves what the run made; it computes nothing. It joins three pieces:

1. the run's outputs in its scratch: the L1 frames and the dataset products,
   found by their tags (:data:`dkist_processing_core.calibration.outputs.DATASET_PRODUCTS`);
   a missing product fails publication with a :class:`PublishError` naming it;
   the run report the executor wrote into the scratch gives the code versions
   the run used (:func:`dkist_processing_core.framework.read_run_report`);
2. the version, derived once from the provenance the store records for the run
   (:func:`.versions.provenance_document`) with those code versions;
3. the file-level catalog work (:func:`.catalog.collect.collect_dataset`:
   checksums, the distribution package), the registration in the store
   (:func:`.register.register_dataset_version`: the version and its inventories,
   all or nothing) and the PI's notification (:mod:`.catalog.notify`: an outbox
   that never loses nor repeats a message).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dkist_processing_core.calibration.outputs import (
    DATASET_PRODUCTS,
    L1_FRAMES,
    read_dataset_inventory,
)
from dkist_processing_core.datacenter.operations.scheduling import scratch_dir_for
from dkist_processing_core.datacenter.products.catalog.collect import (
    collect_dataset,
    missing_products,
)
from dkist_processing_core.datacenter.products.catalog.notify import Outbox
from dkist_processing_core.datacenter.products.register import register_dataset_version
from dkist_processing_core.datacenter.products.versions import provenance_document, version_id
from dkist_processing_core.datacenter.store import Store
from dkist_processing_core.datacenter.store.models import (
    ProcessingCandidate,
    Proposal,
    RecipeInstance,
    RecipeRun,
)
from dkist_processing_core.framework import RunReport, Scratch, read_run_report
from dkist_processing_core.framework.crashpoints import crash_point

__all__ = ["PublishError", "Published", "publish_recipe_run"]


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


def _products(scratch: Scratch) -> dict[str, Path | None]:
    """Each dataset product the workflow made, by kind (None where not exactly one file)."""
    found: dict[str, Path | None] = {}
    for product in DATASET_PRODUCTS:
        paths = scratch.find(*product.tags)
        found[product.kind] = paths[0] if len(paths) == 1 else None
    return found


def _run_report(recipe_run_id: int, scratch_dir: Path) -> RunReport:
    try:
        report = read_run_report(scratch_dir)
    except (OSError, ValueError) as error:
        raise PublishError(
            f"recipe run {recipe_run_id}: cannot read the code versions it used: {error}"
        ) from None
    if not report.code_versions:
        raise PublishError(
            f"recipe run {recipe_run_id}: its run report in {scratch_dir} records no code "
            "versions (expected the library versions the executor records)"
        )
    return report


def publish_recipe_run(
    store: Store,
    recipe_run_id: int,
    *,
    scratch_root: Path | str,
    archive_root: Path | str,
    outbox: Outbox | None = None,
    scratch_dir: Path | str | None = None,
    **package_options: Any,
) -> Published:
    """Catalog a succeeded run's L1 dataset as a new (or the existing) version.

    Idempotent: publishing the same run again finds the same version and the same
    package, registers nothing twice and queues no second message. A run processed by
    hand (a manual execution naming its files) publishes those files
    (:mod:`.manual`). ``package_options`` (``staging_dir``, ``dir_mode``,
    ``file_mode``) go to the package builder. Most callers want
    :func:`.publication.publish_run`, which records the publication step of the run.
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
    from dkist_processing_core.datacenter.products.manual import manual_outputs

    with store.session() as session:
        manual = manual_outputs(session, recipe_run_id)
    if manual is not None:
        scratch_dir = manual.where
        frames, products, code_versions = manual.frames, manual.products, manual.code_versions
    else:
        scratch_dir = Path(scratch_dir or scratch_dir_for(scratch_root, recipe_run_id))
        with Scratch(scratch_dir) as scratch:
            frames = scratch.find(*L1_FRAMES)
            products = _products(scratch)
        code_versions = None
    if not frames:
        raise PublishError(f"recipe run {recipe_run_id} has no L1 frames in {scratch_dir}")
    missing = missing_products(products)
    if missing:
        raise PublishError(
            f"recipe run {recipe_run_id} lacks {len(missing)} dataset product(s) in "
            f"{scratch_dir}: " + "; ".join(missing) + ". Its workflow must make them (one file "
            "each); the data center makes no product."
        )
    if manual is None:
        code_versions = _run_report(recipe_run_id, scratch_dir).code_versions
    with store.session() as session:
        provenance = provenance_document(session, recipe_run_id, code_versions=code_versions)
    version = version_id(provenance)
    # The dataset id (DSETID) the workflow's dataset inventory record names.
    dataset_id = read_dataset_inventory(products["dataset_inventory"]).dataset_id
    result = collect_dataset(
        frames,
        products,
        archive_root,
        dataset_id=dataset_id,
        version=version,
        provenance=provenance,
        parameter_values=provenance["parameter_values"],
        **package_options,
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
            also_recipe_run_ids=manual.made_by_run_ids if manual is not None else (),
        )
        session.flush()
        crash_point("publish-before-commit", result.package_path)
    key = None
    if outbox is not None and proposal is not None and proposal.principal_investigator_email:
        key, _ = outbox.queue_version_available(
            pi_email=proposal.principal_investigator_email,
            dataset_id=dataset_id,
            version=registered.version_id,
            proposal_id=proposal.id,
            where=str(result.package_path),
            summary=f"{result.dataset_inventory.frame_count} Level 1 frames.",
            recipe_run_id=recipe_run_id,
        )
        crash_point("outbox-queued", key)
        outbox.send_pending()
    return Published(
        recipe_run_id, dataset_id, registered.version_id, result.package_path, result.created, key
    )
