"""Self-describing calibration intermediates: what each labelled array file holds.

Intermediates with more structure than an image are written as NetCDF4-conventions HDF5
(:mod:`dkist_processing_core.framework.netcdf`), so ``xarray.open_dataset(path,
engine="h5netcdf")`` opens each with named dimensions, coordinates and units:

- the demodulation matrices of a polcal fit, ``demodulation (bin_y, bin_x, stokes,
  modulator_state)``, with the modulation matrices and their uncertainties, the residual RMS
  and polarimetric efficiency of every bin and the calibration-unit parameters
  (``INTERMEDIATE``, ``TASK_DEMODULATION``);
- the whole polcal fit (``INTERMEDIATE``, ``TASK_POLCAL``): the calibration-unit parameters
  with their nominal values, uncertainties and correlations, the telescope mirror parameters
  used, the polcal sequence (unit angles and telescope geometry per calibration-unit state,
  ``calibration_unit_state``), the Stokes vectors the fitted unit prepared, every bin's
  modulation matrix with its uncertainties, efficiencies, residual RMS and the residual of
  every bin, modulator state and calibration-unit state (up to :data:`RESIDUAL_CUBE_LIMIT`
  values; its mean and RMS over the bins always);
- the spectral shift of every slit row, ``spectral_shift (slit_row)`` in pixels
  (``INTERMEDIATE``, ``TASK_GEOMETRIC``);
- the solar gain's characteristic spectrum, ``characteristic_spectrum (spectral_pixel)``
  (``INTERMEDIATE``, ``TASK_SOLAR_GAIN``);
- the quality metrics' time series: per frame ``fried_parameter``, ``light_level``, ``mean``,
  ``noise`` with coordinates ``time``, ``frame_stokes`` and ``object_key``, and per
  polarimetric measurement the ``polarimetric_noise`` and ``polarimetric_sensitivity`` of Q,
  U, V (``OUTPUT``, ``QUALITY``, ``QUALITY_TIMESERIES``, beside the JSON (``QUALITY_DATA``)
  ``dkist-quality`` reads).

Every file carries provenance attributes: the task, the workflow and its version, the recipe
run, the parameter values the task declares and the input frames it read. Plain images (darks,
gains) stay FITS. The file's ``primary_variable`` attribute names the array a calibration
step reads back (:func:`read_primary`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..framework.netcdf import SUFFIX, Variable, attribute_value, open_labelled, write_labelled

if TYPE_CHECKING:
    from ..framework import Task

#: Conventions attribute of every labelled intermediate.
CONVENTIONS = "CF-1.8"
STOKES = ("I", "Q", "U", "V")
#: Unit of the time coordinates (decoded to datetime64 by xarray).
TIME_UNITS = "seconds since 1970-01-01T00:00:00"


class IntermediateError(ValueError):
    """A labelled intermediate that lacks what its reader expects; the message names the file."""


def provenance(task: Task, input_frames: Iterable[str | Path] = ()) -> dict[str, Any]:
    """The provenance attributes of an intermediate ``task`` writes from ``input_frames``."""
    context = task.context
    values = {}
    for name in task.parameters:  # the names the task declares
        try:
            values[name] = task.parameter(name)
        except LookupError:  # a value the run does not give is simply not recorded
            continue
    return {
        "Conventions": CONVENTIONS,
        "task": task.name,
        "workflow": context.spec.workflow,
        "workflow_version": context.workflow_version,
        "recipe_run_id": int(task.recipe_run_id),
        "parameter_values": values,
        "input_frame_ids": [Path(p).name for p in input_frames],
    }


def write_intermediate(
    task: Task,
    tags: list[str],
    name: str,
    variables: Mapping[str, Variable],
    coords: Mapping[str, Variable],
    *,
    primary: str,
    input_frames: Iterable[str | Path] = (),
    attrs: Mapping[str, Any] = (),
) -> Path:
    """Atomically write a labelled intermediate into ``task``'s scratch, tagged ``tags``."""
    attributes = {**provenance(task, input_frames), **dict(attrs), "primary_variable": primary}
    return task.scratch.write_with(
        lambda f: write_labelled(f, variables, coords, attributes), tags, name, suffix=SUFFIX
    )


def is_labelled(path: str | Path) -> bool:
    return Path(path).suffix == SUFFIX


def read_primary(path: str | Path) -> np.ndarray:
    """The array a calibration step reads back from a labelled intermediate (``primary_variable``)."""
    with open_labelled(path) as ds:
        primary = ds.attrs.get("primary_variable")
        if primary not in ds.data_vars:
            raise IntermediateError(
                f"{path}: attribute primary_variable={primary!r} names no variable of "
                f"{sorted(ds.data_vars)}"
            )
        return np.asarray(ds[primary].values)


def open_intermediate(path: str | Path):
    """A labelled intermediate as an ``xarray.Dataset``; JSON attributes decoded."""
    ds = open_labelled(path)
    ds.attrs = {k: attribute_value(v) for k, v in ds.attrs.items()}
    return ds


# -- what each intermediate holds ---------------------------------------------------------------


def _bin_centres(size: int, n_bins: int) -> np.ndarray:
    edges = np.linspace(0, size, n_bins + 1).round().astype(int)
    return (edges[:-1] + edges[1:] - 1) / 2.0


def demodulation_variables(fit, frame_shape: tuple[int, int]) -> tuple[dict, dict]:
    """Variables and coordinates of a polcal fit's demodulation matrices file."""
    n_bins_y, n_bins_x, _, n_mod = np.shape(fit.demodulation)
    bins = ("bin_y", "bin_x")
    variables = {
        "demodulation": Variable(
            (*bins, "stokes", "modulator_state"),
            np.asarray(fit.demodulation, dtype=np.float32),
            "1",
            "demodulation matrix D = pinv(O) of the bin",
        ),
        "modulation": Variable(
            (*bins, "modulator_state", "stokes"),
            np.asarray(fit.modulation, dtype=np.float32),
            "1",
            "fitted modulation matrix O of the bin, mean intensity response one",
        ),
        "residual_rms": Variable(
            bins,
            np.asarray(fit.residual_rms, dtype=np.float32),
            "1",
            "RMS of the fit residuals relative to the mean intensity",
        ),
        "efficiency": Variable(
            (*bins, "stokes"),
            np.asarray(fit.efficiency, dtype=np.float32),
            "1",
            "polarimetric efficiency 1/sqrt(n_mod sum_m D_im^2)",
        ),
    }
    uncertainty = getattr(fit, "modulation_uncertainty", None)
    if uncertainty is not None:
        variables["modulation_uncertainty"] = Variable(
            (*bins, "modulator_state", "stokes"),
            np.asarray(uncertainty, dtype=np.float32),
            "1",
            "one-sigma uncertainty of each modulation-matrix element",
        )
    units = {"retardance_deg": "degree"}
    for pname, value in getattr(fit, "parameters", {}).items():
        variables[f"calibration_unit_{pname}"] = Variable(
            (),
            float(value),
            units.get(pname, "1"),
            f"calibration unit {pname.replace('_', ' ')}",
            {
                "sigma": float(fit.uncertainties[pname]),
                "fitted": int(pname in fit.fitted),
            },
        )
    coords = {
        "bin_y": Variable(
            ("bin_y",), _bin_centres(frame_shape[0], n_bins_y), "pixel", "bin centre along y"
        ),
        "bin_x": Variable(
            ("bin_x",), _bin_centres(frame_shape[1], n_bins_x), "pixel", "bin centre along x"
        ),
        "stokes": Variable(("stokes",), np.array(STOKES), "", "Stokes parameter"),
        "modulator_state": Variable(
            ("modulator_state",), np.arange(1, n_mod + 1), "", "modulator state (MODSTATE)"
        ),
    }
    return variables, coords


def spectral_shift_variables(shifts: np.ndarray) -> tuple[dict, dict]:
    """Variables and coordinates of the geometric calibration's shifts file."""
    shifts = np.asarray(shifts, dtype=np.float32)
    variables = {
        "spectral_shift": Variable(
            ("slit_row",),
            shifts,
            "pixel",
            "shift of the spectrum along the wavelength axis (slit tilt and curvature)",
        )
    }
    coords = {
        "slit_row": Variable(
            ("slit_row",), np.arange(shifts.shape[0]), "pixel", "detector row along the slit"
        )
    }
    return variables, coords


def characteristic_spectrum_variables(spectrum: np.ndarray) -> tuple[dict, dict]:
    """Variables and coordinates of the solar gain's characteristic spectrum file."""
    spectrum = np.asarray(spectrum, dtype=np.float32)
    variables = {
        "characteristic_spectrum": Variable(
            ("spectral_pixel",),
            spectrum,
            "1",
            "median quiet-Sun spectrum of the slit rows aligned by their spectral shifts, mean one",
        )
    }
    coords = {
        "spectral_pixel": Variable(
            ("spectral_pixel",),
            np.arange(spectrum.shape[0]),
            "pixel",
            "detector column along the wavelength axis",
        )
    }
    return variables, coords


def _seconds(times: list[str]) -> np.ndarray:
    epoch = np.datetime64("1970-01-01T00:00:00", "ns")
    parsed = np.array([np.datetime64(s.rstrip("Z"), "ns") for s in times], dtype="datetime64[ns]")
    return (parsed - epoch) / np.timedelta64(1, "s")


def quality_variables(metrics) -> tuple[dict, dict]:
    """Variables and coordinates of the quality metrics' time series (per frame, per measurement)."""

    def col(rows, get):
        return np.array([np.nan if get(r) is None else get(r) for r in rows], dtype=np.float64)

    frames = sorted(metrics.frames, key=lambda f: (f.time, f.stokes))
    variables = {
        "fried_parameter": Variable(
            ("frame",),
            col(frames, lambda f: f.fried_parameter_m if f.ao_locked is not False else None),
            "m",
            "Fried parameter r0 where the adaptive optics were locked (ATMOS_R0)",
        ),
        "light_level": Variable(
            ("frame",), col(frames, lambda f: f.light_level), "adu", "light level (LIGHTLVL)"
        ),
        "mean": Variable(("frame",), col(frames, lambda f: f.mean), "adu", "frame mean"),
        "noise": Variable(
            ("frame",), col(frames, lambda f: f.noise), "adu", "noise from second differences"
        ),
    }
    coords = {
        "time": Variable(("frame",), _seconds([f.time for f in frames]), TIME_UNITS, "frame time"),
        "frame_stokes": Variable(("frame",), [f.stokes for f in frames], "", "Stokes parameter"),
        "object_key": Variable(("frame",), [f.object_key for f in frames], "", "L1 file name"),
    }
    polarimetric = sorted(metrics.polarimetric, key=lambda p: p.time)
    if polarimetric:
        qu_v = ("Q", "U", "V")
        variables["polarimetric_noise"] = Variable(
            ("measurement", "polarization"),
            np.array([[p.noise[x] for x in qu_v] for p in polarimetric]),
            "1",
            "polarimetric noise sigma_X / <I>",
        )
        variables["polarimetric_sensitivity"] = Variable(
            ("measurement", "polarization"),
            np.array([[p.sensitivity[x] for x in qu_v] for p in polarimetric]),
            "1",
            "polarimetric sensitivity sigma_X / max(I)",
        )
        variables["mean_intensity"] = Variable(
            ("measurement",),
            col(polarimetric, lambda p: p.mean_intensity),
            "adu",
            "mean Stokes I of the measurement",
        )
        coords["measurement_time"] = Variable(
            ("measurement",),
            _seconds([p.time for p in polarimetric]),
            TIME_UNITS,
            "time of the measurement",
        )
        coords["polarization"] = Variable(("polarization",), np.array(qu_v), "", "Stokes parameter")
    return variables, coords


#: The calibration-unit parameters of a polcal fit: unit and what each is.
UNIT_PARAMETERS = {
    "retardance_deg": ("degree", "retardance of the calibration unit's retarder"),
    "polarizer_transmission": ("1", "transmission of the calibration unit's polarizer"),
    "retarder_transmission": ("1", "transmission of the calibration unit's retarder"),
}
#: The largest residual cube (bins x modulator states x calibration-unit states) the polcal fit
#: file holds whole (16 MB as float32): the workflow's grids are far below it, a grid of one
#: bin per few pixels is not (its reductions over the bins are always written).
RESIDUAL_CUBE_LIMIT = 1 << 22
#: The telescope's mirror groups in the polcal model, and their keys in the mirror parameters.
MIRROR_GROUPS = {"M1-M2": "12", "M3-M4": "34", "M5-M6": "56"}


def polcal_fit_variables(
    fit,
    states,
    mirrors: Mapping[str, float],
    nominal: Mapping[str, float],
    frame_shape: tuple[int, int],
) -> tuple[dict, dict, dict]:
    """Variables, coordinates and attributes of the polcal fit file (the fit's whole record).

    ``fit`` is a :class:`~.polcal.algorithm.PolcalFit`, ``states`` the sequence's
    :class:`~.polcal.model.PolcalStates` (unit angles in the model's frame), ``mirrors`` the
    telescope parameters used (``x12`` ... ``t56``, ``r23_offset_deg``, ``r45_offset_deg``).
    """
    variables, coords = demodulation_variables(fit, frame_shape)
    del variables["demodulation"]  # the calibration product, in its own file
    for name, value in fit.parameters.items():
        units, what = UNIT_PARAMETERS.get(name, ("1", name.replace("_", " ")))
        is_fitted = name in fit.fitted
        variables[f"calibration_unit_{name}"] = Variable(
            (),
            float(value),
            units,
            f"{what}, {'fitted' if is_fitted else 'held at its nominal value'}",
            {
                "nominal": float(nominal[name]),
                "fitted": int(is_fitted),
                "sigma": float(fit.uncertainties[name]),
                "ancillary_variables": f"calibration_unit_{name}_uncertainty",
            },
        )
        variables[f"calibration_unit_{name}_uncertainty"] = Variable(
            (),
            float(fit.uncertainties[name]),
            units,
            f"one-sigma uncertainty of the {what} (0 when held)",
            {"standard_name_modifier": "standard_error"},
        )
    fitted = list(fit.fitted)
    if fitted:
        variables["correlation"] = Variable(
            ("parameter_row", "parameter_column"),
            np.asarray(fit.correlation, dtype=np.float64),
            "1",
            "correlation of the fitted calibration-unit parameters",
        )
        coords["parameter_row"] = Variable(("parameter_row",), fitted, "", "fitted parameter")
        coords["parameter_column"] = Variable(("parameter_column",), fitted, "", "fitted parameter")
    variables["residual_sigma"] = Variable(
        (), float(fit.residual_sigma), "1", "RMS of the relative residuals over all bins"
    )
    k = len(states)
    coords["calibration_unit_state"] = Variable(
        ("calibration_unit_state",),
        np.arange(k),
        "",
        "calibration-unit state of the polcal sequence (tag CS_STEP_<k>)",
    )
    per_state = ("calibration_unit_state",)
    for name, long_name in (
        ("polarizer_angle", "polarizer axis from +Q in the model's frame, 0-180 (NaN: out)"),
        ("retarder_angle", "retarder fast axis from +Q in the model's frame, 0-180 (NaN: out)"),
        ("elevation", "telescope elevation (TELEVATN)"),
        ("azimuth", "telescope azimuth (TAZIMUTH)"),
        ("table_angle", "coude table angle (TTBLANGL)"),
    ):
        values = np.asarray(getattr(states, f"{name}_deg"), dtype=np.float64)
        if name in ("polarizer_angle", "retarder_angle"):
            values = np.mod(values, 180.0)  # a linear polarizer or retarder repeats every 180
        variables[name] = Variable(per_state, values, "degree", long_name)
    if fit.input_stokes is not None:
        variables["input_stokes"] = Variable(
            ("stokes", "calibration_unit_state"),
            np.asarray(fit.input_stokes, dtype=np.float64),
            "1",
            "Stokes vector entering the coude lab in each state, from the fitted unit",
        )
    omitted = None
    if fit.residual is not None:
        residual = np.asarray(fit.residual, dtype=np.float32)  # (bin_y, bin_x, n_mod, K)
        n_bins = residual.shape[0] * residual.shape[1]
        by_state = ("modulator_state", "calibration_unit_state")
        variables["residual_mean"] = Variable(
            by_state,
            residual.sum(axis=(0, 1), dtype=np.float64) / n_bins,
            "1",
            "fit residual averaged over the bins (what the model misses in every bin)",
        )
        variables["residual_state_rms"] = Variable(
            by_state,
            np.sqrt(np.einsum("yxmk,yxmk->mk", residual, residual, dtype=np.float64) / n_bins),
            "1",
            "RMS of the fit residual over the bins",
        )
        if residual.size <= RESIDUAL_CUBE_LIMIT:
            variables["residual"] = Variable(
                ("bin_y", "bin_x", "modulator_state", "calibration_unit_state"),
                residual,
                "1",
                "fit residual d - O S relative to the bin's mean intensity",
            )
        else:
            omitted = (
                f"residual (bin_y, bin_x, modulator_state, calibration_unit_state) omitted: "
                f"{residual.size} values, more than {RESIDUAL_CUBE_LIMIT}; residual_mean, "
                "residual_state_rms and residual_rms reduce it"
            )
    coords["mirror_group"] = Variable(
        ("mirror_group",), list(MIRROR_GROUPS), "", "telescope mirror group"
    )
    variables["mirror_amplitude_ratio"] = Variable(
        ("mirror_group",),
        np.array([float(mirrors[f"x{g}"]) for g in MIRROR_GROUPS.values()]),
        "1",
        "ratio x of the s and p amplitude reflectivities of the mirror group (held fixed)",
    )
    variables["mirror_retardance"] = Variable(
        ("mirror_group",),
        np.array([float(mirrors[f"t{g}"]) for g in MIRROR_GROUPS.values()]),
        "degree",
        "retardance t of the mirror group (held fixed)",
    )
    for key, where in (("r23_offset_deg", "M2 and M3"), ("r45_offset_deg", "the elevation axis")):
        variables[key.removesuffix("_deg")] = Variable(
            (), float(mirrors[key]), "degree", f"fixed rotation offset between {where}"
        )
    attrs = {
        **({"residual_omitted": omitted} if omitted else {}),
        "fitted_parameters": fitted,
        "iterations": int(fit.iterations),
        "success": int(bool(fit.success)),
    }
    return variables, coords, attrs


def read_polcal_fit_file(path: str | Path) -> dict:
    """The unit parameters and telescope parameters of a polcal fit file, as plain values.

    ``{"calibration_unit": {name: value}, "uncertainties": {name: sigma}, "fitted": [names],
    "nominal": {name: value}, "telescope_mirrors": {x12 ... r45_offset_deg}}``.
    """
    with open_intermediate(path) as ds:
        try:
            names = [
                n.removeprefix("calibration_unit_")
                for n in ds.data_vars
                if n.startswith("calibration_unit_") and not n.endswith("_uncertainty")
            ]
            values = {n: float(ds[f"calibration_unit_{n}"].values) for n in names}
            mirrors = {
                **{
                    f"{p}{g}": float(v)
                    for p, var in (("x", "mirror_amplitude_ratio"), ("t", "mirror_retardance"))
                    for g, v in zip(MIRROR_GROUPS.values(), ds[var].values, strict=True)
                },
                "r23_offset_deg": float(ds["r23_offset"].values),
                "r45_offset_deg": float(ds["r45_offset"].values),
            }
            return {
                "calibration_unit": values,
                "uncertainties": {
                    n: float(ds[f"calibration_unit_{n}_uncertainty"].values) for n in names
                },
                "fitted": list(ds.attrs["fitted_parameters"]),
                "nominal": {n: float(ds[f"calibration_unit_{n}"].attrs["nominal"]) for n in names},
                "telescope_mirrors": mirrors,
            }
        except KeyError as error:
            raise IntermediateError(
                f"{path}: not a polcal fit file, it lacks {error.args[0]!r}"
            ) from None
