"""Ingest one processed dataset: all products, one version, all or nothing.

:func:`ingest_dataset` takes a folder of L1 frames and the provenance of the
recipe run that made them and

1. verifies every frame's FITS CHECKSUM/DATASUM, refusing the whole dataset with
   a :class:`~dkist_processing_core.datacenter.products.catalog.checksums.FrameIntegrityError`
   naming every tampered or truncated file before anything is written;
2. derives the version from the provenance; if that version is packaged
   already, returns the stored result (ingest is idempotent);
3. builds the frame inventory, the quality metrics (JSON and PDF report), the
   dataset inventory record, the browse movie and preview, then the
   distribution package with the dataset ASDF and the checksum manifest - in a
   staging folder renamed into place only when complete;
4. returns the inventories (dataset, frame, object) as plain data for the
   data center's store.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dkist_processing_core.calibration.movie.algorithm import write_browse_movie
from dkist_processing_core.calibration.quality import (
    compute_quality_metrics,
    write_quality_data,
    write_quality_report,
)
from dkist_processing_core.calibration.quality.metrics import QualityMetrics
from dkist_processing_core.datacenter.products.catalog.checksums import verify_frames
from dkist_processing_core.datacenter.products.catalog.inventory import (
    DatasetInventory,
    FrameRecord,
    ObjectRecord,
    dataset_inventory,
    frame_inventory,
    read_frame_header,
)
from dkist_processing_core.datacenter.products.catalog.package import (
    PackageExistsError,
    build_package,
    package_path,
    read_package,
)

__all__ = ["IngestResult", "ingest_dataset"]


PRODUCT_KINDS = {"quality_data", "quality_report_data", "quality_report", "movie", "preview"}


class IngestResult(BaseModel):
    dataset_id: str
    version: str
    package_path: Path
    created: bool
    dataset_inventory: DatasetInventory
    frame_inventory: list[FrameRecord]
    object_inventory: list[ObjectRecord]


def _frames_of(frames: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(frames, (str, Path)):
        folder = Path(frames)
        paths = sorted(folder.glob("*.fits"))
        if not paths:
            raise ValueError(f"{folder}: no *.fits frames to ingest")
        return paths
    return [Path(p) for p in frames]


def _result_from_package(path: Path, created: bool) -> IngestResult:
    package = read_package(path)
    inventory = DatasetInventory.model_validate_json((path / "dataset_inventory.json").read_text())
    frames = [
        FrameRecord.model_validate(r)
        for r in json.loads((path / "frame_inventory.json").read_text())
    ]
    objects = [
        ObjectRecord(
            object_key=f"{package.dataset_id}/{package.version}/{f.path}",
            kind=f.kind,
            size_bytes=f.size_bytes,
            sha256=f.sha256,
        )
        for f in package.files
    ]
    return IngestResult(
        dataset_id=package.dataset_id,
        version=package.version,
        package_path=path,
        created=created,
        dataset_inventory=inventory,
        frame_inventory=frames,
        object_inventory=objects,
    )


def ingest_dataset(
    frames: str | Path | Sequence[str | Path],
    root: str | Path,
    *,
    dataset_id: str,
    version: str,
    provenance: Mapping[str, Any],
    parameter_values: Sequence[Mapping[str, Any]] = (),
    documentation_links: Mapping[str, str] | None = None,
    expected_frame_count: int | None = None,
    products: Mapping[str, str | Path] | None = None,
) -> IngestResult:
    """Ingest the frames (a folder or a list of paths) into ``root`` (see module docstring).

    ``version`` is the dataset version derived from ``provenance`` by the data center
    (:func:`dkist_processing_core.datacenter.products.versions.version_id`); the package of an
    existing version is returned as it is (ingest is idempotent).

    ``products`` are the quality data, quality report and browse movie the workflow
    already made (keys ``quality_data``, ``quality_report_data``, ``quality_report``,
    ``movie``, ``preview``); without them they are made here.
    """
    paths = _frames_of(frames)
    verify_frames(paths)  # raises before anything is written
    final = package_path(root, dataset_id, version)
    if final.exists():
        return _result_from_package(final, created=False)

    headers = [read_frame_header(p)[1] for p in paths]
    ids = {str(h.get("DSETID")) for h in headers}
    if ids != {dataset_id}:
        raise ValueError(f"frames carry DSETID {sorted(ids)} but the dataset is {dataset_id}")
    links = dict(documentation_links or {})
    for key, name in (
        ("INFO_URL", "info"),
        ("HEAD_URL", "header_documentation"),
        ("CAL_URL", "calibration_documentation"),
    ):
        if key in headers[0]:
            links.setdefault(name, str(headers[0][key]))
    # Frames are keyed by where they lie in the package, as the object inventory keys them.
    frame_records = [
        r.model_copy(update={"object_key": f"{dataset_id}/{version}/{Path(r.object_key).name}"})
        for r in frame_inventory(paths, headers=headers)
    ]
    made = {k: Path(v) for k, v in (products or {}).items()}
    if set(made) >= PRODUCT_KINDS:
        quality = QualityMetrics.model_validate_json(made["quality_data"].read_text())
    else:
        made = {}
        quality = compute_quality_metrics(paths, expected_frame_count=expected_frame_count)
    inventory = dataset_inventory(paths, headers=headers, quality_summary=quality.summary())
    Path(root).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ingest.", dir=root) as work:
        work = Path(work)
        dsid = dataset_id
        if made:
            data_paths = {k: made[k] for k in ("quality_data", "quality_report_data")}
            report, movie_path, preview_path = (
                made["quality_report"],
                made["movie"],
                made["preview"],
            )
        else:
            data_paths = write_quality_data(quality, work, stem=dsid)
            report = write_quality_report(quality, work / f"{dsid}_quality_report.pdf")
            movie = write_browse_movie(
                paths, work / f"{dsid}_browse_movie.mp4", work / f"{dsid}_preview.png"
            )
            movie_path, preview_path = movie.movie_path, movie.preview_path
        (work / "dataset_inventory.json").write_text(inventory.model_dump_json(indent=1))
        (work / "frame_inventory.json").write_text(
            json.dumps([r.model_dump() for r in frame_records], indent=1)
        )
        products = {
            **data_paths,
            "quality_report": report,
            "movie": movie_path,
            "preview": preview_path,
        }
        try:
            build_package(
                root,
                dataset_id=dsid,
                version=version,
                frame_paths=paths,
                products={
                    **products,
                    "dataset_inventory": work / "dataset_inventory.json",
                    "frame_inventory": work / "frame_inventory.json",
                },
                parameter_values=[dict(p) for p in parameter_values],
                documentation_links=links,
                provenance=dict(provenance),
                asdf_inventory=inventory.record,
            )
        except PackageExistsError:
            # Another ingest of the same provenance finished first: same version, same content.
            return _result_from_package(final, created=False)
    return _result_from_package(final, created=True)
