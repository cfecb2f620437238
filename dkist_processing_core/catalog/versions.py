"""A processed dataset's version, derived deterministically from its provenance.

The version is a function of what went into the dataset, nothing else (not the
time, not the machine): the input frame ids, the parameter values (name, id and
value), the task order of the workflow, the code versions and the record of
manual influence. Equal provenance gives an equal version (so ingest is
idempotent); any change gives a new one.

    version = "v" + first 20 hex digits of sha256(canonical JSON of the provenance)

Canonical JSON: keys sorted, no whitespace, UTF-8, floats in Python's shortest
round-trip form; input frame ids are a set (sorted and de-duplicated), parameter
values are sorted by name and id, while the task order and the manual influence
record keep their order (order is meaning there). 80 bits make an accidental
collision between versions of one dataset negligible (~n^2 / 2^81).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["ParameterValueUsed", "Provenance", "canonical_json", "dataset_version"]


class ParameterValueUsed(BaseModel):
    """One parameter value a recipe run used."""

    id: int
    name: str
    value: Any


class Provenance(BaseModel):
    """Everything that determines a processed dataset's content."""

    dataset_id: str
    input_frame_ids: list[str]
    parameter_values: list[ParameterValueUsed] = Field(default_factory=list)
    task_order: list[str]
    code_versions: dict[str, str]
    manual_influence: list[dict[str, Any]] = Field(default_factory=list)

    def canonical(self) -> dict[str, Any]:
        """The provenance with set-like parts in a fixed order."""
        return {
            "dataset_id": self.dataset_id,
            "input_frame_ids": sorted(set(map(str, self.input_frame_ids))),
            "parameter_values": [
                p.model_dump() for p in sorted(self.parameter_values, key=lambda p: (p.name, p.id))
            ],
            "task_order": list(self.task_order),
            "code_versions": dict(self.code_versions),
            "manual_influence": list(self.manual_influence),
        }


def _check_finite(value: Any, where: str = "provenance") -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            f"{where}: {value!r} has no canonical JSON form (expected a finite number)"
        )
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_finite(v, f"{where}[{i}]")


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes of a JSON-able value (sorted keys, compact, UTF-8)."""
    _check_finite(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def dataset_version(provenance: Provenance | dict) -> str:
    """The version id of a dataset with this provenance (see module docstring)."""
    if not isinstance(provenance, Provenance):
        provenance = Provenance.model_validate(provenance)
    digest = hashlib.sha256(canonical_json(provenance.canonical())).hexdigest()
    return "v" + digest[:20]
