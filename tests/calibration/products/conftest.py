import shutil

import pytest

from tests.l1_products import simulated_l1_dataset


@pytest.fixture(scope="session")
def l1_dataset(tmp_path_factory):
    """A polarimetric ViSP-like L1 dataset: 2 maps x 2 raster steps x 4 Stokes = 16 frames."""
    return simulated_l1_dataset(tmp_path_factory.mktemp("l1") / "frames")


@pytest.fixture
def l1_copy(l1_dataset, tmp_path):
    """A private copy of the dataset's frames that a test may damage."""
    folder = tmp_path / "frames"
    shutil.copytree(l1_dataset.folder, folder)
    return sorted(folder.glob("*.fits"))


def pdf_page_count(data: bytes) -> int:
    """Pages of a PDF, read with a real PDF parser."""
    import io

    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(data)).pages)
