"""Verification of the archive: is every published dataset version's package whole and true?

For each dataset version (by default every distributed one, i.e. not discarded
by a curator) the package under ``<archive>/<dataset id>/<version id>/`` is checked:

1. the package folder exists;
2. ``SHA256SUMS`` matches every file, and no file is missing or unlisted
   (:func:`.catalog.package.verify_package`);
3. every FITS frame's CHECKSUM and DATASUM verify in every HDU
   (:func:`.catalog.checksums.verify_fits_checksums`);
4. the store's object inventory of the version lists exactly the package's files
   (``manifest.json``, itself covered by ``SHA256SUMS``), with the same size and sha256.

Nothing is repaired: each problem is a line naming the file and what was expected.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.products.catalog.checksums import (
    FrameIntegrityError,
    verify_fits_checksums,
)
from dkist_processing_core.datacenter.products.catalog.package import (
    MANIFEST,
    package_path,
    read_package,
    verify_package,
)
from dkist_processing_core.datacenter.products.versions import (
    DISCARDED,
    VersionError,
    get_version,
)
from dkist_processing_core.datacenter.store.models import Dataset, DatasetVersion, ObjectInventory

__all__ = ["VersionVerification", "unknown_versions", "verify_archive", "verify_version"]


class VersionVerification(BaseModel):
    """The verdict on one dataset version's package: ``ok`` when ``problems`` is empty."""

    version_id: str
    dataset_id: str
    package: Path
    files: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def unknown_versions(session: Session, version_ids: Sequence[str]) -> list[str]:
    """The ids (or prefixes) among ``version_ids`` that name no dataset version, or several."""
    unknown = []
    for version in version_ids:
        try:
            get_version(session, version)
        except VersionError:
            unknown.append(version)
    return unknown


def _inventory_problems(session: Session, version: DatasetVersion, folder: Path) -> list[str]:
    """The differences between the store's object inventory and the package's manifest."""
    try:
        package = read_package(folder)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [f"{folder / MANIFEST}: cannot be read ({type(e).__name__}: {e})"]
    prefix = f"{package.dataset_id}/{package.version}"
    in_package = {f"{prefix}/{f.path}": (f.size_bytes, f.sha256) for f in package.files}
    in_store = {
        row.object_key: (row.size_bytes, row.sha256)
        for row in session.scalars(
            select(ObjectInventory).where(ObjectInventory.version_id == version.version_id)
        )
    }
    problems = [
        f"{key}: in the store's object inventory but not in the package"
        for key in sorted(set(in_store) - set(in_package))
    ]
    problems += [
        f"{key}: in the package but not in the store's object inventory"
        for key in sorted(set(in_package) - set(in_store))
    ]
    for key in sorted(set(in_store) & set(in_package)):
        (store_size, store_sha), (size, sha) = in_store[key], in_package[key]
        if (store_size, store_sha) != (size, sha):
            problems.append(
                f"{key}: the object inventory says {store_size} bytes sha256 {store_sha[:12]}..., "
                f"the package {size} bytes sha256 {sha[:12]}..."
            )
    return problems


def verify_version(
    session: Session, archive_root: str | Path, version: DatasetVersion
) -> VersionVerification:
    """Check one dataset version's package in ``archive_root`` (see the module docstring)."""
    dataset_id = session.get(Dataset, version.dataset_pk).dataset_id
    folder = package_path(archive_root, dataset_id, version.version_id)
    result = VersionVerification(
        version_id=version.version_id, dataset_id=dataset_id, package=folder, files=0, problems=[]
    )
    if not folder.is_dir():
        result.problems.append(f"{folder}: package folder is missing (expected a package)")
        return result
    try:
        sums = verify_package(folder)
    except (OSError, ValueError) as e:
        result.problems.append(str(e))
    else:
        result.files = sums.checked
        result.problems += [f"{name}: listed in SHA256SUMS but missing" for name in sums.missing]
        result.problems += [
            f"{name}: sha256 differs from SHA256SUMS (damaged or tampered with)"
            for name in sums.mismatched
        ]
        result.problems += [f"{name}: present but not in SHA256SUMS" for name in sums.unlisted]
    for frame in sorted(folder.glob("*.fits")):
        try:
            verify_fits_checksums(frame)
        except FrameIntegrityError as e:
            result.problems.append(f"{frame.name}: {e.reason}")
    result.problems += _inventory_problems(session, version, folder)
    return result


def verify_archive(
    session: Session, archive_root: str | Path, version_ids: Sequence[str] = ()
) -> list[VersionVerification]:
    """Check the packages of the versions named (ids or prefixes), or of every distributed one.

    Raises :class:`~.versions.VersionError` for an id that names no version.
    """
    if version_ids:
        versions = [get_version(session, v) for v in version_ids]
    else:
        versions = list(
            session.scalars(
                select(DatasetVersion)
                .join(Dataset, Dataset.id == DatasetVersion.dataset_pk)
                .where(DatasetVersion.status != DISCARDED)
                .order_by(Dataset.dataset_id, DatasetVersion.sequence)
            )
        )
    return [verify_version(session, archive_root, v) for v in versions]


def as_data(results: Sequence[VersionVerification]) -> list[dict]:
    """Plain data (JSON) of the verdicts."""
    return [json.loads(r.model_dump_json()) | {"ok": r.ok} for r in results]
