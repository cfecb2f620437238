"""Simulated Level 1 datasets with a known truth, for tests, demos and benchmarks.

The headers come from ``dkist-data-simulator`` (valid SPEC-0214 L1 headers of a
ViSP-like spectropolarimetric dataset: a spectral axis, a spatial slit axis, a
raster axis, optionally repeated maps and the four Stokes parameters). The pixel
data and a few header values are ours, so that downstream products can be checked
against a truth:

* pointing: the WCS reference value of the two helioprojective axes
  (``pointing_lon_arcsec``, ``pointing_lat_arcsec``) and the line wavelength;
* Stokes I is ``intensity * (1 + 0.1 * pattern)`` plus Gaussian noise of standard
  deviation ``noise_sigma``; Q, U, V are ``intensity * polarization * pattern``
  plus the same noise, so the noise of every frame is known;
* the Fried parameter r0 (``ATMOS_R0``) follows a known time series and the AO
  loop is unlocked (``AO_LOCK = False``) on every third time step;
* ``LIGHTLVL`` is the mean intensity.

Files are written the way L1 frames are distributed: an empty primary HDU and a
tile-compressed float32 image extension (RICE_1), with CHECKSUM/DATASUM.
"""

from __future__ import annotations

import datetime
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from dkist_data_simulator.spec214.visp import SimpleVISPDataset

from dkist_processing_core.framework.atomic import atomic_write

__all__ = ["SimulatedL1Dataset", "SimulatedL1Truth", "write_simulated_l1_dataset"]


@dataclass(frozen=True)
class SimulatedL1Truth:
    """What the simulated dataset was made from (the truth downstream checks use)."""

    dataset_id: str
    proposal_id: str
    pointing_lon_arcsec: float
    pointing_lat_arcsec: float
    wavelength_nm: float
    intensity: float
    polarization: float
    noise_sigma: float
    n_maps: int
    n_steps: int
    n_stokes: int
    detector_shape: tuple[int, int]
    time_delta_s: float
    start_time: str
    fried_parameter_m: list[float] = field(default_factory=list)  # per time index
    ao_locked: list[bool] = field(default_factory=list)  # per time index


@dataclass(frozen=True)
class SimulatedL1Dataset:
    """A folder of simulated L1 frames and the truth they were made from."""

    folder: Path
    frame_paths: list[Path]
    truth: SimulatedL1Truth


def _r0_series(n: int) -> list[float]:
    # A slow seeing variation between 5 and 11 cm.
    return [float(0.08 + 0.03 * np.sin(2 * np.pi * i / max(n, 2))) for i in range(n)]


class _TruthVispDataset(SimpleVISPDataset):
    """dkist-data-simulator's ViSP dataset with our pointing, data and AO values."""

    def __init__(self, truth: SimulatedL1Truth, seed: int):
        super().__init__(
            truth.n_maps,
            truth.n_steps,
            truth.n_stokes,
            truth.time_delta_s,
            linewave=truth.wavelength_nm * u.nm,
            detector_shape=truth.detector_shape,
        )
        self.truth = truth
        self.seed = seed
        self.start_time = datetime.datetime.fromisoformat(truth.start_time)
        self.add_constant_key("DSETID", truth.dataset_id)
        self.add_constant_key("POINT_ID", truth.dataset_id)
        self.add_constant_key("PROP_ID", truth.proposal_id)
        self.add_constant_key("PROPID01", truth.proposal_id)
        self.add_constant_key("DSHEALTH", "GOOD")
        self.add_constant_key("OBJECT", "quietsun")
        self.add_constant_key("XPOSURE", 10.0)
        self.add_constant_key("MANPROCD", False)
        # These vary per frame: drop the simulator's constants, generate them below.
        for key in ("ATMOS_R0", "AO_LOCK"):
            self._fixed_keys.pop(key, None)
        self.add_generator_function("ATMOS_R0", type(self)._fried_parameter)
        self.add_generator_function("AO_LOCK", type(self)._ao_lock)
        self.add_generator_function("LIGHTLVL", type(self)._light_level)

    def _fried_parameter(self, key):
        return self.truth.fried_parameter_m[self.time_index]

    def _ao_lock(self, key):
        return self.truth.ao_locked[self.time_index]

    def _light_level(self, key):
        return self.truth.intensity

    @property
    def stokes_index(self) -> int:
        return int(self.file_index[0]) if self.truth.n_stokes > 1 else 0

    @property
    def data(self):
        t = self.truth
        ny, nx = t.detector_shape
        y, x = np.mgrid[0:ny, 0:nx]
        phase = 2 * np.pi * (self.time_index + 1) / 7.0
        pattern = np.sin(2 * np.pi * x / nx + phase) * np.cos(2 * np.pi * y / ny)
        if self.stokes_index == 0:
            signal = t.intensity * (1 + 0.1 * pattern)
        else:
            signal = t.intensity * t.polarization * pattern * (1 + 0.3 * self.stokes_index)
        rng = np.random.default_rng([self.seed, self.index])
        noise = rng.normal(0.0, t.noise_sigma, size=signal.shape)
        return (signal + noise).astype(np.float32)[np.newaxis]

    @property
    def fits_wcs(self):
        w = super().fits_wcs
        # ViSP axis order: 1 = slit (latitude), 2 = wavelength, 3 = raster (longitude).
        w.wcs.crval = (
            self.truth.pointing_lat_arcsec,
            self.truth.wavelength_nm,
            self.truth.pointing_lon_arcsec,
        )
        return w


def write_simulated_l1_dataset(
    folder: str | Path,
    *,
    dataset_id: str = "SIMDS",
    proposal_id: str = "pid_1_23",
    n_maps: int = 2,
    n_steps: int = 2,
    polarimetric: bool = True,
    detector_shape: tuple[int, int] = (24, 40),
    pointing_arcsec: tuple[float, float] = (-200.0, 100.0),
    wavelength_nm: float = 630.2,
    intensity: float = 1000.0,
    polarization: float = 0.05,
    noise_sigma: float = 5.0,
    time_delta_s: float = 5.0,
    start_time: str = "2024-04-11T14:27:00",
    seed: int = 0,
    quantize_level: float = 16.0,
) -> SimulatedL1Dataset:
    """Write a simulated L1 dataset into ``folder`` and return its frames and truth.

    Each frame is written atomically as ``VISP_L1_<index>.fits``: an empty primary
    HDU plus a RICE_1 tile-compressed float32 image HDU with the SPEC-0214 header,
    with CHECKSUM and DATASUM on both HDUs. ``quantize_level`` is astropy's float
    quantisation level (quantisation step = noise / level), so a level of 16
    adds a rounding error of sigma/16/sqrt(12), 2% of the noise: negligible.
    """
    folder = Path(folder)
    n_stokes = 4 if polarimetric else 1
    n_times = n_maps * n_steps
    truth = SimulatedL1Truth(
        dataset_id=dataset_id,
        proposal_id=proposal_id,
        pointing_lon_arcsec=float(pointing_arcsec[0]),
        pointing_lat_arcsec=float(pointing_arcsec[1]),
        wavelength_nm=float(wavelength_nm),
        intensity=float(intensity),
        polarization=float(polarization),
        noise_sigma=float(noise_sigma),
        n_maps=n_maps,
        n_steps=n_steps,
        n_stokes=n_stokes,
        detector_shape=tuple(detector_shape),
        time_delta_s=float(time_delta_s),
        start_time=start_time,
        fried_parameter_m=_r0_series(n_times),
        ao_locked=[i % 3 != 2 for i in range(n_times)],
    )
    with warnings.catch_warnings():
        # The simulator logs/warns about keys it expands from other schemas.
        warnings.simplefilter("ignore")
        simulated = _TruthVispDataset(truth, seed)
        paths = []
        for frame in simulated:
            header = fits.Header(frame.header())
            image = fits.CompImageHDU(
                frame.data,
                header,
                compression_type="RICE_1",
                quantize_level=quantize_level,
            )
            hdul = fits.HDUList([fits.PrimaryHDU(), image])
            path = folder / f"VISP_L1_{frame.index:04d}.fits"
            with atomic_write(path) as f:
                hdul.writeto(f, checksum=True, output_verify="silentfix")
            paths.append(path)
    return SimulatedL1Dataset(folder=folder, frame_paths=paths, truth=truth)
