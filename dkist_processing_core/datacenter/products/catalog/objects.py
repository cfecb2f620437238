"""The object inventory of a dataset version: one record per file the data center stores.

Every file of a distribution package (frames, ASDF, quality report and data,
movie, preview, inventories, parameter values, documentation links,
provenance) is an object with a key (where it lies in the archive), a kind,
its size and its sha256.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from dkist_processing_core.datacenter.products.catalog.checksums import sha256_file

__all__ = ["ObjectRecord", "object_inventory"]


class ObjectRecord(BaseModel):
    """One file of the dataset: where it is, what it is, its size and sha256."""

    object_key: str
    kind: str
    size_bytes: int
    sha256: str


def object_inventory(
    objects: Iterable[tuple[str | Path, str]], *, root: str | Path | None = None
) -> list[ObjectRecord]:
    """One :class:`ObjectRecord` per ``(path, kind)``, with size and sha256.

    ``root``: object keys are paths relative to it (default: file names).
    """
    root = Path(root) if root else None
    return [
        ObjectRecord(
            object_key=Path(path).relative_to(root).as_posix() if root else Path(path).name,
            kind=kind,
            size_bytes=Path(path).stat().st_size,
            sha256=sha256_file(path),
        )
        for path, kind in objects
    ]
