"""Input datasets: the exact frames and parameter values a recipe run uses.

The frames are those of the processing candidate's OP run ids (with their frame
kind); the parameter values are those of the recipe's parameters valid at the
observation date. Once a recipe run uses an input dataset it is frozen: its
frames and parameter values can no longer change (an adjusted plan makes a new
input dataset that supersedes the old). :func:`run_input_dataset` gives the
typed input dataset handed to the workflow (part of its run spec);
:func:`input_dataset_document` the JSON document an operator exports, which
also says where the input dataset comes from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, event, insert, literal, or_, select
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.clock import Clock, SystemClock
from dkist_processing_core.datacenter.store.models import (
    FrameCount,
    InputDataset,
    InputDatasetFrame,
    InputDatasetParameterValue,
    Parameter,
    ParameterValue,
    ProcessingCandidate,
    ProcessingCandidateOp,
    RecipeParameter,
)
from dkist_processing_core.framework import spec as run_contract


class InputDatasetError(ValueError):
    """An input dataset that cannot be made or changed as asked."""


def _valid_value_join(observation_date):
    return and_(
        ParameterValue.parameter_id == RecipeParameter.parameter_id,
        ParameterValue.retired_at.is_(None),
        ParameterValue.valid_from <= observation_date,
        or_(ParameterValue.valid_until.is_(None), ParameterValue.valid_until > observation_date),
    )


def assemble_for_readiness_pass(session: Session, readiness_pass_id: str, now: datetime) -> None:
    """Assemble, in three statements, one frozen input dataset per candidate the pass made ready.

    Frames: every frame count of the candidate's OP run ids. Parameter values:
    those of the recipe's parameters valid at the candidate's observation date.
    """
    candidate = ProcessingCandidate
    session.execute(
        insert(InputDataset.__table__).from_select(
            [
                "processing_candidate_id",
                "observation_date",
                "created_at",
                "frozen_at",
                "automatic_for_candidate_id",
                "note",
            ],
            select(
                candidate.id,
                candidate.observation_date,
                literal(now, InputDataset.created_at.type),
                literal(now, InputDataset.frozen_at.type),
                candidate.id,
                literal(""),
            ).where(candidate.readiness_pass_id == readiness_pass_id),
        )
    )
    session.execute(
        insert(InputDatasetFrame.__table__).from_select(
            ["input_dataset_id", "frame_id", "op_run_id", "frame_kind", "path"],
            select(
                InputDataset.id,
                FrameCount.frame_id,
                FrameCount.op_run_id,
                FrameCount.frame_kind,
                FrameCount.path,
            )
            .select_from(candidate)
            .join(InputDataset, InputDataset.automatic_for_candidate_id == candidate.id)
            .join(
                ProcessingCandidateOp, ProcessingCandidateOp.processing_candidate_id == candidate.id
            )
            .join(FrameCount, FrameCount.op_run_id == ProcessingCandidateOp.op_run_id)
            .where(candidate.readiness_pass_id == readiness_pass_id),
        )
    )
    session.execute(
        insert(InputDatasetParameterValue.__table__).from_select(
            ["input_dataset_id", "parameter_value_id"],
            select(InputDataset.id, ParameterValue.id)
            .select_from(candidate)
            .join(InputDataset, InputDataset.automatic_for_candidate_id == candidate.id)
            .join(RecipeParameter, RecipeParameter.recipe_id == candidate.recipe_id)
            .join(ParameterValue, _valid_value_join(candidate.observation_date))
            .where(candidate.readiness_pass_id == readiness_pass_id),
        )
    )


def assemble_input_dataset(
    session: Session,
    processing_candidate_id: int,
    *,
    frame_ids: Iterable[str] | None = None,
    parameter_value_ids: Iterable[int] | None = None,
    supersedes_input_dataset_id: int | None = None,
    note: str = "",
    clock: Clock | None = None,
) -> InputDataset:
    """Assemble a new input dataset for a candidate (used by adjusted plans).

    By default it holds every frame of the candidate's OP run ids and the
    recipe's parameter values valid at the observation date; ``frame_ids`` or
    ``parameter_value_ids`` choose them exactly instead.
    """
    candidate = session.get(ProcessingCandidate, processing_candidate_id)
    if candidate is None:
        raise InputDatasetError(f"processing candidate {processing_candidate_id} does not exist")
    dataset = InputDataset(
        processing_candidate_id=candidate.id,
        observation_date=candidate.observation_date,
        created_at=(clock or SystemClock()).now(),
        supersedes_input_dataset_id=supersedes_input_dataset_id,
        note=note,
    )
    session.add(dataset)
    session.flush()
    frames = (
        select(FrameCount)
        .join(ProcessingCandidateOp, ProcessingCandidateOp.op_run_id == FrameCount.op_run_id)
        .where(ProcessingCandidateOp.processing_candidate_id == candidate.id)
    )
    if frame_ids is not None:
        wanted = set(frame_ids)
        frames = select(FrameCount).where(FrameCount.frame_id.in_(wanted))
        found = {f.frame_id for f in session.scalars(frames)}
        if wanted - found:
            raise InputDatasetError(f"frames {sorted(wanted - found)} have not been received")
    session.add_all(
        InputDatasetFrame(
            input_dataset_id=dataset.id,
            frame_id=f.frame_id,
            op_run_id=f.op_run_id,
            frame_kind=f.frame_kind,
            path=f.path,
        )
        for f in session.scalars(frames)
    )
    if parameter_value_ids is None:
        values = session.scalars(
            select(ParameterValue.id)
            .join(RecipeParameter, _valid_value_join(candidate.observation_date))
            .where(RecipeParameter.recipe_id == candidate.recipe_id)
        ).all()
    else:
        values = list(dict.fromkeys(parameter_value_ids))
        known = set(session.scalars(select(ParameterValue.id).where(ParameterValue.id.in_(values))))
        if set(values) - known:
            raise InputDatasetError(f"parameter values {sorted(set(values) - known)} do not exist")
    session.add_all(
        InputDatasetParameterValue(input_dataset_id=dataset.id, parameter_value_id=v)
        for v in values
    )
    session.flush()
    return dataset


def freeze_input_dataset(session: Session, input_dataset_id: int, now: datetime) -> None:
    """Mark an input dataset as used by a run: from now on it never changes."""
    dataset = session.get(InputDataset, input_dataset_id)
    if dataset.frozen_at is None:
        dataset.frozen_at = now


def missing_parameters(session: Session, input_dataset_id: int, recipe_id: int) -> list[str]:
    """Names of the recipe's parameters with no value in the input dataset."""
    have = (
        select(ParameterValue.parameter_id)
        .join(
            InputDatasetParameterValue,
            InputDatasetParameterValue.parameter_value_id == ParameterValue.id,
        )
        .where(InputDatasetParameterValue.input_dataset_id == input_dataset_id)
    )
    return list(
        session.scalars(
            select(Parameter.name)
            .join(RecipeParameter, RecipeParameter.parameter_id == Parameter.id)
            .where(RecipeParameter.recipe_id == recipe_id, Parameter.id.not_in(have))
            .order_by(Parameter.name)
        )
    )


def input_dataset_parameter_values(session: Session, input_dataset_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            ParameterValue.id,
            Parameter.name,
            ParameterValue.value,
            ParameterValue.valid_from,
            ParameterValue.valid_until,
        )
        .join(Parameter, Parameter.id == ParameterValue.parameter_id)
        .join(
            InputDatasetParameterValue,
            InputDatasetParameterValue.parameter_value_id == ParameterValue.id,
        )
        .where(InputDatasetParameterValue.input_dataset_id == input_dataset_id)
        .order_by(Parameter.name)
    )
    return [
        {
            "parameter_value_id": r.id,
            "name": r.name,
            "value": r.value,
            "valid_from": r.valid_from.isoformat(),
            "valid_until": r.valid_until.isoformat() if r.valid_until else None,
        }
        for r in rows
    ]


def input_dataset_document(session: Session, input_dataset_id: int) -> dict[str, Any]:
    """The input dataset as a JSON document: its frames by OP and kind, and its parameter values."""
    dataset = session.get(InputDataset, input_dataset_id)
    if dataset is None:
        raise InputDatasetError(f"input dataset {input_dataset_id} does not exist")
    candidate = session.get(ProcessingCandidate, dataset.processing_candidate_id)
    ops = session.execute(
        select(ProcessingCandidateOp.op_run_id, ProcessingCandidateOp.op_kind).where(
            ProcessingCandidateOp.processing_candidate_id == candidate.id
        )
    ).all()
    frames = session.execute(
        select(
            InputDatasetFrame.frame_id,
            InputDatasetFrame.op_run_id,
            InputDatasetFrame.frame_kind,
            InputDatasetFrame.path,
        )
        .where(InputDatasetFrame.input_dataset_id == input_dataset_id)
        .order_by(
            InputDatasetFrame.op_run_id, InputDatasetFrame.frame_kind, InputDatasetFrame.frame_id
        )
    ).all()
    return {
        "input_dataset_id": dataset.id,
        "processing_candidate_id": candidate.id,
        "observe_op_run_id": candidate.observe_op_run_id,
        "calibration_op_run_ids": sorted(o.op_run_id for o in ops if o.op_kind == "calibration"),
        "proposal_id": candidate.proposal_id,
        "observation_date": dataset.observation_date.isoformat(),
        "created_at": dataset.created_at.isoformat(),
        "frozen_at": dataset.frozen_at.isoformat() if dataset.frozen_at else None,
        "supersedes_input_dataset_id": dataset.supersedes_input_dataset_id,
        "frames": [
            {
                "frame_id": f.frame_id,
                "op_run_id": f.op_run_id,
                "frame_kind": f.frame_kind,
                "path": f.path,
            }
            for f in frames
        ],
        "parameter_values": input_dataset_parameter_values(session, input_dataset_id),
    }


def run_input_dataset(session: Session, input_dataset_id: int) -> run_contract.InputDataset:
    """The input dataset as a run gets it: its frames and its parameter values, typed."""
    document = input_dataset_document(session, input_dataset_id)
    return run_contract.InputDataset(
        input_dataset_id=document["input_dataset_id"],
        frames=[run_contract.InputFrame(**frame) for frame in document["frames"]],
        parameter_values=[
            run_contract.ParameterValue(
                id=v["parameter_value_id"], name=v["name"], value=v["value"]
            )
            for v in document["parameter_values"]
        ],
        observe_op_run_id=document.get("observe_op_run_id"),
        calibration_op_run_ids=document.get("calibration_op_run_ids") or [],
    )


def export_input_dataset(session: Session, input_dataset_id: int, path: str | Path) -> Path:
    """Write the input dataset's JSON document to ``path`` (atomically)."""
    from dkist_processing_core.framework.atomic import atomic_write

    document = input_dataset_document(session, input_dataset_id)
    with atomic_write(path) as f:
        f.write(json.dumps(document, indent=2, sort_keys=True).encode())
    return Path(path)


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_frozen_input_datasets(session: Session, _context, _instances) -> None:
    """A frozen input dataset's frames, parameter values and observation date never change."""
    touched: set[int] = set()
    for obj in list(session.new) + list(session.deleted) + list(session.dirty):
        if isinstance(obj, InputDatasetFrame | InputDatasetParameterValue):
            touched.add(obj.input_dataset_id)
    for obj in session.dirty:
        if isinstance(obj, InputDataset) and session.is_modified(obj):
            from sqlalchemy import inspect

            changed = {a.key for a in inspect(obj).attrs if a.history.has_changes()}
            if obj.frozen_at is not None and changed - {"frozen_at"} and "frozen_at" not in changed:
                raise InputDatasetError(
                    f"input dataset {obj.id} is frozen (used by a recipe run); "
                    f"cannot change {sorted(changed)}"
                )
    if not touched:
        return
    frozen = session.scalars(
        select(InputDataset.id).where(
            InputDataset.id.in_(touched), InputDataset.frozen_at.is_not(None)
        )
    ).all()
    if frozen:
        raise InputDatasetError(
            f"input datasets {sorted(frozen)} are frozen (used by a recipe run): their frames and "
            "parameter values cannot change; make a new input dataset instead"
        )
