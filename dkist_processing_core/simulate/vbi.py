"""An imager modelled on VBI: darks, gains and a mosaic of spatial tiles at several wavelengths.

Expected light signal of a frame at wavelength ``w`` in tile ``(i, j)``::

    signal(y, x) = t_w * G(y, x) * F_w(y, x) * I_w(y0_ij + y, x0_ij + x)

with ``G`` the detector pixel response, ``F_w`` the smooth illumination through filter ``w`` and
``I_w`` the solar scene (counts / ms). Gain frames see a uniform field (``I_w`` = its mean). No
polarimetry. OP runs: dark (one IP run per exposure time), gain (one IP run per wavelength),
observe (one IP run per wavelength).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dkist_processing_core.calibration import keywords as kw
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
from dkist_processing_core.simulate.scene import RandomWaveField
from dkist_processing_core.simulate.visp import AO_LOCK_MIN_R0_M

# FWHM (nm) of VBI's interference filters by central wavelength (VBI__001 in SPEC-0122).
VBI_FILTER_FWHM_NM = {
    393.327: 0.1, 430.52: 0.44, 450.287: 0.4, 486.139: 0.05, 656.282: 0.05, 668.4: 0.44,
    705.8: 0.3, 789.2: 0.4,
}  # fmt: skip


@dataclass
class VbiConfig:
    """Everything that defines a simulated VBI observation. Units: ms, nm, arcsec, counts."""

    size: tuple[int, int] = (64, 64)  # one tile (rows, columns); 4096 x 4096 for real size
    mosaic: tuple[int, int] = (2, 2)  # tiles (rows, columns)
    overlap_px: int | None = None  # default size // 8
    wavelengths_nm: tuple[float, ...] = (393.327, 430.52, 450.287)
    exposure_ms: tuple[float, ...] = (8.0, 2.0, 2.0)
    counts_per_ms: tuple[float, ...] = (1500.0, 6000.0, 6000.0)
    granulation_contrast: tuple[float, ...] = (0.12, 0.18, 0.10)
    granule_scale_px: float = 12.0
    n_dark_frames: int = 20  # per exposure time
    n_gain_frames: int = 20  # per wavelength
    n_frames_per_tile: int = 2
    seed: int = 0
    start_time: datetime.datetime = datetime.datetime(2024, 5, 2, 17, 0, 0)
    frame_cadence_s: float = 0.033
    noise: str = "poisson"
    hpln_arcsec: float = 120.0
    hplt_arcsec: float = -340.0
    pixel_arcsec: float = 0.011

    def __post_init__(self):
        n = len(self.wavelengths_nm)
        for name in ("exposure_ms", "counts_per_ms", "granulation_contrast"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} needs one value per wavelength ({n})")

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.size[0]), int(self.size[1]))

    @property
    def overlap(self) -> int:
        return self.shape[0] // 8 if self.overlap_px is None else int(self.overlap_px)

    @property
    def tile_origins(self) -> list[tuple[int, int]]:
        """Scene pixel of each tile's first pixel, in the (row-major) mosaic step order."""
        ny, nx = self.shape
        step_y, step_x = ny - self.overlap, nx - self.overlap
        rows, columns = range(self.mosaic[0]), range(self.mosaic[1])
        return [(i * step_y, j * step_x) for i in rows for j in columns]

    @property
    def scene_shape(self) -> tuple[int, int]:
        ny, nx = self.shape
        return (
            ny + (self.mosaic[0] - 1) * (ny - self.overlap),
            nx + (self.mosaic[1] - 1) * (nx - self.overlap),
        )

    @property
    def exposure_times_ms(self) -> list[float]:
        return sorted(set(self.exposure_ms))


class VbiModel:
    """Truth of a VBI simulation and the expected signal of each frame."""

    def __init__(self, config: VbiConfig):
        self.config = c = config
        self.detector = DetectorTruth.create(c.shape, c.seed + 11)
        self.pixel_response = pixel_response(c.shape, c.seed + 12)
        ny, nx = c.shape
        self.filter_illumination = [
            1
            + 0.03
            * RandomWaveField.create(c.seed + 40 + w, max(ny, nx) / 2).evaluate(
                np.arange(ny), np.arange(nx)
            )
            for w in range(len(c.wavelengths_nm))
        ]
        self.field = RandomWaveField.create(c.seed + 21, c.granule_scale_px)

    def scene(self, w: int, origin=(0, 0), shape=None) -> np.ndarray:
        """Scene intensity (counts/ms) at wavelength index ``w`` over a window of the mosaic."""
        c = self.config
        shape = shape or c.scene_shape
        y = origin[0] + np.arange(shape[0])
        x = origin[1] + np.arange(shape[1])
        return c.counts_per_ms[w] * (1 + c.granulation_contrast[w] * self.field.evaluate(y, x))

    def gain(self, w: int) -> np.ndarray:
        g = self.pixel_response * self.filter_illumination[w]
        return g / g.mean()

    def intensity_scale(self, w: int) -> float:
        """(raw - dark) / gain = exposure time * intensity_scale * scene."""
        return float((self.pixel_response * self.filter_illumination[w]).mean())

    def truth(self, *, include_scene: bool = True) -> SimulationTruth:
        c = self.config
        n_w = len(c.wavelengths_nm)
        sy, sx = c.scene_shape
        arrays = {
            "darks": np.stack([self.detector.dark(t) for t in c.exposure_times_ms]),
            "bias": self.detector.bias,
            "dark_current": self.detector.dark_current,
            "pixel_response": self.pixel_response,
            "gain": np.stack([self.gain(w) for w in range(n_w)]),
            "tile_origins": np.array(c.tile_origins),
            "scene_hpln_arcsec": c.hpln_arcsec + (np.arange(sx) - (sx - 1) / 2) * c.pixel_arcsec,
            "scene_hplt_arcsec": c.hplt_arcsec + (np.arange(sy) - (sy - 1) / 2) * c.pixel_arcsec,
        }
        if include_scene:
            arrays["scene"] = np.stack([self.scene(w) for w in range(n_w)]).astype(np.float32)
        values = {
            "instrument": "vbi",
            "size": list(c.shape),
            "mosaic": list(c.mosaic),
            "overlap_px": c.overlap,
            "wavelengths_nm": list(c.wavelengths_nm),
            "exposure_ms": list(c.exposure_ms),
            "counts_per_ms": list(c.counts_per_ms),
            "dark_exposure_times_ms": c.exposure_times_ms,
            "intensity_scale": [self.intensity_scale(w) for w in range(n_w)],
            "read_noise": self.detector.read_noise,
            "seed": c.seed,
            "noise": c.noise,
            "pointing": {
                "hpln_arcsec": c.hpln_arcsec,
                "hplt_arcsec": c.hplt_arcsec,
                "pixel_arcsec": c.pixel_arcsec,
            },
            "ao_lock_min_r0_m": AO_LOCK_MIN_R0_M,
            "conventions": (
                "frames are (rows, columns) = (HPLT, HPLN); scene truth is (wavelength, rows, "
                "columns) over the whole mosaic in counts/ms; tile k covers scene[origin_k : "
                "origin_k + size]; calibrated tile = exposure_ms[w] * intensity_scale[w] * scene"
            ),
        }
        return SimulationTruth(arrays, values)


PER_FILTER_FIELDS = ("wavelengths_nm", "exposure_ms", "counts_per_ms", "granulation_contrast")


def single_filter(index: int, config: VbiConfig | None = None) -> dict[str, tuple[float]]:
    """Configuration overrides that keep filter ``index`` of ``config`` (default: VbiConfig()).

    A DKIST dataset is one instrument at one pass band, so a VBI observation that a recipe
    run turns into one dataset is of one filter: ``simulate_vbi(root, **single_filter(1))``.
    """
    c = config or VbiConfig()
    n = len(c.wavelengths_nm)
    if not 0 <= index < n:
        raise ValueError(f"filter index {index} is outside the {n} filters {c.wavelengths_nm}")
    return {name: (getattr(c, name)[index],) for name in PER_FILTER_FIELDS}


def vbi_run_ids(seed: int) -> dict[str, str]:
    """OP run ids (ID___008) for the three OP runs of a simulated VBI observation."""
    return {op: f"eid_{seed}_vbi_{op}_op" for op in ("dark", "gain", "observe")}


def iter_vbi_frames(
    config: VbiConfig | None = None, model: VbiModel | None = None
) -> Iterator[SimulatedFrame]:
    """Produce the frames of a VBI observation one at a time (one tile's scene at a time)."""
    c = config or (model.config if model else VbiConfig())
    model = model or VbiModel(c)
    ny, nx = c.shape
    n_w = len(c.wavelengths_nm)
    n_tiles = c.mosaic[0] * c.mosaic[1]
    plans: list[tuple[str, str, int, float, int, int | None, int]] = []
    for ip, t in enumerate(c.exposure_times_ms):
        plans += [("dark", "DARK", ip, t, -1, None, r) for r in range(c.n_dark_frames)]
    for w in range(n_w):
        plans += [
            ("gain", "SOLAR_GAIN", w, c.exposure_ms[w], w, None, r) for r in range(c.n_gain_frames)
        ]
    for w in range(n_w):
        for tile in range(n_tiles):
            plans += [
                ("observe", "OBSERVE", w, c.exposure_ms[w], w, tile, r)
                for r in range(c.n_frames_per_tile)
            ]
    rng = np.random.default_rng(c.seed + 1000)
    r0 = fried_parameter_series(len(plans), c.seed + 31)
    op_ids = vbi_run_ids(c.seed)
    proposal, experiment = f"pid_{c.seed}_vbi", f"eid_{c.seed}"
    templates: dict[tuple[str, int], RawFrameTemplate] = {}
    pattern = ", ".join(str(i + 1) for i in range(n_tiles))
    time = c.start_time
    previous_op = None
    cached: tuple[tuple[int, int], np.ndarray] | None = None
    origins = c.tile_origins
    sy, sx = c.scene_shape
    for index, (op, task, ip, t, w, tile, repeat) in enumerate(plans):
        if previous_op is not None and op != previous_op:
            time += datetime.timedelta(minutes=2)
        previous_op = op
        time += datetime.timedelta(seconds=c.frame_cadence_s)
        if task == "DARK":
            signal = np.zeros(c.shape)
            wavelength = c.wavelengths_nm[0]
        else:
            wavelength = c.wavelengths_nm[w]
            if task == "SOLAR_GAIN":
                scene = c.counts_per_ms[w]
            else:
                if cached is None or cached[0] != (w, tile):
                    cached = ((w, tile), model.scene(w, origins[tile], c.shape))
                scene = cached[1]
            signal = t * model.pixel_response * model.filter_illumination[w] * scene
        data = expose(signal, model.detector, t, rng, c.noise)
        if (op, ip) not in templates:
            templates[(op, ip)] = RawFrameTemplate(
                template_header("vbi", c.shape, c.seed * 1000 + 500 + len(templates))
            )
        ip_run_id = f"{op_ids[op]}_ip{ip}"
        lock = bool(task == "OBSERVE" and r0[index] >= AO_LOCK_MIN_R0_M)
        origin = (
            origins[tile]
            if tile is not None
            else (
                (sy - ny) // 2,
                (sx - nx) // 2,
            )
        )
        # tile centre relative to the mosaic centre, in pixels, then arcsec
        dx = origin[1] + (nx - 1) / 2 - (sx - 1) / 2
        dy = origin[0] + (ny - 1) / 2 - (sy - 1) / 2
        tile_center_hpln = c.hpln_arcsec + dx * c.pixel_arcsec
        tile_center_hplt = c.hplt_arcsec + dy * c.pixel_arcsec
        date_obs = isot(time)
        keys = {
            "DATE-OBS": date_obs,
            "DATE": date_obs,
            "INSTRUME": "VBI",
            "WAVELNTH": wavelength,
            kw.IP_TASK: op,
            kw.OP_TASK: op,
            kw.OP_RUN_ID: op_ids[op],
            kw.OP_ID: f"op_vbi_{op}",
            kw.IP_RUN_ID: ip_run_id,
            kw.IP_ID: f"ip_vbi_{task.lower()}",
            kw.PROPOSAL_ID: proposal,
            kw.EXPERIMENT_ID: experiment,
            kw.FILE_ID: f"{ip_run_id}_{index:06d}",
            kw.EXPOSURE_TIME_MS: t,
            kw.CAMERA_EXPOSURE_TIME_MS: t,
            "DKIST010": float(signal.mean()),
            "DKIST009": repeat + 1,
            "DKIST011": isot(c.start_time),
            kw.GOS_UPPER_SHUTTER: "closed" if task == "DARK" else "open",
            kw.GOS_LAMP_LEVEL: "clear",
            kw.GOS_LAMP_STATUS: "off",
            kw.GOS_POLARIZER: "clear",
            kw.GOS_POLARIZER_ANGLE: "0.0",
            kw.GOS_RETARDER: "clear",
            kw.GOS_RETARDER_ANGLE: "0.0",
            kw.GOS_APERTURE: "DarkShutter" if task == "DARK" else "FieldStop (2.8arcmin)",
            kw.FRIED_PARAMETER_M: float(r0[index]),
            kw.AO_LOCK: lock,
            kw.VBI_FRIED_PARAMETER_CM: float(r0[index] * 100),
            kw.VBI_FILTER_FWHM_NM: VBI_FILTER_FWHM_NM.get(round(float(wavelength), 3), 0.1),
            kw.VBI_STEP_PATTERN: pattern,
            kw.VBI_NUMBER_OF_STEPS: n_tiles if task == "OBSERVE" else 1,
            kw.VBI_CURRENT_STEP: (tile + 1) if tile is not None else 1,
            "VBI__005": "None",
            "VBI__006": "None",
            "VBI__007": c.n_frames_per_tile if task == "OBSERVE" else 1,
            "VBI__008": repeat + 1,
        }
        keys.update(
            wcs_keys(
                ctype=("HPLN-TAN", "HPLT-TAN", "AWAV"),
                cunit=("arcsec", "arcsec", "nm"),
                crpix=((nx + 1) / 2, (ny + 1) / 2, 1.0),
                crval=(tile_center_hpln, tile_center_hplt, wavelength),
                cdelt=(c.pixel_arcsec, c.pixel_arcsec, 0.1),
            )
        )
        record = FrameRecord(
            path=f"raw/{op_ids[op]}/VBI_{task}_{index:06d}.fits",
            op_run_id=op_ids[op],
            ip_run_id=ip_run_id,
            task_type=task,
            exposure_time_ms=t,
            date_obs=date_obs,
            wavelength_nm=wavelength,
            r0_m=float(r0[index]),
            ao_lock=lock,
            spatial_step=(tile + 1) if tile is not None else None,
            repeat=repeat,
        )
        yield SimulatedFrame(record=record, template=templates[(op, ip)], keys=keys, data=data)


def simulate_vbi(
    outdir: Path | str,
    *,
    seed: int = 0,
    size: tuple[int, int] = (64, 64),
    mosaic: tuple[int, int] = (2, 2),
    include_scene_truth: bool = True,
    **config_overrides,
) -> SimulatedObservation:
    """Simulate a VBI observation into ``outdir`` and return it with its truth.

    ``size`` is one tile (rows, columns); raise it to (4096, 4096) for real-size frames (then
    consider ``include_scene_truth=False`` and ``noise='gaussian'``). Other :class:`VbiConfig`
    fields can be given as keywords.
    """
    config = VbiConfig(size=tuple(size), mosaic=tuple(mosaic), seed=seed, **config_overrides)
    root = Path(outdir)
    model = VbiModel(config)
    records = list(write_frames(root, iter_vbi_frames(config, model)))
    truth = model.truth(include_scene=include_scene_truth)
    truth.save(root / TRUTH_DIR)
    observation = SimulatedObservation(
        instrument="vbi",
        root=root,
        frames=records,
        op_runs={v: k for k, v in vbi_run_ids(seed).items()},
        truth=truth,
        proposal_id=f"pid_{seed}_vbi",
        experiment_id=f"eid_{seed}",
    )
    observation.save_manifest()
    return observation
