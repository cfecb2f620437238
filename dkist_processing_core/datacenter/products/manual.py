"""Manual processing ends in distribution: a run's plan out, the hand-made files in.

An operator exports a run's plan (:func:`export_plan`: the run spec, the input
dataset and the parameter values, as JSON files) and processes it by hand, for
example ``dkist-processing run run_spec.json`` with a changed configuration, or
in a notebook. The plan exported for manual processing says so
(``manual_processing`` in its provenance), so the L1 headers it makes carry
``MANPROCD = T``.

The files a manual execution names (``dkist-processing tickets manual --file``)
are, each one of:

- a folder: the scratch of the hand-made run; its L1 frames and dataset products
  are found by their tags, its run report gives the code versions;
- ``KIND=PATH``: one dataset product of that kind (``asdf``, ``quality_report``...);
- ``PATH`` of a FITS file: one L1 frame.

:func:`validate_manual_files` checks them before the resolution is recorded: every
frame passes SPEC-0214 validation, its CHECKSUM/DATASUM, names this run's dataset
(``DSETID``) and records the manual influence (``MANPROCD = T``); every dataset
product kind is there. Publication then ingests exactly these files
(:func:`manual_outputs`) into a version whose provenance records who, what and why.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from astropy.io import fits
from sqlalchemy import select
from sqlalchemy.orm import Session

from dkist_processing_core.calibration.outputs import DATASET_PRODUCTS, L1_FRAMES
from dkist_processing_core.datacenter.products.catalog.checksums import verify_frames
from dkist_processing_core.datacenter.products.catalog.collect import missing_products
from dkist_processing_core.datacenter.store.models import (
    Dataset,
    ManualExecution,
    ProcessingCandidate,
    RecipeInstance,
    RecipeRun,
)

__all__ = [
    "ManualFilesError",
    "ManualOutputs",
    "export_plan",
    "manual_outputs",
    "run_dataset_id",
    "validate_manual_files",
]

KINDS = tuple(p.kind for p in DATASET_PRODUCTS)


class ManualFilesError(ValueError):
    """Files of a manual execution that cannot be ingested; the message names each and why."""


@dataclass
class ManualOutputs:
    where: Path
    frames: list[Path] = field(default_factory=list)
    products: dict[str, Path | None] = field(default_factory=dict)
    code_versions: dict[str, str] | None = None
    #: Runs whose exported plan may have made these frames (RRUNID): the run it retries.
    made_by_run_ids: tuple[int, ...] = ()


def _plan_run_ids(session: Session, recipe_run_id: int) -> tuple[int, ...]:
    """The run and the runs it retries: a plan exported from any of them is this run's plan."""
    ids, run = [], session.get(RecipeRun, recipe_run_id)
    while run is not None and run.id not in ids:
        ids.append(run.id)
        run = (
            session.get(RecipeRun, run.retry_of_recipe_run_id)
            if run.retry_of_recipe_run_id
            else None
        )
    return tuple(ids)


def run_dataset_id(session: Session, recipe_run_id: int) -> str:
    """The dataset id (DSETID) a run's frames must carry."""
    run = session.get(RecipeRun, recipe_run_id)
    instance = session.get(RecipeInstance, run.recipe_instance_id)
    candidate = session.get(ProcessingCandidate, instance.processing_candidate_id)
    dataset_id = session.scalar(
        select(Dataset.dataset_id).where(Dataset.processing_candidate_id == candidate.id)
    )
    return dataset_id or candidate.observe_op_run_id


def absolute_files(files: Iterable[str]) -> list[str]:
    """The named files with absolute paths (``KIND=PATH`` keeps its kind), so that what is
    recorded still names them when read from another folder (a later publication)."""
    absolute = []
    for entry in files:
        kind, sep, path_text = entry.partition("=")
        if sep and kind in KINDS:
            absolute.append(f"{kind}={Path(path_text).absolute()}")
        else:
            absolute.append(str(Path(entry).absolute()))
    return absolute


def gather(files: Iterable[str]) -> ManualOutputs:
    """Frames, products and code versions of the named files (see the module docstring)."""
    from dkist_processing_core.framework import Scratch, read_run_report

    files = list(files)
    out = ManualOutputs(where=Path(files[0]).parent if files else Path("."))
    problems: list[str] = []
    for entry in files:
        kind, sep, path_text = entry.partition("=")
        if sep and kind in KINDS:
            path = Path(path_text)
            if not path.is_file():
                problems.append(f"{path}: no such file (the {kind} product)")
            out.products[kind] = path
            continue
        path = Path(entry)
        if path.is_dir():
            out.where = path
            with Scratch(path) as scratch:
                out.frames += scratch.find(*L1_FRAMES)
                for p in DATASET_PRODUCTS:
                    found = scratch.find(*p.tags)
                    if len(found) == 1:
                        out.products.setdefault(p.kind, found[0])
            with contextlib.suppress(OSError, ValueError):  # no report: the workflow's versions
                out.code_versions = read_run_report(path).code_versions or None
        elif path.is_file() and path.suffix.lower() in (".fits", ".fts", ".fit"):
            out.frames.append(path)
        elif sep:
            problems.append(f"{entry}: unknown product kind {kind!r} (expected {', '.join(KINDS)})")
        else:
            problems.append(
                f"{entry}: not a scratch folder, a FITS frame or KIND=PATH of a dataset product"
            )
    if problems:
        raise ManualFilesError("; ".join(problems))
    return out


def validate_manual_files(
    session: Session, recipe_run_id: int, files: Iterable[str]
) -> ManualOutputs:
    """Check the files of a manual execution of ``recipe_run_id`` (see the module docstring)."""
    from dkist_header_validator import spec214_validator
    from dkist_header_validator.exceptions import SpecValidationException

    files = list(files)
    if not files:
        raise ManualFilesError(
            f"recipe run {recipe_run_id}: name the files of the manual execution (--file): its "
            "L1 frames and dataset products, or the scratch folder of the hand-made run"
        )
    out = gather(files)
    if not out.frames:
        raise ManualFilesError(f"recipe run {recipe_run_id}: no L1 frame among {files}")
    missing = missing_products(out.products)
    if missing:
        raise ManualFilesError(
            f"recipe run {recipe_run_id}: the manual execution lacks dataset product(s): "
            + "; ".join(missing)
            + " (name each as KIND=PATH, or the scratch folder that holds them)"
        )
    verify_frames(out.frames)  # CHECKSUM/DATASUM: raises naming every damaged file
    dataset_id = run_dataset_id(session, recipe_run_id)
    run_ids = _plan_run_ids(session, recipe_run_id)
    problems = []
    for path in out.frames:
        try:
            spec214_validator.validate(path, extra=False)
        except SpecValidationException as error:
            problems.append(f"{path}: not a valid SPEC-0214 L1 frame: {error}")
            continue
        with fits.open(path) as hdul:
            header = hdul[-1].header
        if header.get("DSETID") != dataset_id:
            problems.append(
                f"{path}: DSETID is {header.get('DSETID')!r}; this run's dataset is {dataset_id!r}"
            )
        if str(header.get("RRUNID")) not in map(str, run_ids):
            problems.append(
                f"{path}: RRUNID is {header.get('RRUNID')!r}; expected the plan of run(s) "
                f"{', '.join(map(str, run_ids))}"
            )
        if header.get("MANPROCD") is not True:
            problems.append(
                f"{path}: MANPROCD is {header.get('MANPROCD')!r}; a manually processed frame "
                "records MANPROCD = T (process the plan exported for manual processing)"
            )
    if problems:
        raise ManualFilesError(f"recipe run {recipe_run_id}: " + "; ".join(problems))
    return out


def manual_outputs(session: Session, recipe_run_id: int) -> ManualOutputs | None:
    """What a manually processed run publishes: the files of its newest manual execution."""
    execution = session.scalars(
        select(ManualExecution)
        .where(ManualExecution.recipe_run_id == recipe_run_id)
        .order_by(ManualExecution.id.desc())
    ).first()
    if execution is None or not execution.files:
        return None
    outputs = gather(execution.files)
    outputs.made_by_run_ids = _plan_run_ids(session, recipe_run_id)[1:]
    return outputs


def export_plan(
    session: Session, recipe_run_id: int, folder: str | Path, scratch_root: str | Path
) -> list[Path]:
    """Write a run's plan for manual processing into ``folder``; return the files written.

    ``run_spec.json`` (the framework's run spec, its scratch in ``folder/scratch`` and
    ``manual_processing`` set in its provenance), ``input_dataset.json`` and
    ``parameter_values.json``.
    """
    from dkist_processing_core.datacenter.operations.scheduling import build_run_spec
    from dkist_processing_core.framework.atomic import atomic_write

    folder = Path(folder).absolute()  # the spec's scratch must not depend on where it is run
    folder.mkdir(parents=True, exist_ok=True)
    if session.get(RecipeRun, recipe_run_id) is None:
        raise ManualFilesError(f"recipe run {recipe_run_id} does not exist")
    spec = build_run_spec(session, recipe_run_id, scratch_root)
    document = json.loads(spec.to_json())
    document["scratch_dir"] = str(folder / "scratch")
    provenance = dict(document.get("provenance") or {})
    provenance["manual_processing"] = True
    document["provenance"] = provenance
    written = []
    for name, value in (
        ("run_spec.json", document),
        ("input_dataset.json", document.get("input_dataset")),
        ("parameter_values.json", document.get("parameters")),
    ):
        with atomic_write(folder / name) as f:
            f.write(json.dumps(value, indent=1, sort_keys=True, default=str).encode())
        written.append(folder / name)
    return written
