"""The product tasks over a simulated L1 dataset: every product is a tagged output."""

import json

import dkist
import pytest

from dkist_processing_core.calibration.asdf.algorithm import check_dataset_asdf
from dkist_processing_core.calibration.dataset_products import (
    PRODUCT_TASKS,
    dataset_products_workflow,
)
from dkist_processing_core.calibration.inventory.algorithm import dataset_inventory
from dkist_processing_core.calibration.outputs import (
    DATASET_PRODUCTS,
    read_dataset_inventory,
    read_frame_inventory,
)
from dkist_processing_core.calibration.quality import compute_quality_metrics
from tests.l1_products import PARAMETER_VALUES, make_products


@pytest.fixture(scope="module")
def made(l1_dataset, tmp_path_factory):
    return make_products(l1_dataset.frame_paths, tmp_path_factory.mktemp("run"))


def test_every_product_kind_is_made_by_a_task_of_the_workflow():
    workflow = dataset_products_workflow()
    assert workflow.task_order == [task.__name__ for task in PRODUCT_TASKS]
    written = [set(query) for task in PRODUCT_TASKS for query in task.writes]
    for product in DATASET_PRODUCTS:
        assert set(product.tags) in written, product.kind
        assert product.made_by in workflow.task_names


def test_each_product_is_one_tagged_file(made):
    assert made.report.status == "succeeded"
    assert set(made.products) == {p.kind for p in DATASET_PRODUCTS}
    assert all(path.stat().st_size > 0 for path in made.products.values())
    assert made.products["quality_report"].read_bytes().startswith(b"%PDF-")
    assert made.products["preview"].read_bytes().startswith(b"\x89PNG")


def test_the_inventories_describe_the_frames(made, l1_dataset):
    inventory = read_dataset_inventory(made.products["dataset_inventory"])
    records = read_frame_inventory(made.products["frame_inventory"])
    assert inventory.dataset_id == l1_dataset.truth.dataset_id and inventory.frame_count == 16
    assert sorted(r.object_key for r in records) == sorted(p.name for p in made.frames)
    # The same record the algorithm gives for these frames, with the quality summary added.
    direct = dataset_inventory(made.frames)
    assert inventory.record == direct.record
    quality = compute_quality_metrics(made.frames, expected_frame_count=16)
    assert inventory.quality == json.loads(json.dumps(quality.summary()))
    assert inventory.quality["aoLockedFrameCount"] == 12


def test_the_asdf_loads_where_it_was_made_and_matches_the_frames(made):
    asdf_path = made.products["asdf"]
    assert asdf_path.parent == made.frames[0].parent  # beside the frames it names
    check = check_dataset_asdf(asdf_path)
    assert check.frame_count == 16 and check.max_data_difference == 0.0
    assert check.max_spatial_error_arcsec < 1e-3 and check.max_wavelength_error_nm < 1e-6
    ds = dkist.load_dataset(asdf_path)
    assert ds.meta["inventory"] == read_dataset_inventory(made.products["dataset_inventory"]).record
    names = {p["parameterName"] for p in ds.meta["parameters"]}
    assert names == {p.name for p in PARAMETER_VALUES}
