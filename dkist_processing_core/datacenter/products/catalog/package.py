"""The distribution package of one dataset version, and its verification.

Layout (one folder per dataset version; older versions stay beside it)::

    <root>/<dataset id>/<version>/
        *.fits                         the L1 frames
        <products>                     the dataset ASDF, the dataset and frame
                                       inventories (JSON), the quality report
                                       (PDF) and data (JSON), the browse movie
                                       (MP4) and its preview (PNG)
        parameter_values.json          the parameter values the recipe run used
        documentation.json             documentation and code links
        provenance.json                the provenance the version derives from
        manifest.json                  every file: kind, size, sha256
        SHA256SUMS                     every file incl. manifest.json, in the
                                       format of ``sha256sum -c``

The package is assembled in a hidden staging folder (beside its final place, or
the ``staging_dir`` the caller names: the data center uses
``<archive>/.staging/<run>-<attempt>``, removed first if an earlier attempt left it)
and renamed into place in one step, so a reader sees either no package or a whole
one; an existing version's package is never overwritten
(:class:`PackageExistsError`). Packages are readable by everyone (folders
``dir_mode`` 0755, files ``file_mode`` 0644 by default), so a distribution service
running as another user can serve them. Every product is copied in as the workflow made
it: the package makes none. The dataset ASDF refers to its frames by file name,
so beside them in the package it reaches them there.

A recipient checks a package with :func:`verify_package` (or ``sha256sum -c
SHA256SUMS``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dkist_processing_core.datacenter.products.catalog.checksums import sha256_file
from dkist_processing_core.framework.atomic import atomic_write
from dkist_processing_core.framework.crashpoints import crash_point

__all__ = [
    "DistributionPackage",
    "PackageExistsError",
    "PackageFile",
    "PackageVerification",
    "build_package",
    "package_path",
    "read_package",
    "verify_package",
]

MANIFEST = "manifest.json"
CHECKSUMS = "SHA256SUMS"
#: Default permissions of a package: readable (and its folders enterable) by everyone.
DIR_MODE = 0o755
FILE_MODE = 0o644


class PackageExistsError(FileExistsError):
    """A package for this dataset version already exists (versions are never overwritten)."""


class PackageFile(BaseModel):
    path: str
    kind: str
    size_bytes: int
    sha256: str


class DistributionPackage(BaseModel):
    path: Path
    dataset_id: str
    version: str
    files: list[PackageFile]

    def by_kind(self, kind: str) -> list[PackageFile]:
        return [f for f in self.files if f.kind == kind]


class PackageVerification(BaseModel):
    path: Path
    checked: int
    missing: list[str]
    mismatched: list[str]
    unlisted: list[str]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched or self.unlisted)


def package_path(root: str | Path, dataset_id: str, version: str) -> Path:
    """Where the package of a dataset version lives under ``root``."""
    for name, value in (("dataset id", dataset_id), ("version", version)):
        if not value or "/" in value or value.startswith("."):
            raise ValueError(f"{name} {value!r} cannot name a folder (expected a plain name)")
    return Path(root) / dataset_id / version


def _write_json(path: Path, value: Any) -> None:
    with atomic_write(path) as f:
        f.write(json.dumps(value, indent=1, sort_keys=True, default=str).encode())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build_package(
    root: str | Path,
    *,
    dataset_id: str,
    version: str,
    frame_paths: Sequence[str | Path],
    products: Mapping[str, str | Path] = {},
    parameter_values: Sequence[Mapping[str, Any]] = (),
    documentation_links: Mapping[str, str] = {},
    provenance: Mapping[str, Any] | None = None,
    staging_dir: str | Path | None = None,
    dir_mode: int = DIR_MODE,
    file_mode: int = FILE_MODE,
) -> DistributionPackage:
    """Assemble the package of one dataset version under ``root`` (see module docstring).

    ``products``: kind -> file to copy in (for example ``asdf``, ``quality_report``,
    ``quality_data``, ``movie``, ``preview``, ``dataset_inventory``).
    Raises :class:`PackageExistsError` if this version is already packaged.
    """
    final = package_path(root, dataset_id, version)
    if final.exists():
        raise PackageExistsError(
            f"{final}: dataset {dataset_id} version {version} is already packaged"
        )
    Path(root).mkdir(parents=True, exist_ok=True)
    if not final.parent.exists():
        final.parent.mkdir(exist_ok=True)
        os.chmod(final.parent, dir_mode)  # the dataset's folder, whatever the umask
    if staging_dir is None:
        staging = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=".staging", dir=final.parent))
    else:
        staging = Path(staging_dir)
        if staging.exists():  # an interrupted earlier attempt
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
    os.chmod(staging, dir_mode)
    try:
        kinds: dict[str, str] = {}
        for src in map(Path, frame_paths):
            dst = staging / src.name
            if dst.exists():
                raise ValueError(f"{src}: two frames share the file name {src.name}")
            shutil.copyfile(src, dst)
            crash_point("publish-copy", dst)
            kinds[dst.name] = "frame"
        for kind, src in products.items():
            src = Path(src)
            if (staging / src.name).exists():
                raise ValueError(f"{src}: file name {src.name} already used in the package")
            shutil.copyfile(src, staging / src.name)
            crash_point("publish-copy", staging / src.name)
            kinds[src.name] = kind
        _write_json(staging / "parameter_values.json", list(parameter_values))
        kinds["parameter_values.json"] = "parameter_values"
        _write_json(staging / "documentation.json", dict(documentation_links))
        kinds["documentation.json"] = "documentation"
        if provenance is not None:
            _write_json(staging / "provenance.json", dict(provenance))
            kinds["provenance.json"] = "provenance"
        files = []
        for name in sorted(kinds):
            path = staging / name
            # Frames and copied products: flush them to disk before the rename.
            with open(path, "rb+") as f:
                os.fsync(f.fileno())
            os.chmod(path, file_mode)
            files.append(
                PackageFile(
                    path=name,
                    kind=kinds[name],
                    size_bytes=path.stat().st_size,
                    sha256=sha256_file(path),
                )
            )
        manifest = {
            "dataset_id": dataset_id,
            "version": version,
            "files": [f.model_dump() for f in files],
        }
        _write_json(staging / MANIFEST, manifest)
        lines = [f"{f.sha256}  {f.path}\n" for f in files]
        lines.append(f"{sha256_file(staging / MANIFEST)}  {MANIFEST}\n")
        with atomic_write(staging / CHECKSUMS) as f:
            f.write("".join(lines).encode())
        os.chmod(staging / MANIFEST, file_mode)
        os.chmod(staging / CHECKSUMS, file_mode)
        _fsync_dir(staging)
        crash_point("publish-staged", staging)
        try:
            os.rename(staging, final)  # fails if another writer got there first
        except OSError as e:
            if final.exists():
                raise PackageExistsError(
                    f"{final}: dataset {dataset_id} version {version} is already packaged"
                ) from e
            raise
        _fsync_dir(final.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
        raise
    return DistributionPackage(path=final, dataset_id=dataset_id, version=version, files=files)


def read_package(path: str | Path) -> DistributionPackage:
    """The package description from its ``manifest.json``."""
    path = Path(path)
    manifest = json.loads((path / MANIFEST).read_text())
    return DistributionPackage(
        path=path,
        dataset_id=manifest["dataset_id"],
        version=manifest["version"],
        files=[PackageFile(**f) for f in manifest["files"]],
    )


def verify_package(path: str | Path) -> PackageVerification:
    """Check every file listed in ``SHA256SUMS`` and that no file is unlisted.

    Reports files that are missing, whose sha256 differs (tampered or damaged),
    and files present but not listed. ``.ok`` is True only if all are empty.
    """
    path = Path(path)
    sums = path / CHECKSUMS
    if not sums.is_file():
        raise FileNotFoundError(f"{sums}: no checksum manifest (expected a distribution package)")
    listed: dict[str, str] = {}
    for n, line in enumerate(sums.read_text().splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ValueError(f"{sums}:{n}: expected '<sha256>  <file>', got {line!r}")
        listed[name] = digest
    missing, mismatched = [], []
    for name, digest in listed.items():
        target = path / name
        if not target.is_file():
            missing.append(name)
        elif sha256_file(target) != digest:
            mismatched.append(name)
    present = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    unlisted = sorted(present - set(listed) - {CHECKSUMS})
    return PackageVerification(
        path=path, checked=len(listed), missing=missing, mismatched=mismatched, unlisted=unlisted
    )
