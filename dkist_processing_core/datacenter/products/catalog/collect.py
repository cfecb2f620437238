"""Collect one processed dataset into its distribution package: verified, all or nothing.

:func:`collect_dataset` takes the L1 frames of a recipe run and the dataset
products its workflow made (the kinds of
:data:`dkist_processing_core.calibration.outputs.DATASET_PRODUCTS`: the dataset
ASDF, the dataset and frame inventories, the quality data and report, the
browse movie and its preview) and

1. refuses a product set that lacks any kind, with a :class:`MissingProductError`
   naming what is missing (nothing is made here in its place);
2. verifies every frame's FITS CHECKSUM/DATASUM, refusing the whole dataset with
   a :class:`~dkist_processing_core.datacenter.products.catalog.checksums.FrameIntegrityError`
   naming every tampered or truncated file before anything is written;
3. if the version is packaged already, returns the stored result (idempotent);
4. reads the two inventories (typed records) and checks that they describe
   exactly these frames of this dataset;
5. copies frames and products into the distribution package of the version
   (:mod:`.package`: staged, then renamed into place);
6. returns the inventories (dataset, frame, object) for the data center's store,
   each frame and object keyed by where it lies in the archive
   (``<dataset id>/<version>/<file name>``).

It computes no product: the inventories, ASDF, quality report and movie are
the workflow's outputs, copied as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dkist_processing_core.calibration.outputs import (
    DATASET_PRODUCTS,
    DatasetInventory,
    FrameRecord,
    read_dataset_inventory,
    read_frame_inventory,
)
from dkist_processing_core.datacenter.products.catalog.checksums import verify_frames
from dkist_processing_core.datacenter.products.catalog.objects import ObjectRecord
from dkist_processing_core.datacenter.products.catalog.package import (
    PackageExistsError,
    build_package,
    package_path,
    read_package,
)

__all__ = ["CollectResult", "MissingProductError", "collect_dataset", "missing_products"]

#: Header keywords of the documentation links, and their names in ``documentation.json``.
DOCUMENTATION_LINKS = (
    ("INFO_URL", "info"),
    ("HEAD_URL", "header_documentation"),
    ("CAL_URL", "calibration_documentation"),
)


class MissingProductError(LookupError):
    """A dataset product the workflow should have made is not there; the message names it."""


class CollectResult(BaseModel):
    dataset_id: str
    version: str
    package_path: Path
    created: bool
    dataset_inventory: DatasetInventory
    frame_inventory: list[FrameRecord]
    object_inventory: list[ObjectRecord]


def missing_products(products: Mapping[str, Any]) -> list[str]:
    """Descriptions of the product kinds absent from ``products`` (kind -> file)."""
    return [
        f"{p.description} ('{p.kind}': tags {', '.join(p.tags)}, made by task {p.made_by})"
        for p in DATASET_PRODUCTS
        if products.get(p.kind) is None
    ]


def _frames_of(frames: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(frames, (str, Path)):
        folder = Path(frames)
        paths = sorted(folder.glob("*.fits"))
        if not paths:
            raise ValueError(f"{folder}: no *.fits frames to collect")
        return paths
    return [Path(p) for p in frames]


def _result_from_package(path: Path, created: bool) -> CollectResult:
    package = read_package(path)
    prefix = f"{package.dataset_id}/{package.version}"
    (inventory_file,) = package.by_kind("dataset_inventory")
    (frames_file,) = package.by_kind("frame_inventory")
    frames = [
        r.model_copy(update={"object_key": f"{prefix}/{Path(r.object_key).name}"})
        for r in read_frame_inventory(path / frames_file.path)
    ]
    objects = [
        ObjectRecord(
            object_key=f"{prefix}/{f.path}", kind=f.kind, size_bytes=f.size_bytes, sha256=f.sha256
        )
        for f in package.files
    ]
    return CollectResult(
        dataset_id=package.dataset_id,
        version=package.version,
        package_path=path,
        created=created,
        dataset_inventory=read_dataset_inventory(path / inventory_file.path),
        frame_inventory=frames,
        object_inventory=objects,
    )


def _check_inventories(
    paths: list[Path], inventory: DatasetInventory, records: list[FrameRecord], dataset_id: str
) -> None:
    """The inventories must describe exactly these frames, of this dataset."""
    ids = sorted({r.dataset_id for r in records} | {inventory.dataset_id})
    if ids != [dataset_id]:
        raise ValueError(f"frames carry DSETID {ids} but the dataset is {dataset_id}")
    names, described = sorted(p.name for p in paths), sorted(r.object_key for r in records)
    if names != described:
        extra, absent = sorted(set(described) - set(names)), sorted(set(names) - set(described))
        raise ValueError(
            f"the frame inventory does not describe the frames: it lists {extra[:5]} that are "
            f"not among them and lacks {absent[:5]} (expected one record per L1 frame)"
        )
    if inventory.frame_count != len(paths):
        raise ValueError(
            f"the dataset inventory counts {inventory.frame_count} frames, "
            f"but the dataset has {len(paths)}"
        )


def collect_dataset(
    frames: str | Path | Sequence[str | Path],
    products: Mapping[str, str | Path],
    root: str | Path,
    *,
    dataset_id: str,
    version: str,
    provenance: Mapping[str, Any],
    parameter_values: Sequence[Mapping[str, Any]] = (),
    documentation_links: Mapping[str, str] | None = None,
    **package_options: Any,
) -> CollectResult:
    """Package the frames (a folder or a list of paths) and products into ``root``.

    ``products`` maps each kind of :data:`~dkist_processing_core.calibration.outputs.DATASET_PRODUCTS`
    to the file the workflow made. ``version`` is the dataset version derived from
    ``provenance`` by the data center
    (:func:`dkist_processing_core.datacenter.products.versions.version_id`); the
    package of an existing version is returned as it is. ``package_options``
    (``staging_dir``, ``dir_mode``, ``file_mode``) go to :func:`.package.build_package`.
    See the module docstring.
    """
    missing = missing_products(products)
    if missing:
        raise MissingProductError(
            f"dataset {dataset_id} lacks {len(missing)} dataset product(s): "
            + "; ".join(missing)
            + ". The workflow must make them; the data center makes no product."
        )
    paths = _frames_of(frames)
    verify_frames(paths)  # raises before anything is written
    final = package_path(root, dataset_id, version)
    if final.exists():
        return _result_from_package(final, created=False)

    inventory = read_dataset_inventory(products["dataset_inventory"])
    records = read_frame_inventory(products["frame_inventory"])
    _check_inventories(paths, inventory, records, dataset_id)
    links = dict(documentation_links or {})
    for key, name in DOCUMENTATION_LINKS:
        if key in records[0].provenance:
            links.setdefault(name, str(records[0].provenance[key]))
    Path(root).mkdir(parents=True, exist_ok=True)
    try:
        build_package(
            root,
            dataset_id=dataset_id,
            version=version,
            frame_paths=paths,
            products={p.kind: Path(products[p.kind]) for p in DATASET_PRODUCTS},
            parameter_values=[dict(p) for p in parameter_values],
            documentation_links=links,
            provenance=dict(provenance),
            **package_options,
        )
    except PackageExistsError:
        # Another collection of the same provenance finished first: same version, same content.
        return _result_from_package(final, created=False)
    return _result_from_package(final, created=True)
