"""What parsing reads of the run's input dataset document, in one place.

The input dataset reaches a run as ``RunContext.input_dataset``: today a JSON-like dict
(``{"frames": [{"path", "frame_id", "op_run_id", "frame_kind"}, ...], "observe_op_run_id",
"calibration_op_run_ids", ...}``), soon a typed model with the same fields as attributes.
Parsing reads it only through these accessors, which accept either form, so the switch
is a change here and nowhere else.

Fields used: the dataset's ``frames``, ``observe_op_run_id`` and ``calibration_op_run_ids``
(both optional), and of each frame ``path`` (required), ``frame_id``, ``op_run_id`` and
``frame_kind`` (each optional: a check that needs a missing field is skipped), and
``supplied``: what the frame's header cannot tell, by name (see :data:`SUPPLIED_NAMES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _field(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def dataset_frames(input_dataset: Any) -> list[Any]:
    """The frame entries of the input dataset, in the order it lists them."""
    return list(_field(input_dataset, "frames") or [])


def frame_path(entry: Any) -> str:
    path = _field(entry, "path")
    if not path:
        raise ValueError(f"an input dataset frame entry has no path: {entry!r}")
    return str(path)


def frame_id(entry: Any) -> str | None:
    value = _field(entry, "frame_id")
    return None if value is None else str(value)


def frame_op_run_id(entry: Any) -> str | None:
    value = _field(entry, "op_run_id")
    return None if value is None else str(value)


def frame_kind(entry: Any) -> str | None:
    """The kind of the frame's OP run as the data center recorded it (dark, gain, polcal, observe)."""
    value = _field(entry, "frame_kind")
    return None if value is None else str(value).strip().lower()


def observe_op_run_id(input_dataset: Any) -> str | None:
    value = _field(input_dataset, "observe_op_run_id")
    return None if value is None else str(value)


def declared_op_run_ids(input_dataset: Any) -> set[str] | None:
    """The OP run ids the dataset declares (its processing candidate's), or None if it does not.

    When the document names its observe and calibration OP runs, they are the declaration;
    otherwise the OP run ids of its frame entries are.
    """
    observe = observe_op_run_id(input_dataset)
    calibration = _field(input_dataset, "calibration_op_run_ids")
    if observe is not None or calibration:
        return {*([observe] if observe is not None else []), *(str(c) for c in calibration or [])}
    ids = {frame_op_run_id(e) for e in dataset_frames(input_dataset)} - {None}
    return ids or None


# What an input dataset may supply of a frame that its header cannot tell.
SUPPLIED_NAMES = {
    "calibration_unit_step": "the polcal sequence step (an int, any numbering: frames of one "
    "step share it, steps follow in increasing order) of a polcal frame",
    "telescope_geometry_deg": "[elevation, azimuth, coude table angle] in degrees of a polcal "
    "frame whose header lacks TELEVATN, TAZIMUTH or TTBLANGL (optional in SPEC-0122)",
}


def frame_supplied(entry: Any) -> dict[str, Any]:
    """The values the input dataset supplies for the frame (``supplied``), by name."""
    value = _field(entry, "supplied")
    return dict(value) if isinstance(value, Mapping) else {}
