import shutil

import pytest

from tests.l1_products import make_products, simulated_l1_dataset


@pytest.fixture(scope="session")
def l1_dataset(tmp_path_factory):
    """A polarimetric ViSP-like L1 dataset: 2 maps x 2 raster steps x 4 Stokes = 16 frames."""
    return simulated_l1_dataset(tmp_path_factory.mktemp("l1") / "frames")


@pytest.fixture(scope="session")
def l1_products(l1_dataset, tmp_path_factory):
    """The dataset's frames in a run's scratch, with the products the product tasks made."""
    return make_products(l1_dataset.frame_paths, tmp_path_factory.mktemp("run"))


@pytest.fixture
def l1_copy(l1_dataset, tmp_path):
    """A private copy of the dataset's frames that a test may damage."""
    folder = tmp_path / "frames"
    shutil.copytree(l1_dataset.folder, folder)
    return sorted(folder.glob("*.fits"))
