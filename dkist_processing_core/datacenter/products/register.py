"""Registering a processed dataset version in the store: provenance, inventories, lineage.

The inventories are made by the workflow's tasks and the file-level work
(checksum verification, the distribution package) is done by the catalog
(:mod:`.catalog.collect`); this module takes their records as plain data and
stores it all in one transaction (a savepoint inside the caller's session): on
any error nothing of the version is left behind.

- ``dataset_inventory``: ``dataset_id`` (optional: defaults to the dataset's
  existing id, else the observe OP run id), ``start_time``, ``end_time`` (ISO
  8601 or datetime; naive means UTC), and optionally ``instrument``,
  ``proposal_id``, ``wavelength_min_nm``, ``wavelength_max_nm``,
  ``bounding_box_arcsec``, ``stokes_parameters``, ``frame_count`` (must equal
  the number of frames), ``dataset_size_bytes``, ``quality`` (summary) and
  ``record`` (the full inventory record) -- a
  :class:`~dkist_processing_core.calibration.outputs.DatasetInventory` as a dict.
- ``frames``: one dict per L1 frame: ``object_key`` and optionally
  ``date_beg``, ``stokes``, ``wavelength_nm``, ``size_bytes``, ``datasum``,
  ``header`` and ``provenance`` (header keywords: RRUNID, WKFLNAME, WKFLVERS
  are checked against the run) -- a
  :class:`~dkist_processing_core.calibration.outputs.FrameRecord` as a dict.
- ``objects``: one dict per file: ``object_key`` (or ``path``), ``kind``
  (frame, asdf, quality, movie, preview, manifest, other), ``size_bytes`` (or
  ``size``) and ``sha256``. Every frame must be listed as an object of kind
  ``frame``.

Registration is idempotent by version id: the same provenance registered
again returns the existing version. A new version of a dataset that already
has one supersedes it (the version a reprocessing run was made for, else the
newest distributed version); the superseded version becomes
``superseded_pending_curation`` and stays distributed until a curator decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.clock import Clock, SystemClock, as_utc
from dkist_processing_core.datacenter.planning.recipe_runs import SUCCEEDED
from dkist_processing_core.datacenter.products.versions import (
    AVAILABLE,
    DISCARDED,
    SUPERSEDED_PENDING_CURATION,
    _run_plan,
    canonical_json,
    check_provenance,
    provenance_document,
    version_id,
)
from dkist_processing_core.datacenter.store.models import (
    OBJECT_KINDS,
    Dataset,
    DatasetInventory,
    DatasetVersion,
    DatasetVersionCodeVersion,
    DatasetVersionInputFrame,
    DatasetVersionParameterValue,
    FrameInventory,
    InputDatasetFrame,
    InputDatasetParameterValue,
    Instrument,
    ObjectInventory,
    ProcessingCandidate,
    Reprocessing,
)

SHA256 = re.compile(r"^[0-9a-f]{64}$")


class IngestError(ValueError):
    """A dataset version that cannot be registered: the run, the provenance or an inventory."""


@dataclass(frozen=True)
class RegisteredVersion:
    version_id: str
    dataset_id: str
    sequence: int
    created: bool  # False: this provenance was registered before (idempotent)
    supersedes_version_id: str | None


def _time(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise IngestError(f"{where}: {value!r} is not a time; expected ISO 8601 (2024-04-20T18:00:00)")


def _optional_time(value: Any, where: str) -> datetime | None:
    return None if value in (None, "") else _time(value, where)


def manually_processed(provenance: dict[str, Any]) -> bool:
    """Whether the provenance records manual influence (the flag, or any manual execution)."""
    manual = provenance["manual_influence"]
    if isinstance(manual, dict):
        return bool(manual.get("manually_processed") or manual.get("executions"))
    return bool(manual)


def _check_provenance_matches_run(session: Session, recipe_run_id: int, provenance: dict) -> None:
    """The provenance must describe this run's plan: workflow, input frames, parameter values."""
    _run, instance, _recipe, spec = _run_plan(session, recipe_run_id)
    workflow = provenance["workflow"]
    if (workflow["name"], workflow["version"]) != (spec.name, spec.version):
        raise IngestError(
            f"provenance names workflow {workflow['name']} {workflow['version']}, but recipe run "
            f"{recipe_run_id} ran {spec.name} {spec.version}"
        )
    frames = set(
        session.scalars(
            select(InputDatasetFrame.frame_id).where(
                InputDatasetFrame.input_dataset_id == instance.input_dataset_id
            )
        )
    )
    given = set(map(str, provenance["input_frame_ids"]))
    if given != frames:
        raise IngestError(
            f"provenance input frames differ from recipe run {recipe_run_id}'s input dataset "
            f"{instance.input_dataset_id}: extra {sorted(given - frames)[:5]}, "
            f"missing {sorted(frames - given)[:5]}"
        )
    values = set(
        session.scalars(
            select(InputDatasetParameterValue.parameter_value_id).where(
                InputDatasetParameterValue.input_dataset_id == instance.input_dataset_id
            )
        )
    )
    given_values = {int(v["id"]) for v in provenance["parameter_values"]}
    if given_values != values:
        raise IngestError(
            f"provenance parameter value ids {sorted(given_values)} differ from recipe run "
            f"{recipe_run_id}'s input dataset ({sorted(values)})"
        )


def _frame_rows(
    frames: list[dict], provenance: dict, recipe_run_id: int, also_run_ids: tuple[int, ...] = ()
) -> list[dict]:
    workflow = provenance["workflow"]
    expected = {
        "RRUNID": recipe_run_id,
        "WKFLNAME": workflow["name"],
        "WKFLVERS": workflow["version"],
    }
    common = {
        "recipe_run_id": recipe_run_id,
        "workflow_name": workflow["name"],
        "workflow_version": workflow["version"],
        "input_frame_ids": sorted(map(str, provenance["input_frame_ids"])),
        "parameter_value_ids": sorted(int(v["id"]) for v in provenance["parameter_values"]),
        "code_versions": dict(provenance["code_versions"]),
        "manually_processed": manually_processed(provenance),
    }
    rows, seen = [], set()
    for index, frame in enumerate(frames):
        if not isinstance(frame, dict) or not frame.get("object_key"):
            raise IngestError(f"frame {index}: expected a dict with an 'object_key', got {frame!r}")
        key = str(frame["object_key"])
        if key in seen:
            raise IngestError(f"frame {key}: listed twice in the frame inventory")
        seen.add(key)
        header = frame.get("header") or {}
        keywords = {**header, **(frame.get("provenance") or {})}
        for keyword, value in expected.items():
            if keyword == "RRUNID" and str(keywords.get(keyword)) in map(str, also_run_ids):
                continue  # manual output made from the plan of the run this one retries
            if keyword in keywords and str(keywords[keyword]) != str(value):
                raise IngestError(
                    f"frame {key}: header {keyword}={keywords[keyword]!r}, but the dataset version "
                    f"is of recipe run {recipe_run_id} with {keyword}={value!r}"
                )
        wavelength = frame.get("wavelength_nm", header.get("LINEWAV"))
        rows.append(
            {
                **common,
                "frame_file_name": PurePosixPath(key).name,
                "object_key": key,
                "date_beg": _optional_time(
                    frame.get("date_beg", header.get("DATE-BEG")), f"frame {key} date_beg"
                ),
                "stokes": frame.get("stokes", header.get("STOKES")),
                "wavelength_nm": None if wavelength is None else float(wavelength),
                "size_bytes": frame.get("size_bytes"),
                "datasum": frame.get("datasum"),
                "header": header or None,
            }
        )
    return rows


def _object_rows(objects: list[dict], frame_keys: set[str]) -> list[dict]:
    rows, seen = [], set()
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise IngestError(f"object {index}: expected a dict, got {obj!r}")
        key = obj.get("object_key") or obj.get("path")
        if not key:
            raise IngestError(f"object {index}: expected an 'object_key' (or 'path')")
        key = str(key)
        kind = obj.get("kind")
        if kind not in OBJECT_KINDS:
            raise IngestError(f"object {key}: kind {kind!r}, expected one of {OBJECT_KINDS}")
        size = obj.get("size_bytes", obj.get("size"))
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise IngestError(f"object {key}: size {size!r}, expected a byte count >= 0")
        sha256 = str(obj.get("sha256", "")).lower()
        if not SHA256.match(sha256):
            raise IngestError(f"object {key}: sha256 {obj.get('sha256')!r}, expected 64 hex digits")
        if key in seen:
            raise IngestError(f"object {key}: listed twice in the object inventory")
        seen.add(key)
        rows.append({"object_key": key, "kind": kind, "size_bytes": size, "sha256": sha256})
    listed = {r["object_key"] for r in rows if r["kind"] == "frame"}
    unlisted = sorted(frame_keys - listed)
    if unlisted:
        raise IngestError(
            f"frames {unlisted[:5]} (of {len(unlisted)}) are not in the object inventory as kind "
            "'frame'; the object inventory lists every file of the dataset version"
        )
    return rows


def _inventory_row(inventory: dict, frame_count: int, object_count: int, default: dict) -> dict:
    if not isinstance(inventory, dict):
        raise IngestError(f"dataset inventory: expected a dict, got {type(inventory)}")
    for key in ("start_time", "end_time"):
        if key not in inventory:
            raise IngestError(f"dataset inventory lacks {key!r} (ISO 8601 time)")
    start = _time(inventory["start_time"], "dataset inventory start_time")
    end = _time(inventory["end_time"], "dataset inventory end_time")
    if end < start:
        raise IngestError(
            f"dataset inventory: end_time {end.isoformat()} is before start_time {start.isoformat()}"
        )
    if "frame_count" in inventory and inventory["frame_count"] != frame_count:
        raise IngestError(
            f"dataset inventory frame_count {inventory['frame_count']} differs from the "
            f"{frame_count} frames in the frame inventory"
        )
    low, high = inventory.get("wavelength_min_nm"), inventory.get("wavelength_max_nm")
    if low is not None and high is not None and float(high) < float(low):
        raise IngestError(f"dataset inventory: wavelength_max_nm {high} < wavelength_min_nm {low}")
    return {
        "instrument": str(inventory.get("instrument") or default["instrument"]),
        "proposal_id": inventory.get("proposal_id") or default["proposal_id"],
        "start_time": start,
        "end_time": end,
        "wavelength_min_nm": None if low is None else float(low),
        "wavelength_max_nm": None if high is None else float(high),
        "bounding_box_arcsec": inventory.get("bounding_box_arcsec"),
        "stokes_parameters": inventory.get("stokes_parameters"),
        "frame_count": frame_count,
        "object_count": object_count,
        "dataset_size_bytes": inventory.get("dataset_size_bytes"),
        "quality_summary": inventory.get("quality", inventory.get("quality_summary")),
        "record": inventory.get("record"),
    }


def _existing(session: Session, vid: str) -> RegisteredVersion | None:
    version = session.get(DatasetVersion, vid)
    if version is None:
        return None
    dataset = session.get(Dataset, version.dataset_pk)
    return RegisteredVersion(
        vid, dataset.dataset_id, version.sequence, False, version.supersedes_version_id
    )


def register_dataset_version(
    session: Session,
    recipe_run_id: int,
    *,
    dataset_inventory: dict[str, Any],
    frames: list[dict[str, Any]],
    objects: list[dict[str, Any]],
    provenance: dict[str, Any] | None = None,
    also_recipe_run_ids: Iterable[int] = (),
    code_versions: dict[str, str] | None = None,
    clock: Clock | None = None,
) -> RegisteredVersion:
    """Store a dataset version of a succeeded recipe run with its inventories, all or nothing.

    ``provenance`` defaults to :func:`~.versions.provenance_document` of the
    run (with ``code_versions``); a given one must describe the run's plan.
    Returns the version (``created`` False when it was registered before).
    """
    clock = clock or SystemClock()
    run, instance, recipe, _spec = _run_plan(session, recipe_run_id)
    if run.status != SUCCEEDED:
        raise IngestError(
            f"recipe run {recipe_run_id} is {run.status!r}: only a succeeded (or manually "
            "processed) run has a dataset version"
        )
    if provenance is None:
        provenance = provenance_document(session, recipe_run_id, code_versions=code_versions)
    try:
        check_provenance(provenance)
    except ValueError as error:
        raise IngestError(f"recipe run {recipe_run_id}: {error}") from None
    _check_provenance_matches_run(session, recipe_run_id, provenance)
    vid = version_id(provenance)
    existing = _existing(session, vid)
    if existing is not None:
        return existing
    # Validate everything before writing anything.
    frame_rows = _frame_rows(list(frames), provenance, recipe_run_id, tuple(also_recipe_run_ids))
    object_rows = _object_rows(list(objects), {r["object_key"] for r in frame_rows})
    candidate = session.get(ProcessingCandidate, instance.processing_candidate_id)
    instrument = session.get(Instrument, recipe.instrument_id)
    inventory_row = _inventory_row(
        dataset_inventory,
        len(frame_rows),
        len(object_rows),
        {"instrument": instrument.name, "proposal_id": candidate.proposal_id},
    )
    savepoint = session.begin_nested()
    try:
        dataset = session.scalar(
            select(Dataset).where(Dataset.processing_candidate_id == candidate.id)
        )
        wanted_id = dataset_inventory.get("dataset_id")
        if dataset is None:
            dataset = Dataset(
                dataset_id=str(wanted_id or candidate.observe_op_run_id),
                instrument_id=instrument.id,
                proposal_id=candidate.proposal_id,
                processing_candidate_id=candidate.id,
                created_at=clock.now(),
            )
            session.add(dataset)
            session.flush()
        elif wanted_id is not None and str(wanted_id) != dataset.dataset_id:
            raise IngestError(
                f"dataset inventory names dataset {wanted_id!r}, but processing candidate "
                f"{candidate.observe_op_run_id} already has dataset {dataset.dataset_id!r}"
            )
        supersedes = session.scalar(
            select(Reprocessing.supersedes_version_id).where(
                Reprocessing.recipe_run_id == recipe_run_id
            )
        )
        if supersedes is None:
            supersedes = session.scalar(
                select(DatasetVersion.version_id)
                .where(DatasetVersion.dataset_pk == dataset.id, DatasetVersion.status != DISCARDED)
                .order_by(DatasetVersion.sequence.desc())
                .limit(1)
            )
        sequence = 1 + (
            session.scalar(
                select(func.max(DatasetVersion.sequence)).where(
                    DatasetVersion.dataset_pk == dataset.id
                )
            )
            or 0
        )
        workflow = provenance["workflow"]
        session.add(
            DatasetVersion(
                version_id=vid,
                dataset_pk=dataset.id,
                sequence=sequence,
                recipe_run_id=recipe_run_id,
                input_dataset_id=instance.input_dataset_id,
                workflow_name=workflow["name"],
                workflow_version=workflow["version"],
                manually_processed=manually_processed(provenance),
                provenance=provenance,
                created_at=clock.now(),
                status=AVAILABLE,
                supersedes_version_id=supersedes,
            )
        )
        session.flush()
        if supersedes is not None:
            old = session.get(DatasetVersion, supersedes)
            if old.status == AVAILABLE:
                old.status = SUPERSEDED_PENDING_CURATION
        _insert_links_and_inventories(
            session, vid, dataset.dataset_id, provenance, frame_rows, object_rows, inventory_row
        )
        session.flush()
        savepoint.commit()
    except IntegrityError:
        # Another process registered the same version at the same time: return theirs.
        savepoint.rollback()
        existing = _existing(session, vid)
        if existing is None:
            raise
        return existing
    except BaseException:
        savepoint.rollback()
        raise
    return RegisteredVersion(vid, dataset.dataset_id, sequence, True, supersedes)


def _insert_links_and_inventories(
    session: Session,
    vid: str,
    dataset_id: str,
    provenance: dict,
    frame_rows: list[dict],
    object_rows: list[dict],
    inventory_row: dict,
) -> None:
    frame_ids = sorted(set(map(str, provenance["input_frame_ids"])))
    if frame_ids:
        session.execute(
            insert(DatasetVersionInputFrame),
            [{"version_id": vid, "frame_id": f} for f in frame_ids],
        )
    if provenance["parameter_values"]:
        session.execute(
            insert(DatasetVersionParameterValue),
            [
                {
                    "version_id": vid,
                    "parameter_value_id": int(v["id"]),
                    "parameter_name": v["name"],
                    "value_json": canonical_json(v["value"]),
                }
                for v in provenance["parameter_values"]
            ],
        )
    if provenance["code_versions"]:
        session.execute(
            insert(DatasetVersionCodeVersion),
            [
                {"version_id": vid, "package": package, "version": version}
                for package, version in provenance["code_versions"].items()
            ],
        )
    if frame_rows:
        session.execute(insert(FrameInventory), [{"version_id": vid, **r} for r in frame_rows])
    if object_rows:
        session.execute(insert(ObjectInventory), [{"version_id": vid, **r} for r in object_rows])
    session.execute(
        insert(DatasetInventory), [{"version_id": vid, "dataset_id": dataset_id, **inventory_row}]
    )
