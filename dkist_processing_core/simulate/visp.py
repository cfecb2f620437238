"""A slit spectropolarimeter modelled on ViSP.

Frames are (position along the slit, wavelength). The observation has four OP runs: darks (one IP
run per exposure time), gains (a lamp-gain IP run and a solar-gain IP run), polcal (the
calibration-unit sequence) and observe (a slit scan; each scan step is one frame per modulator
state).

Forward model of the expected light signal in detector pixel (y, x) for modulator state m::

    signal = t * G(y, x) * A(y) * O[m] @ M710 @ T(g) @ S(y, x - shift(y))

* ``t``: exposure time (ms); ``G``: detector pixel response; ``A``: slit illumination (``L(y)`` for
  the lamp, ``S_ill(y)`` for sunlight);
* ``O``: modulation matrix (rotating retarder + analyzer); ``M710``: mirrors M7-M10, which turn
  with the instrument;
* ``T(g)``: the telescope (M1-M6) at the frame's geometry ``g`` (elevation, azimuth, coude table
  angle; written as TELEVATN, TAZIMUTH, TTBLANGL); for lamp frames only the part after the
  calibration unit; for polcal frames the part after the unit, the unit itself (its true
  retardance and transmissions, off the nominal ones) and M1-M2 (see :mod:`.optics`). The polcal
  sequence is taken once at each of several geometries; observe steps drift in geometry;
* ``S(y, x)``: Stokes spectrum at the slit (the solar scene for observe frames, the unpolarized lamp
  for lamp gains, the mean solar spectrum for solar gains, and the mean solar spectrum passed
  through the calibration unit for polcal frames);
* ``shift(y)``: the spectral distortion (slit tilt + curvature) in pixels, zero at the central row.

Raw counts add bias, dark current, shot and read noise (see :mod:`.detector`).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from dkist_processing_core.calibration import keywords as kw
from dkist_processing_core.calibration.polcal.model import header_angles_from_model
from dkist_processing_core.simulate.detector import (
    DetectorTruth,
    expose,
    fried_parameter_series,
    pixel_response,
)
from dkist_processing_core.simulate.fitsbytes import RawFrameTemplate
from dkist_processing_core.simulate.headers import isot, template_header, wcs_keys
from dkist_processing_core.simulate.observation import (
    TRUTH_DIR,
    FrameRecord,
    SimulatedFrame,
    SimulatedObservation,
    SimulationTruth,
    write_frames,
)
from dkist_processing_core.simulate.optics import (
    CalibrationUnitState,
    TelescopeTruth,
    default_polcal_sequence,
    rotating_retarder_modulation_matrix,
)
from dkist_processing_core.simulate.scene import RandomWaveField, SpectralLine

# r0 threshold (m) below which the simulated AO loses lock.
AO_LOCK_MIN_R0_M = 0.05


@dataclass
class VispConfig:
    """Everything that defines a simulated ViSP observation. Units: ms, nm, arcsec, counts."""

    size: tuple[int, int] = (64, 128)  # (slit pixels, wavelength pixels)
    n_scan_steps: int = 8
    n_modulator_states: int = 10
    seed: int = 0
    start_time: datetime.datetime = datetime.datetime(2024, 5, 1, 18, 0, 0)
    frame_cadence_s: float = 0.1
    lamp_exposure_ms: float = 4.0
    solar_exposure_ms: float = 6.0
    polcal_exposure_ms: float = 6.0
    observe_exposure_ms: float = 10.0
    n_dark_frames: int = 20  # per exposure time
    n_lamp_gain_repeats: int = 4  # each repeat is one frame per modulator state
    n_solar_gain_repeats: int = 4
    n_polcal_repeats: int = 1
    polcal_sequence: list[CalibrationUnitState] = field(default_factory=default_polcal_sequence)
    # The calibration unit as it is (the pipeline starts from the nominal 92 deg, 1, 1).
    polcal_retardance_deg: float = 95.0
    polcal_polarizer_transmission: float = 0.96
    polcal_retarder_transmission: float = 0.98
    telescope: TelescopeTruth = field(default_factory=TelescopeTruth)
    # The polcal sequence is taken once at each telescope geometry (elevation, azimuth, table
    # angle; degrees); gains at the first observe geometry; observe steps drift linearly.
    polcal_geometries: list[tuple[float, float, float]] = field(
        default_factory=lambda: [(30.0, 100.0, 20.0), (50.0, 140.0, 60.0), (70.0, 200.0, 150.0)]
    )
    observe_geometry: tuple[float, float, float] = (45.0, 150.0, 80.0)
    observe_geometry_drift: tuple[float, float, float] = (0.3, 0.8, 0.0)  # per scan step
    modulator_retardance_deg: float = 127.0
    lamp_counts_per_ms: float = 10000.0
    continuum_counts_per_ms: float = 4000.0
    granule_scale_px: float = 10.0
    granulation_contrast: float = 0.05
    line_depth: float = 0.5
    line_width_px: float | None = None  # default: wavelength pixels / 40
    doppler_amplitude_px: float = 0.3
    stokes_v_scale: float = 0.1
    stokes_linear_scale: float = 0.03
    slit_tilt_px: float = 2.0  # spectral shift difference between the slit ends
    slit_curvature_px: float = 1.0  # quadratic term at the slit ends
    noise: str = "poisson"
    hpln_arcsec: float = -200.0
    hplt_arcsec: float = 150.0
    slit_pixel_arcsec: float = 0.0298
    scan_step_arcsec: float = 0.0298
    line_wavelength_nm: float = 630.2494
    dispersion_nm: float = 0.00128
    filter_id: str = "FF01-623_32-25"
    filter_wavelength_nm: float = 621.548

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.size[0]), int(self.size[1]))

    @property
    def polcal_states(self) -> list[tuple[CalibrationUnitState, tuple[float, float, float]]]:
        """The whole polcal sequence in time order: (unit state, geometry) of each step."""
        return [(s, tuple(g)) for g in self.polcal_geometries for s in self.polcal_sequence]

    def step_geometry(self, step: int) -> tuple[float, float, float]:
        """(elevation, azimuth, table angle) of an observe scan step."""
        return tuple(
            float(g + step * d) for g, d in zip(self.observe_geometry, self.observe_geometry_drift)
        )

    @property
    def exposure_times_ms(self) -> list[float]:
        return sorted(
            {
                self.lamp_exposure_ms,
                self.solar_exposure_ms,
                self.polcal_exposure_ms,
                self.observe_exposure_ms,
            }
        )


class VispModel:
    """The truth of a ViSP simulation and the expected signal of each frame."""

    def __init__(self, config: VispConfig):
        self.config = c = config
        ny, nx = c.shape
        seed = c.seed
        self.detector = DetectorTruth.create(c.shape, seed + 11)
        self.pixel_response = pixel_response(c.shape, seed + 12)
        y = np.arange(ny)
        yn = (y - ny // 2) / (ny - 1)  # -0.5 .. 0.5, zero at the central row
        self.spectral_shifts = c.slit_tilt_px * yn + 4 * c.slit_curvature_px * yn**2
        rng = np.random.default_rng(seed + 13)
        slit = RandomWaveField.create(seed + 14, scale_px=ny / 3).evaluate(y, [0.0])[:, 0]
        self.solar_illumination = 1 + 0.03 * slit + 0.01 * rng.standard_normal(ny)
        self.lamp_illumination = self.solar_illumination * (1 + 0.04 * yn)
        self.modulation_matrix = rotating_retarder_modulation_matrix(
            c.n_modulator_states, retardance_deg=c.modulator_retardance_deg, start_angle_deg=10.0
        )
        # M7-M10 turn with the instrument: the pipeline sees O M7-10 as its modulation matrix.
        self.effective_modulation_matrix = self.modulation_matrix @ c.telescope.coude_mueller()
        self.gain_geometry = tuple(c.observe_geometry)
        self.lamp_stokes = c.telescope.downstream(*self.gain_geometry)[:, 0]
        self.sun_stokes = c.telescope.mueller(*self.gain_geometry)[:, 0]
        self.step_telescope = np.stack(
            [c.telescope.mueller(*c.step_geometry(k)) for k in range(c.n_scan_steps)]
        )
        width = c.line_width_px if c.line_width_px is not None else max(nx / 40, 2.0)
        self.line = SpectralLine(
            center_px=(nx - 1) / 2,
            width_px=width,
            depth=c.line_depth,
            cv=c.stokes_v_scale,
            cq=c.stokes_linear_scale,
        )
        # Scene maps on (slit row, scan step).
        steps = np.arange(c.n_scan_steps)
        granulation = RandomWaveField.create(seed + 21, c.granule_scale_px).evaluate(y, steps)
        self.continuum = c.continuum_counts_per_ms * (1 + c.granulation_contrast * granulation)
        self.doppler = -c.doppler_amplitude_px * granulation  # bright granules move up: blueshift
        big = 3 * c.granule_scale_px
        self.b_los = RandomWaveField.create(seed + 22, big).evaluate(y, steps)
        self.b_trans = 1 + 0.5 * RandomWaveField.create(seed + 23, big).evaluate(y, steps)
        self.azimuth = 0.5 * np.arctan2(
            RandomWaveField.create(seed + 24, big).evaluate(y, steps),
            RandomWaveField.create(seed + 25, big).evaluate(y, steps),
        )
        self.mean_solar_spectrum = self.line.profile(np.arange(nx))
        # Stokes entering the coude lab in each polcal step: telescope after the unit, the unit,
        # M1-M2 in front of it.
        sunlight = c.telescope.upstream()[:, 0]
        self.polcal_input_stokes = np.stack(
            [
                c.telescope.downstream(*g)
                @ s.stokes_out(
                    c.polcal_retardance_deg,
                    sunlight,
                    c.polcal_polarizer_transmission,
                    c.polcal_retarder_transmission,
                )
                for s, g in c.polcal_states
            ],
            axis=1,
        )
        offsets = np.arange(nx) - (nx - 1) / 2
        self.wavelengths_nm = c.line_wavelength_nm + offsets * c.dispersion_nm
        self.slit_hplt = c.hplt_arcsec + (y - (ny - 1) / 2) * c.slit_pixel_arcsec
        self.step_hpln = c.hpln_arcsec + (steps - (c.n_scan_steps - 1) / 2) * c.scan_step_arcsec

    # -- truth ----------------------------------------------------------------------------------
    def stokes_at_step(self, step: int, *, distorted: bool = False) -> np.ndarray:
        """Stokes (4, slit, wavelength) at a scan step, counts / ms before gain and modulation."""
        ny, nx = self.config.shape
        x = np.arange(nx, dtype=float)[None, :]
        if distorted:
            x = x - self.spectral_shifts[:, None]
        x = np.broadcast_to(x, (ny, nx))
        return self.line.stokes(
            x,
            self.continuum[:, step],
            self.doppler[:, step],
            self.b_los[:, step],
            self.b_trans[:, step],
            self.azimuth[:, step],
        )

    @property
    def gain(self) -> np.ndarray:
        """The flat science frames are divided by: pixel response x solar slit illumination."""
        g = self.pixel_response * self.solar_illumination[:, None]
        return g / g.mean()

    @property
    def lamp_gain(self) -> np.ndarray:
        g = self.pixel_response * self.lamp_illumination[:, None]
        return g / g.mean()

    @property
    def intensity_scale(self) -> float:
        """Counts/ms of calibrated, demodulated I per unit scene intensity (see module docs)."""
        g = self.pixel_response * self.solar_illumination[:, None]
        return float(g.mean() * self.effective_modulation_matrix[:, 0].mean())

    def truth(self, *, include_stokes: bool = True) -> SimulationTruth:
        c = self.config
        arrays = {
            "darks": np.stack([self.detector.dark(t) for t in c.exposure_times_ms]),
            "bias": self.detector.bias,
            "dark_current": self.detector.dark_current,
            "pixel_response": self.pixel_response,
            "solar_illumination": self.solar_illumination,
            "lamp_illumination": self.lamp_illumination,
            "gain": self.gain,
            "lamp_gain": self.lamp_gain,
            "spectral_shifts": self.spectral_shifts,
            "modulation_matrix": self.modulation_matrix,
            "demodulation_matrix": np.linalg.pinv(self.modulation_matrix),
            "effective_modulation_matrix": self.effective_modulation_matrix,
            "step_telescope_mueller": self.step_telescope,
            "step_geometry": np.array([c.step_geometry(k) for k in range(c.n_scan_steps)]),
            "polcal_input_stokes": self.polcal_input_stokes,
            "continuum": self.continuum,
            "doppler": self.doppler,
            "b_los": self.b_los,
            "b_trans": self.b_trans,
            "azimuth": self.azimuth,
            "mean_solar_spectrum": self.mean_solar_spectrum,
            "wavelengths_nm": self.wavelengths_nm,
            "slit_hplt_arcsec": self.slit_hplt,
            "step_hpln_arcsec": self.step_hpln,
        }
        if include_stokes:
            arrays["stokes"] = np.stack(
                [self.stokes_at_step(k) for k in range(c.n_scan_steps)], axis=1
            ).astype(np.float32)  # (4, step, slit, wavelength)
        values = {
            "instrument": "visp",
            "size": list(c.shape),
            "n_scan_steps": c.n_scan_steps,
            "n_modulator_states": c.n_modulator_states,
            "seed": c.seed,
            "dark_exposure_times_ms": c.exposure_times_ms,
            "lamp_exposure_ms": c.lamp_exposure_ms,
            "solar_exposure_ms": c.solar_exposure_ms,
            "polcal_exposure_ms": c.polcal_exposure_ms,
            "observe_exposure_ms": c.observe_exposure_ms,
            "read_noise": self.detector.read_noise,
            "intensity_scale": self.intensity_scale,
            "lamp_counts_per_ms": c.lamp_counts_per_ms,
            "continuum_counts_per_ms": c.continuum_counts_per_ms,
            "polcal_retardance_deg": c.polcal_retardance_deg,
            "polcal_polarizer_transmission": c.polcal_polarizer_transmission,
            "polcal_retarder_transmission": c.polcal_retarder_transmission,
            "telescope": dataclasses.asdict(c.telescope),
            "polcal_geometries": [list(g) for g in c.polcal_geometries],
            "polcal_sequence": [
                {
                    **dataclasses.asdict(s),
                    "elevation_deg": g[0],
                    "azimuth_deg": g[1],
                    "table_angle_deg": g[2],
                }
                for s, g in c.polcal_states
            ],
            "lamp_modulation_response": float(
                np.mean(self.effective_modulation_matrix @ self.lamp_stokes)
            ),
            "modulator_retardance_deg": c.modulator_retardance_deg,
            "line": dataclasses.asdict(self.line),
            "reference_row": c.shape[0] // 2,
            "noise": c.noise,
            "pointing": {
                "hpln_arcsec": c.hpln_arcsec,
                "hplt_arcsec": c.hplt_arcsec,
                "slit_pixel_arcsec": c.slit_pixel_arcsec,
                "scan_step_arcsec": c.scan_step_arcsec,
            },
            "ao_lock_min_r0_m": AO_LOCK_MIN_R0_M,
            "conventions": (
                "frames are (slit row, wavelength column); stokes truth is (4, scan step, slit, "
                "wavelength) in counts/ms at unit gain and throughput, in the Sun's frame "
                "(step_telescope_mueller maps it into the coude lab); calibrated I = "
                "observe_exposure_ms * intensity_scale * stokes I; spectral_shifts[y] is the "
                "detector column offset of row y's spectrum relative to the reference row"
            ),
        }
        return SimulationTruth(arrays, values)


@dataclass
class _Plan:
    """One frame to produce, before its pixels and header exist."""

    op: str  # dark, gain, polcal, observe
    task_type: str
    ip_index: int
    exposure_ms: float
    modulator_state: int  # 1-based
    scan_step: int | None = None
    cal_state: int | None = None
    repeat: int = 0


def _plan(c: VispConfig) -> list[_Plan]:
    plans: list[_Plan] = []
    n = c.n_modulator_states
    for ip, t in enumerate(c.exposure_times_ms):
        plans += [
            _Plan("dark", "DARK", ip, t, i % n + 1, repeat=i // n) for i in range(c.n_dark_frames)
        ]
    for r in range(c.n_lamp_gain_repeats):
        plans += [
            _Plan("gain", "LAMP_GAIN", 0, c.lamp_exposure_ms, m + 1, repeat=r) for m in range(n)
        ]
    for r in range(c.n_solar_gain_repeats):
        plans += [
            _Plan("gain", "SOLAR_GAIN", 1, c.solar_exposure_ms, m + 1, repeat=r) for m in range(n)
        ]
    for k in range(len(c.polcal_states)):
        for r in range(c.n_polcal_repeats):
            plans += [
                _Plan("polcal", "POLCAL", 0, c.polcal_exposure_ms, m + 1, cal_state=k, repeat=r)
                for m in range(n)
            ]
    for step in range(c.n_scan_steps):
        plans += [
            _Plan("observe", "OBSERVE", 0, c.observe_exposure_ms, m + 1, scan_step=step)
            for m in range(n)
        ]
    return plans


def visp_run_ids(seed: int) -> dict[str, str]:
    """OP run ids (ID___008) for the four OP runs of a simulated ViSP observation."""
    base = f"eid_{seed}"
    return {op: f"{base}_visp_{op}_op" for op in ("dark", "gain", "polcal", "observe")}


def iter_visp_frames(
    config: VispConfig | None = None, model: VispModel | None = None
) -> Iterator[SimulatedFrame]:
    """Produce the frames of a ViSP observation one at a time (nothing is held between frames
    except one scan step's Stokes spectrum)."""
    c = config or (model.config if model else VispConfig())
    model = model or VispModel(c)
    ny, nx = c.shape
    rng = np.random.default_rng(c.seed + 1000)
    plans = _plan(c)
    r0 = fried_parameter_series(len(plans), c.seed + 31)
    op_ids = visp_run_ids(c.seed)
    proposal, experiment = f"pid_{c.seed}_visp", f"eid_{c.seed}"
    templates: dict[tuple[str, int, str], RawFrameTemplate] = {}
    time = c.start_time
    previous_op = None
    cached_step: tuple[int, np.ndarray] | None = None
    o = model.effective_modulation_matrix
    for index, p in enumerate(plans):
        if previous_op is not None and p.op != previous_op:
            time += datetime.timedelta(minutes=2)  # OP changeover
        previous_op = p.op
        time += datetime.timedelta(seconds=c.frame_cadence_s)
        m = p.modulator_state - 1
        t = p.exposure_ms
        # expected light signal (counts)
        if p.task_type == "DARK":
            signal = np.zeros(c.shape)
        elif p.task_type == "LAMP_GAIN":
            lamp = t * c.lamp_counts_per_ms * (o[m] @ model.lamp_stokes)
            signal = lamp * model.pixel_response * model.lamp_illumination[:, None]
        else:
            x = np.arange(nx)[None, :] - model.spectral_shifts[:, None]
            if p.task_type == "SOLAR_GAIN":
                spectrum = (
                    c.continuum_counts_per_ms * model.line.profile(x) * (o[m] @ model.sun_stokes)
                )
            elif p.task_type == "POLCAL":
                s_k = model.polcal_input_stokes[:, p.cal_state]
                spectrum = c.continuum_counts_per_ms * model.line.profile(x) * (o[m] @ s_k)
            else:
                if cached_step is None or cached_step[0] != p.scan_step:
                    cached_step = (p.scan_step, model.stokes_at_step(p.scan_step, distorted=True))
                row = o[m] @ model.step_telescope[p.scan_step]
                spectrum = np.tensordot(row, cached_step[1], axes=1)
            signal = t * model.pixel_response * model.solar_illumination[:, None] * spectrum
        data = expose(signal, model.detector, t, rng, c.noise)

        ip_key = (p.op, p.ip_index, p.task_type)
        if ip_key not in templates:
            templates[ip_key] = RawFrameTemplate(
                template_header("visp", c.shape, c.seed * 1000 + len(templates))
            )
        ip_run_id = f"{op_ids[p.op]}_ip{p.ip_index}"
        step = p.scan_step if p.scan_step is not None else 0
        cal, geometry = (
            c.polcal_states[p.cal_state] if p.cal_state is not None else (None, model.gain_geometry)
        )
        if p.scan_step is not None:
            geometry = c.step_geometry(p.scan_step)
        polarizer = cal.polarizer_angle_deg if cal is not None else None
        retarder = cal.retarder_angle_deg if cal is not None else None
        # Headers give the GOS angles in DKIST's header frame.
        header_polarizer, header_retarder = header_angles_from_model(polarizer, retarder)
        light = p.task_type in ("SOLAR_GAIN", "POLCAL", "OBSERVE")
        lock = bool(p.task_type in ("SOLAR_GAIN", "OBSERVE") and r0[index] >= AO_LOCK_MIN_R0_M)
        polarimeter_mode = {
            "DARK": "dark_polarimetric",
            "LAMP_GAIN": "gain_polarimetric",
            "SOLAR_GAIN": "gain_polarimetric",
            "POLCAL": "polcal",
            "OBSERVE": "observe_polarimetric",
        }[p.task_type]
        date_obs = isot(time)
        name = f"VISP_{p.task_type}_{index:06d}.fits"
        keys = {
            "DATE-OBS": date_obs,
            "DATE": date_obs,
            "INSTRUME": "VISP",
            "WAVELNTH": c.line_wavelength_nm,
            kw.IP_TASK: p.op,
            kw.OP_TASK: p.op,
            kw.OP_RUN_ID: op_ids[p.op],
            kw.OP_ID: f"op_visp_{p.op}",
            kw.IP_RUN_ID: ip_run_id,
            kw.IP_ID: f"ip_visp_{p.task_type.lower()}",
            kw.PROPOSAL_ID: proposal,
            kw.EXPERIMENT_ID: experiment,
            kw.FILE_ID: f"{ip_run_id}_{index:06d}",
            kw.EXPOSURE_TIME_MS: t,
            kw.CAMERA_EXPOSURE_TIME_MS: t,
            "CAM__006": 1000.0 / c.frame_cadence_s / 1000.0,
            "DKIST010": float(signal.mean()) if light or p.task_type == "LAMP_GAIN" else 0.0,
            kw.GOS_UPPER_SHUTTER: "closed" if p.task_type == "DARK" else "open",
            kw.GOS_LAMP_LEVEL: "lamp" if p.task_type == "LAMP_GAIN" else "clear",
            kw.GOS_LAMP_STATUS: "on" if p.task_type == "LAMP_GAIN" else "off",
            kw.GOS_POLARIZER: kw.POLARIZER_NAME if polarizer is not None else "clear",
            kw.GOS_POLARIZER_ANGLE: f"{header_polarizer or 0.0:.1f}",
            kw.GOS_RETARDER: kw.RETARDER_NAME if retarder is not None else "clear",
            kw.GOS_RETARDER_ANGLE: f"{header_retarder or 0.0:.1f}",
            kw.GOS_APERTURE: "DarkShutter" if p.task_type == "DARK" else "FieldStop (5arcmin)",
            kw.TELESCOPE_ELEVATION: geometry[0],
            kw.TELESCOPE_AZIMUTH: geometry[1],
            kw.COUDE_TABLE_ANGLE: geometry[2],
            kw.FRIED_PARAMETER_M: float(r0[index]),
            kw.AO_LOCK: lock,
            "VISP_001": 1,
            "VISP_004": c.filter_id,
            "VISP_005": c.filter_wavelength_nm,
            kw.VISP_POLARIMETER_MODE: polarimeter_mode,
            "VISP_008": "discrete",
            kw.VISP_NUMBER_OF_STATES: c.n_modulator_states,
            kw.VISP_CURRENT_STATE: p.modulator_state,
            kw.VISP_NUMBER_OF_STEPS: c.n_scan_steps if p.task_type == "OBSERVE" else 1,
            kw.VISP_CURRENT_STEP: step,
            "DKIST008": c.n_polcal_repeats if p.task_type == "POLCAL" else 1,
            "DKIST009": p.repeat + 1,
            "DKIST011": isot(c.start_time),
        }
        keys.update(
            wcs_keys(
                ctype=("AWAV", "HPLT-TAN", "HPLN-TAN"),
                cunit=("nm", "arcsec", "arcsec"),
                crpix=((nx + 1) / 2, (ny + 1) / 2, 1.0),
                crval=(
                    c.line_wavelength_nm,
                    c.hplt_arcsec,
                    float(model.step_hpln[step]),
                ),
                cdelt=(c.dispersion_nm, c.slit_pixel_arcsec, c.scan_step_arcsec),
            )
        )
        record = FrameRecord(
            path=f"raw/{op_ids[p.op]}/{name}",
            op_run_id=op_ids[p.op],
            ip_run_id=ip_run_id,
            task_type=p.task_type,
            exposure_time_ms=t,
            date_obs=date_obs,
            wavelength_nm=c.line_wavelength_nm,
            r0_m=float(r0[index]),
            ao_lock=lock,
            modulator_state=p.modulator_state,
            spatial_step=p.scan_step,
            cal_unit_state=p.cal_state,
            polarizer_angle_deg=polarizer,
            retarder_angle_deg=retarder,
            repeat=p.repeat,
        )
        yield SimulatedFrame(record=record, template=templates[ip_key], keys=keys, data=data)


def simulate_visp(
    outdir: Path | str,
    *,
    seed: int = 0,
    size: tuple[int, int] = (64, 128),
    n_scan_steps: int = 8,
    n_modulator_states: int = 10,
    include_stokes_truth: bool = True,
    **config_overrides,
) -> SimulatedObservation:
    """Simulate a ViSP observation into ``outdir`` and return it with its truth.

    ``size`` is (slit pixels, wavelength pixels); raise it to (2560, 1000) for real-size frames.
    Other :class:`VispConfig` fields can be given as keywords. The truth, the frame records and the
    transfer manifest are written beside the frames (see :mod:`.observation`).
    """
    config = VispConfig(
        size=tuple(size),
        n_scan_steps=n_scan_steps,
        n_modulator_states=n_modulator_states,
        seed=seed,
        **config_overrides,
    )
    root = Path(outdir)
    model = VispModel(config)
    records = list(write_frames(root, iter_visp_frames(config, model)))
    truth = model.truth(include_stokes=include_stokes_truth)
    truth.save(root / TRUTH_DIR)
    op_ids = visp_run_ids(seed)
    observation = SimulatedObservation(
        instrument="visp",
        root=root,
        frames=records,
        op_runs={v: k for k, v in op_ids.items()},
        truth=truth,
        proposal_id=f"pid_{seed}_visp",
        experiment_id=f"eid_{seed}",
    )
    observation.save_manifest()
    return observation


def read_frame(path: Path | str) -> tuple[fits.Header, np.ndarray]:
    """Header and (rows, columns) float data of a raw frame written by the simulator."""
    with fits.open(path) as hdul:
        return hdul[0].header.copy(), np.asarray(hdul[0].data[0], dtype=np.float64)
