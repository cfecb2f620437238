"""Labelled array files: NetCDF4-conventions HDF5 written with h5py, opened by xarray."""

import h5py
import numpy as np
import pytest
import xarray as xr

from dkist_processing_core.framework import Scratch
from dkist_processing_core.framework.netcdf import (
    LabelledFileError,
    Variable,
    open_as_xarray,
    write_labelled,
)


def _write(scratch, fail=False):
    def write(f):
        write_labelled(
            f,
            {
                "value": Variable(("row", "col"), np.arange(12.0).reshape(3, 4), "m", "a value"),
                "per_frame": Variable(("frame",), [1.0, 2.0], "adu", "per frame"),
                "scalar": Variable((), 2.5, "degree", "a scalar", {"sigma": 0.1}),
            },
            {
                "row": Variable(("row",), [10, 20, 30], "pixel", "row centre"),
                "time": Variable(("frame",), [0.0, 60.0], "seconds since 2024-01-01T00:00:00"),
                "name": Variable(("frame",), ["a", "b"]),
            },
            {"task": "T", "parameter_values": {"p": [1, 2]}, "input_frame_ids": ["f1", "f2"]},
        )
        if fail:
            raise RuntimeError("disk full")

    return scratch.write_with(write, ["LABELLED"], "thing", suffix=".h5")


def test_xarray_opens_it_with_dimensions_coordinates_and_units(tmp_path):
    with Scratch(tmp_path) as scratch:
        path = _write(scratch)
    ds = xr.open_dataset(path, engine="h5netcdf")
    assert ds["value"].dims == ("row", "col") and ds["value"].attrs["units"] == "m"
    assert ds["value"].attrs["long_name"] == "a value"
    assert list(ds["row"].values) == [10, 20, 30] and ds["row"].attrs["units"] == "pixel"
    assert "col" not in ds.coords  # a dimension without coordinates stays one
    assert ds["per_frame"].dims == ("frame",)
    assert set(ds["per_frame"].coords) == {"time", "name"}
    assert ds["time"].values[1] == np.datetime64("2024-01-01T00:01:00")
    assert float(ds["scalar"]) == 2.5 and ds["scalar"].attrs["sigma"] == 0.1
    assert ds.attrs["task"] == "T"
    np.testing.assert_array_equal(ds["value"].values, np.arange(12.0).reshape(3, 4))
    opened = open_as_xarray(path)  # JSON attributes decoded
    assert opened.attrs["parameter_values"] == {"p": [1, 2]}
    assert opened.attrs["input_frame_ids"] == ["f1", "f2"]


def test_arrays_are_chunked_and_compressed_with_dimension_scales(tmp_path):
    with Scratch(tmp_path) as scratch:
        path = _write(scratch)
    with h5py.File(path, "r") as h5:
        assert h5["value"].chunks is not None and h5["value"].compression == "gzip"
        assert h5["row"].is_scale and h5["value"].dims[0][0].name == "/row"


def test_a_failed_write_leaves_no_file(tmp_path):
    with Scratch(tmp_path) as scratch:
        with pytest.raises(RuntimeError, match="disk full"):
            _write(scratch, fail=True)
        assert scratch.find("LABELLED") == []
        assert not list(tmp_path.rglob("thing*"))


def test_mismatched_dimensions_are_named(tmp_path):
    with pytest.raises(LabelledFileError, match=r"'b'.*dimension 'x' has length 3"):
        write_labelled(
            tmp_path / "bad.h5",
            {"a": Variable(("x",), [1.0, 2.0]), "b": Variable(("x",), [1.0, 2.0, 3.0])},
        )


def test_a_fits_image_opens_as_data_y_x(tmp_path):
    with Scratch(tmp_path) as scratch:
        path = scratch.write_fits(np.ones((3, 5), dtype=np.float32), ["IMAGE"], "image")
    ds = open_as_xarray(path)
    assert ds["data"].dims == ("y", "x") and ds["data"].shape == (3, 5)
