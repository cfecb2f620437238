import json
import subprocess

import pytest

from dkist_processing_core.datacenter.products.catalog.checksums import FrameIntegrityError
from dkist_processing_core.datacenter.products.catalog.collect import (
    MissingProductError,
    collect_dataset,
)
from dkist_processing_core.datacenter.products.catalog.package import (
    PackageExistsError,
    build_package,
    verify_package,
)
from dkist_processing_core.datacenter.products.versions import version_id

# A dataset's provenance as the data center records it (see datacenter.versions).
BASE = {
    "dataset_id": "SIMDS",
    "input_frame_ids": ["f1", "f2", "f3"],
    "parameter_values": [
        {"id": 1, "name": "dark_rejection_sigma", "value": None},
        {"id": 2, "name": "l1_quantize_level", "value": 16.0},
    ],
    "task_order": ["ParseInputData", "DarkCalibration", "WriteL1Frames"],
    "code_versions": {"dkist-processing-core": "0.1.0"},
    "manual_influence": [],
}


def ingest(frames, products, root, provenance):
    """Collect with the version the data center derives from the provenance."""
    return collect_dataset(
        frames,
        products,
        root,
        dataset_id=provenance["dataset_id"],
        version=version_id(provenance),
        provenance=provenance,
        parameter_values=provenance["parameter_values"],
    )


def test_ingest_builds_a_verifiable_package_once(l1_products, tmp_path):
    root = tmp_path / "archive"
    frames, products = l1_products.frames, l1_products.products
    result = ingest(frames, products, root, BASE)
    assert result.created and result.version == version_id(BASE)
    kinds = {o.kind for o in result.object_inventory}
    assert {
        "frame",
        "asdf",
        "quality_report",
        "quality_data",
        "movie",
        "preview",
        "parameter_values",
        "documentation",
    } <= kinds
    assert sum(o.kind == "frame" for o in result.object_inventory) == 16
    assert len(result.frame_inventory) == 16 and result.dataset_inventory.frame_count == 16
    assert result.dataset_inventory.quality["aoLockedFrameCount"] == 12
    check = verify_package(result.package_path)
    assert check.ok and check.checked == len(result.object_inventory) + 1  # + manifest.json
    # Recipients can use coreutils too.
    out = subprocess.run(
        ["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=result.package_path, capture_output=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    params = json.loads((result.package_path / "parameter_values.json").read_text())
    assert params == BASE["parameter_values"]
    # Same provenance again: same version, nothing rebuilt.
    mtime = (result.package_path / "SHA256SUMS").stat().st_mtime_ns
    again = ingest(frames, products, root, BASE)
    assert not again.created and again.version == result.version
    assert (result.package_path / "SHA256SUMS").stat().st_mtime_ns == mtime
    # Changed provenance: a new version beside the old one, which is kept.
    newer = ingest(
        frames, products, root, dict(BASE, code_versions={"dkist-processing-core": "0.2"})
    )
    assert newer.created and newer.version != result.version
    assert sorted(p.name for p in (root / "SIMDS").iterdir()) == sorted(
        [result.version, newer.version]
    )
    assert verify_package(result.package_path).ok


def test_verify_package_finds_tampering(l1_dataset, tmp_path):
    pkg = build_package(
        tmp_path,
        dataset_id="SIMDS",
        version="v1",
        frame_paths=l1_dataset.frame_paths[:4],
    )
    with pytest.raises(PackageExistsError):
        build_package(
            tmp_path, dataset_id="SIMDS", version="v1", frame_paths=l1_dataset.frame_paths[:4]
        )
    frame = pkg.path / l1_dataset.frame_paths[0].name
    frame.write_bytes(frame.read_bytes()[:-1] + b"\x01")
    (pkg.path / l1_dataset.frame_paths[1].name).unlink()
    (pkg.path / "extra.txt").write_text("not listed")
    check = verify_package(pkg.path)
    assert not check.ok
    assert check.mismatched == [frame.name]
    assert check.missing == [l1_dataset.frame_paths[1].name]
    assert check.unlisted == ["extra.txt"]


def test_ingest_refuses_a_tampered_frame_and_stores_nothing(l1_copy, l1_products, tmp_path):
    bad = l1_copy[7]
    data = bytearray(bad.read_bytes())
    data[-50] ^= 0x10
    bad.write_bytes(bytes(data))
    root = tmp_path / "archive"
    with pytest.raises(FrameIntegrityError) as e:
        ingest(l1_copy[0].parent, l1_products.products, root, BASE)
    assert bad.name in str(e.value)
    assert not root.exists() or not any(root.rglob("*"))


def test_frames_of_another_dataset_are_refused(l1_copy, l1_products, tmp_path):
    root = tmp_path / "archive"
    with pytest.raises(ValueError, match="DSETID"):
        ingest(l1_copy, l1_products.products, root, dict(BASE, dataset_id="OTHER"))
    assert not root.exists() or not [p for p in root.rglob("*") if p.is_file()]


def test_failure_midway_leaves_no_partial_package(l1_dataset, tmp_path):
    # A product named like a frame fails after the frames were staged: nothing may remain.
    with pytest.raises(ValueError, match="already used"):
        build_package(
            tmp_path,
            dataset_id="SIMDS",
            version="v1",
            frame_paths=l1_dataset.frame_paths,
            products={"movie": l1_dataset.frame_paths[0]},
        )
    assert list((tmp_path / "SIMDS").iterdir()) == []


def test_a_missing_product_is_refused_naming_it_and_none_is_made(l1_products, tmp_path):
    root = tmp_path / "archive"
    products = {k: v for k, v in l1_products.products.items() if k != "asdf"}
    with pytest.raises(MissingProductError, match="the dataset ASDF") as refused:
        ingest(l1_products.frames, products, root, BASE)
    assert "WriteDatasetAsdf" in str(refused.value) and "OUTPUT, ASDF" in str(refused.value)
    assert not root.exists() or not [p for p in root.rglob("*") if p.is_file()]


def test_the_package_holds_the_products_as_the_workflow_made_them(l1_products, tmp_path):
    result = ingest(l1_products.frames, l1_products.products, tmp_path / "archive", BASE)
    for kind, made in l1_products.products.items():
        (packaged,) = [o for o in result.object_inventory if o.kind == kind]
        assert packaged.object_key == f"SIMDS/{result.version}/{made.name}"
        assert (result.package_path / made.name).read_bytes() == made.read_bytes(), kind
    # Frames are keyed by where they lie in the archive, as the object inventory keys them.
    prefix = f"SIMDS/{result.version}/"
    assert {f.object_key for f in result.frame_inventory} == {
        prefix + p.name for p in l1_products.frames
    }
