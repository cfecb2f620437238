"""The demodulation matrices of a real-size bin grid: labelled HDF5 against today's FITS.

Run: ``.venv/bin/python -m benchmarks.bench_intermediates`` (the table), or
``.venv/bin/python -m pytest benchmarks/bench_intermediates.py -s``.

What is compared, both through the scratch's atomic write (write beside, fsync, rename) and
indexed with their tags:

- *FITS* (the format before): the demodulation array alone, ``(bins_y, bins_x, 4, n_mod)``
  float32, uncompressed (``Scratch.write_fits``); its dimensions are known only by convention.
- *HDF5* (now): the NetCDF4-conventions file the polcal task writes
  (:mod:`dkist_processing_core.calibration.intermediates`): the demodulation and modulation
  matrices, the modulation uncertainties, every bin's residual RMS and efficiencies, the
  coordinates and units, chunked and gzip-compressed, with provenance attributes.

Reading: *FITS* is ``Scratch.read_fits``; *HDF5* is the science task's read of the primary
array (``read_primary``, through ``xarray.open_dataset(engine="h5netcdf")``) and, separately,
opening the whole file as an ``xarray.Dataset`` with every variable loaded.

ViSP's frame is 2560 x 1000 pixels with 10 modulator states. The grids: the workflow's default
(4 x 1), the dense grid of ``bench_polcal_fit`` (256 x 10 bins) and one matrix per 1 x 10 pixels
(2560 x 100, 10.2 M matrix elements, 41 MB as float32). Figures are reported as ratios: HDF5 /
FITS for size and time, and each write against the disk's limit measured in the same run
(writing and fsyncing the same number of bytes as the raw float32 demodulation array).

Columns: the FITS file's size; the HDF5 file's size over the FITS size (*h5*: the full file
the task writes, *D*: an HDF5 file with the demodulation array alone, the same content as the
FITS); the FITS write over the disk's limit; HDF5 write time over FITS write time (full, D);
HDF5 read of the demodulation array over the FITS read (full file, D alone); and opening the
full file with every variable loaded, over the FITS read.

Measured 2026-11-29 on the 2-core machine (shared with other work, so only ratios count; times
best of 3, ``python -m benchmarks.bench_intermediates``):

=============  =======  =======  ========  ========  ========  =======  =======  ======  ======
bins (y x x)   MB FITS  size h5  size D/F  write F   write h5  write D  read h5  read D  all h5
=============  =======  =======  ========  ========  ========  =======  =======  ======  ======
    4 x 1         0.01    19.97     16.67       3.9       3.1      1.7    140.6    53.1   181.8
  256 x 10        0.41     2.27      0.84       3.9       7.8      3.2     75.8    56.9    92.3
 2560 x 100      40.97     2.00      0.60       1.5      28.5     10.8     25.2    18.7    46.8
=============  =======  =======  ========  ========  ========  =======  =======  ======  ======

What it says: on the real-size grid the demodulation array compresses to 0.6 of its FITS size,
and the full self-describing file (three matrix-sized arrays plus the diagnostics) is 2x the
FITS of the demodulation alone. The price is time: gzip makes the write ~11x the uncompressed
FITS write for the same array (~28x for the full file), and reading through xarray/h5netcdf
costs ~20x the FITS read on the dense grid and a fixed few milliseconds of opening on the small
ones (the 4 x 1 file is mostly its provenance: 3,000 input frame ids and HDF5 metadata). In a
run the demodulation matrices are written once and read once, so this is milliseconds to a
second against a polcal fit of seconds; the workflow's default grid (4 x 1) is what the table's
first row shows.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dkist_processing_core.calibration.intermediates import (
    demodulation_variables,
    open_intermediate,
    read_primary,
)
from dkist_processing_core.framework import Scratch
from dkist_processing_core.framework.netcdf import write_labelled

from .limits import best_of, write_fsync_seconds

VISP_SIZE = (2560, 1000)
N_MOD = 10
GRIDS = ((4, 1), (256, 10), (2560, 100))


@dataclass
class _Fit:
    """The arrays of a polcal fit, as the polcal task hands them to the writer."""

    modulation: np.ndarray
    demodulation: np.ndarray
    residual_rms: np.ndarray
    efficiency: np.ndarray
    modulation_uncertainty: np.ndarray
    parameters: dict
    uncertainties: dict
    fitted: tuple


def fit_for(grid: tuple[int, int], seed: int = 0) -> _Fit:
    """A realistic fit: smooth modulation matrices over the field plus noise, and their pinv."""
    rng = np.random.default_rng(seed)
    angles = np.deg2rad(np.arange(N_MOD) * 180.0 / N_MOD)
    base = np.stack(
        [np.ones(N_MOD), np.cos(4 * angles), np.sin(4 * angles), np.sin(2 * angles)], axis=1
    )
    field = np.linspace(0, 1, grid[0])[:, None, None, None] * 0.02
    modulation = base[None, None] * (1 + field) + rng.normal(0, 3e-4, (*grid, N_MOD, 4))
    demodulation = np.linalg.pinv(modulation)
    efficiency = 1 / np.sqrt(N_MOD * np.sum(demodulation**2, axis=-1))
    params = {"retardance_deg": 95.0, "polarizer_transmission": 0.96, "retarder_transmission": 0.98}
    return _Fit(
        modulation=modulation,
        demodulation=demodulation,
        residual_rms=np.abs(rng.normal(3e-4, 5e-5, grid)),
        efficiency=efficiency,
        modulation_uncertainty=np.abs(rng.normal(3e-4, 3e-5, (*grid, N_MOD, 4))),
        parameters=params,
        uncertainties=dict.fromkeys(params, 1e-4),
        fitted=tuple(params),
    )


def _attributes(n_frames: int) -> dict:
    return {
        "Conventions": "CF-1.8",
        "task": "PolarimetricCalibration",
        "workflow": "visp:l1_calibration",
        "workflow_version": "1.0.0",
        "parameter_values": {"polcal_spatial_bins": [4, 1]},
        "input_frame_ids": [f"VISP_POLCAL_{i:05d}.fits" for i in range(n_frames)],
        "primary_variable": "demodulation",
    }


def measure(grid: tuple[int, int], root: Path) -> dict:
    fit = fit_for(grid)
    variables, coords = demodulation_variables(fit, VISP_SIZE)
    attrs = _attributes(n_frames=3000)
    raw = np.asarray(fit.demodulation, dtype=np.float32)
    names = iter(range(10**6))
    with Scratch(root, writer="bench") as scratch:

        def write_fits() -> Path:
            return scratch.write_fits(raw, ["FITS"], f"demodulation_{next(names)}")

        def write_h5() -> Path:
            return scratch.write_with(
                lambda f: write_labelled(f, variables, coords, attrs),
                ["HDF5"],
                f"demodulation_{next(names)}",
                suffix=".h5",
            )

        only = {"demodulation": variables["demodulation"]}
        only_coords = dict(coords)

        def write_h5_demodulation_only() -> Path:
            return scratch.write_with(
                lambda f: write_labelled(f, only, only_coords, attrs),
                ["HDF5"],
                f"demodulation_{next(names)}",
                suffix=".h5",
            )

        fits_path, h5_path = write_fits(), write_h5()
        only_path = write_h5_demodulation_only()
        out = {
            "grid": grid,
            "elements": raw.size,
            "disk_write_s": write_fsync_seconds(root / "floor.bin", raw.tobytes()),
            "fits_bytes": fits_path.stat().st_size,
            "h5_bytes": h5_path.stat().st_size,
            "fits_write_s": best_of(write_fits),
            "h5_write_s": best_of(write_h5),
            "h5_only_bytes": only_path.stat().st_size,
            "h5_only_write_s": best_of(write_h5_demodulation_only),
            "h5_only_read_s": best_of(lambda: read_primary(only_path)),
            "fits_read_s": best_of(lambda: Scratch.read_fits(fits_path)),
            "h5_read_primary_s": best_of(lambda: read_primary(h5_path)),
            "h5_read_all_s": best_of(lambda: open_intermediate(h5_path).load()),
        }
        np.testing.assert_array_equal(read_primary(h5_path), Scratch.read_fits(fits_path)[0])
    return out


def table() -> str:
    rows = [
        "=============  =======  =======  ========  ========  ========  =======  =======  ======  ======",
        "bins (y x x)   MB FITS  size h5  size D/F  write F   write h5  write D  read h5  read D  all h5",
        "=============  =======  =======  ========  ========  ========  =======  =======  ======  ======",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-intermediates-") as tmp:
        for grid in GRIDS:
            m = measure(grid, Path(tmp) / f"{grid[0]}x{grid[1]}")
            fits_bytes, fits_write, fits_read = m["fits_bytes"], m["fits_write_s"], m["fits_read_s"]
            rows.append(
                f"{grid[0]:>5} x {grid[1]:<5}  {fits_bytes / 1e6:7.2f}  "
                f"{m['h5_bytes'] / fits_bytes:7.2f}  "
                f"{m['h5_only_bytes'] / fits_bytes:8.2f}  "
                f"{fits_write / m['disk_write_s']:8.1f}  "
                f"{m['h5_write_s'] / fits_write:8.1f}  "
                f"{m['h5_only_write_s'] / fits_write:7.1f}  "
                f"{m['h5_read_primary_s'] / fits_read:7.1f}  "
                f"{m['h5_only_read_s'] / fits_read:6.1f}  "
                f"{m['h5_read_all_s'] / fits_read:6.1f}"
            )
    rows.append(rows[0])
    return "\n".join(rows)


def test_hdf5_demodulation_round_trip_and_ratios(tmp_path):
    """One (small) grid: the HDF5 file reads back the FITS array exactly; ratios printed."""
    m = measure(GRIDS[1], tmp_path)
    print({k: v for k, v in m.items()})
    assert m["h5_bytes"] > 0 and m["fits_bytes"] > 0


if __name__ == "__main__":
    sys.stdout.write(table() + "\n")
