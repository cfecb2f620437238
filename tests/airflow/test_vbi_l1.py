"""VBI's L1 workflow end to end as a real Airflow DAG (``dag.test()``) on simulated data.

Truth: the local executor's L1 output for the same recipe run on the same raw
frames. An engine may only change where and when tasks run, never what they
write, so: the same L1 files (names and tags); the compressed data
byte-identical (the L1 writer's subtractive dither is seeded by the frame's
place in the run, not by chance), hence identical decompressed data; and
headers equal except the keywords that are new for every file written: its
unique ``FILE_ID``, the file's creation ``DATE`` and the header's own ``CHECKSUM``
(which covers those two).
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from dkist_processing_vbi import DEFAULT_PARAMETER_VALUES

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.framework import LocalExecutor, Scratch
from dkist_processing_core.simulate import simulate_vbi, single_filter
from dkist_processing_core.simulate.runs import run_spec_for

pytest.importorskip("airflow")
pytestmark = [pytest.mark.airflow, pytest.mark.slow]

PER_FILE_KEYWORDS = {"FILE_ID", "DATE", "CHECKSUM"}


def l1_outputs(scratch_dir) -> dict[str, tuple[set[str], object]]:
    """L1 file name -> (its tags, its path)."""
    with Scratch(scratch_dir) as s:
        return {p.name: (s.tags_of(p), p) for p in s.find(t.OUTPUT, t.L1)}


def stored_data(path) -> list[bytes]:
    """Each HDU's data as stored in the file (compressed tiles and heap, not decompressed)."""
    raw = path.read_bytes()
    with fits.open(path, disable_image_compression=True) as hdul:
        spans = [hdul.fileinfo(i) for i in range(len(hdul))]
    return [raw[s["datLoc"] : s["datLoc"] + s["datSpan"]] for s in spans]


def header_without_per_file_keywords(header: fits.Header) -> list[tuple[str, str]]:
    return [(c.keyword, str(c.value)) for c in header.cards if c.keyword not in PER_FILE_KEYWORDS]


def test_vbi_l1_through_airflow_equals_the_local_executors(tmp_path):
    from dkist_processing_core.framework.executors.airflow import AirflowExecutor

    observation = simulate_vbi(
        tmp_path / "summit", seed=3, size=(64, 64), mosaic=(2, 2), **single_filter(1)
    )
    specs = {
        engine: run_spec_for(
            observation,
            "vbi:l1_calibration",
            tmp_path / engine,
            DEFAULT_PARAMETER_VALUES,
            recipe_run_id=77,
        )
        for engine in ("local", "airflow")
    }
    LocalExecutor().run(specs["local"])
    report = AirflowExecutor().run(specs["airflow"])
    assert report.status == "succeeded"
    workflow_tasks = LocalExecutor().run(specs["local"]).tasks  # resumed: every task recorded
    assert [r.name for r in report.tasks] == [r.name for r in workflow_tasks]
    assert all(r.status == "succeeded" for r in report.tasks)
    local, airflow = l1_outputs(tmp_path / "local"), l1_outputs(tmp_path / "airflow")
    n_observe = len(observation.select("OBSERVE"))
    assert len(local) == n_observe == 4 * 2  # 2x2 mosaic tiles x 2 frames per tile, one filter
    assert local.keys() == airflow.keys()
    for name, (tags, local_path) in local.items():
        airflow_tags, airflow_path = airflow[name]
        assert airflow_tags == tags, name
        # The stored bytes of every HDU's data (the compressed tiles), byte for byte.
        assert stored_data(local_path) == stored_data(airflow_path), name
        with fits.open(local_path) as a, fits.open(airflow_path) as b:
            assert len(a) == len(b) == 2
            assert np.array_equal(a[1].data, b[1].data), name
            assert a[1].header["FILE_ID"] != b[1].header["FILE_ID"]  # really written twice
        # Headers as the reader sees them and as stored (the compressed table's own header).
        for compressed_view in (False, True):
            with (
                fits.open(local_path, disable_image_compression=compressed_view) as a,
                fits.open(airflow_path, disable_image_compression=compressed_view) as b,
            ):
                if compressed_view:
                    assert a[1].header["DATASUM"] == b[1].header["DATASUM"], name
                for hdu_a, hdu_b in zip(a, b):
                    assert header_without_per_file_keywords(hdu_a.header) == (
                        header_without_per_file_keywords(hdu_b.header)
                    ), name
