import shutil

import pytest

from dkist_processing_core.catalog.example_dataset import write_simulated_l1_dataset


@pytest.fixture(scope="session")
def l1_dataset(tmp_path_factory):
    """A polarimetric ViSP-like L1 dataset: 2 maps x 2 raster steps x 4 Stokes = 16 frames."""
    return write_simulated_l1_dataset(
        tmp_path_factory.mktemp("l1") / "frames", detector_shape=(32, 64), noise_sigma=5.0
    )


@pytest.fixture
def l1_copy(l1_dataset, tmp_path):
    """A private copy of the dataset's frames that a test may damage."""
    folder = tmp_path / "frames"
    shutil.copytree(l1_dataset.folder, folder)
    return sorted(folder.glob("*.fits"))


def pdf_page_count(data: bytes) -> int:
    """Pages of a PDF from its page tree: the /Count of the catalog's /Pages object.

    Minimal on purpose (pypdf is not a dependency): reportlab writes object
    dictionaries uncompressed, so the catalog and page-tree root are plain text.
    """
    import re

    objects = {
        int(m.group(1)): m.group(2)
        for m in re.finditer(rb"(\d+) 0 obj(.*?)endobj", data, re.DOTALL)
    }
    root = int(re.findall(rb"/Root (\d+) 0 R", data)[-1])
    pages = int(re.search(rb"/Pages (\d+) 0 R", objects[root]).group(1))
    count = int(re.search(rb"/Count (\d+)", objects[pages]).group(1))
    leaves = sum(1 for body in objects.values() if re.search(rb"/Type /Page\b(?!s)", body))
    assert leaves == count, "page tree /Count disagrees with the number of page objects"
    return count
