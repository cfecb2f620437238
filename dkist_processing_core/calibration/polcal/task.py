"""Polarimetric calibration: the calibration unit and the modulation matrices from the polcal
sequence."""

from __future__ import annotations

import numpy as np

from ...framework import Parameter, Task
from .. import tags as t
from ..input.frames import read_raw_frame
from ..intermediates import (
    demodulation_variables,
    is_labelled,
    polcal_fit_variables,
    read_polcal_fit_file,
    write_intermediate,
)
from ..products import (
    dark_for,
    frame_shape,
    read_array_product,
    single_exposure_time,
)
from ..science.algorithm import dark_gain_correct, reciprocal_gain
from .algorithm import accumulate_polcal, fit_polcal
from .model import CU_PARAMETERS, PolcalStates, TelescopeMirrors

#: Name of the JSON diagnostics of the polcal fit the quality report includes (``QUALITY``,
#: ``TASK_POLCAL``); the fit itself is the labelled file ``polcal_fit.h5`` (``INTERMEDIATE``,
#: ``TASK_POLCAL``).
FIT_PRODUCT = "polcal_fit"


def read_polcal_fit(scratch) -> dict | None:
    """The fitted unit and the telescope parameters of a run's polcal fit, or None if absent.

    Read from the polcal fit file (``INTERMEDIATE``, ``TASK_POLCAL``, labelled HDF5):
    ``{"calibration_unit", "uncertainties", "fitted", "nominal", "telescope_mirrors"}``. A
    scratch written before the fit was labelled HDF5 holds the same document as JSON.
    """
    paths = scratch.find(t.INTERMEDIATE, t.task(t.POLCAL))
    if not paths:
        return None
    if is_labelled(paths[0]):
        return read_polcal_fit_file(paths[0])
    return scratch.read_json(paths[0])


def polcal_provenance(scratch) -> dict:
    """What the L1 provenance records of the polcal fit used (empty without a polcal).

    ``polcal_<parameter>``: ``{"value", "sigma", "fitted"}`` for each calibration-unit parameter,
    and ``polcal_telescope_mirrors``: the telescope parameters the correction used.
    """
    fit = read_polcal_fit(scratch)
    if not fit:
        return {}
    out: dict = {
        f"polcal_{name}": {
            "value": round(float(value), 8),
            "sigma": round(float(fit["uncertainties"][name]), 8),
            "fitted": name in fit["fitted"],
        }
        for name, value in fit["calibration_unit"].items()
    }
    out["polcal_telescope_mirrors"] = fit["telescope_mirrors"]
    return out


class PolarimetricCalibration(Task):
    r"""Fit the calibration unit and the modulation matrices from the polcal sequence.

    Algorithm
    ---------
    A rotating modulator records, in modulator state :math:`m`, the intensity
    :math:`I_m = \sum_j O_{mj} S_j` of the Stokes vector :math:`S = (I, Q, U, V)`
    entering the coudé lab; :math:`O` is the :math:`n_\mathrm{mod} \times 4`
    modulation matrix (mirrors M7-M10 turn with the instrument, so they are part of
    it). Between the Sun and the coudé lab the telescope acts as

    .. math:: T(e, a, \tau) = R(a - \tau)\, M_{56}\, R(-e - r_{45})\, M_{34}\,
              R(-90^\circ + r_{23})\, M_{12},

    with :math:`e`, :math:`a`, :math:`\tau` the elevation, azimuth and coudé table
    angle of the frame (``TELEVATN``, ``TAZIMUTH``, ``TTBLANGL``), :math:`R(\theta)`
    the rotation of the reference frame by :math:`\theta` (:math:`r_{23}`, :math:`r_{45}`
    fixed offsets of DKIST's mirror mounts), and mirror groups M1-M2, M3-M4, M5-M6 each

    .. math:: M(x, t) = \begin{pmatrix} 1 & a & 0 & 0 \\ a & 1 & 0 & 0 \\
              0 & 0 & b\cos t & b\sin t \\ 0 & 0 & -b\sin t & b\cos t \end{pmatrix},
              \quad a = \frac{1 - x^2}{1 + x^2},\ b = \frac{2x}{1 + x^2},

    where :math:`x` is the ratio of the s and p amplitude reflectivities and :math:`t`
    the retardance. The calibration unit (GOS) sits at the Gregorian focus, after M1-M2:
    in polcal step :math:`k` sunlight passes :math:`M_{12}`, then a linear polarizer at
    :math:`\theta_k` with transmission :math:`t_\mathrm{pol}` and a linear retarder of
    retardance :math:`\delta` at :math:`\phi_k` with transmission :math:`t_\mathrm{ret}`
    (either may be out of the beam; the angles are the headers' ``PAC__005`` and
    ``PAC__007`` converted from DKIST's header frame, :math:`\theta = 90^\circ -
    \theta_\mathrm{header}`, :math:`\phi = -\phi_\mathrm{header}`), then the rest of the
    telescope,
    :math:`A_k = R(a_k - \tau_k)\, M_{56}\, R(-e_k - r_{45})\, M_{34}\, R(-90^\circ + r_{23})`:

    .. math:: S_k = A_k\,
              [t_\mathrm{ret} M_\mathrm{ret}(\delta, \phi_k)]\,
              [t_\mathrm{pol} M_\mathrm{pol}(\theta_k)]\, M_{12}\,(1, 0, 0, 0)^T.

    The polcal sequence is taken at several telescope geometries, so the telescope
    changes :math:`S_k` from step to step. The dark- and gain-corrected polcal frames,
    averaged in spatial bins :math:`b` and divided by each bin's mean, give
    :math:`P_b = O_b S(\delta, t_\mathrm{pol}, t_\mathrm{ret})`. What is fitted:
    :math:`\delta`, :math:`t_\mathrm{pol}`, :math:`t_\mathrm{ret}`, shared by all bins
    (starting at their nominal values), and each bin's :math:`O_b`. For given unit
    parameters the best :math:`O_b = P_b S^+` is linear least squares, so the fit
    eliminates it exactly (variable projection) and minimises the residuals
    :math:`P_b (1 - S^+ S)` of all bins together over the three unit parameters, with
    an analytic Jacobian (``scipy.optimize.least_squares``); a whole bin grid is a few
    matrix products per iteration. Each :math:`O_b` is normalised so that its mean
    intensity response is one, and the demodulation matrix is
    :math:`D_b = O_b^+` (:math:`4 \times n_\mathrm{mod}`).

    What is assumed: the telescope mirror parameters (:math:`x, t` of M1-M2, M3-M4 and
    M5-M6, from the telescope calibration) are known and held fixed; the polarizer and
    retarder are ideal apart from their transmissions, their angles are those in the
    headers (``PAC__005``, ``PAC__007``) and the retardance does not drift during the
    sequence; the light level is constant during the sequence; :math:`O_b` does not
    change between the polcal and the observation. Polcal steps are consecutive frames
    with the same unit angles; a step's geometry is the mean of its frames'.

    Recorded: the unit parameters with their one-sigma uncertainties (from the Jacobian
    at the solution and the residual scatter) and correlations, the residual RMS of
    every bin, the modulation-matrix uncertainties, and the polarimetric efficiencies
    :math:`\epsilon_i = (n_\mathrm{mod} \sum_m D_{im}^2)^{-1/2}`.

    Inputs
    ------
    Raw frames tagged ``INPUT``, ``TASK_POLCAL``, ``CS_STEP_<k>``, ``MODSTATE_<m>``;
    the master darks; the combined gain (``INTERMEDIATE``, ``TASK_GAIN``); the polcal
    steps' unit angles and telescope geometry from the input summary.

    Outputs
    -------
    The per-bin demodulation matrices ``demodulation (bin_y, bin_x, stokes,
    modulator_state)`` with the modulation matrices, their uncertainties, each bin's residual
    RMS and efficiencies and the unit parameters, as labelled HDF5 (NetCDF4 conventions,
    ``xarray.open_dataset(path, engine="h5netcdf")``), tagged ``INTERMEDIATE``,
    ``TASK_DEMODULATION``: what the science calibration demodulates with. The whole fit as
    labelled HDF5, tagged ``INTERMEDIATE``, ``TASK_POLCAL``: the unit parameters (value,
    nominal value, ``fitted``, one-sigma ``_uncertainty``) and the correlations of the fitted
    ones, the telescope mirror parameters used, per calibration-unit state the unit angles,
    the telescope geometry and the Stokes vector the fitted unit prepared
    (``input_stokes (stokes, calibration_unit_state)``), and per bin the modulation
    matrices, their uncertainties, efficiencies, residual RMS and the residual of every
    modulator and calibration-unit state (``residual (bin_y, bin_x, modulator_state,
    calibration_unit_state)``, left out beyond 4 M values, i.e. for grids of a bin per few
    pixels), with its mean and RMS over the bins (``residual_mean``, ``residual_state_rms``
    ``(modulator_state, calibration_unit_state)``); the science calibration (telescope
    correction) and the L1 provenance read it. The fit diagnostics (JSON, ``QUALITY``, ``TASK_POLCAL``) for the
    quality report.

    Parameters
    ----------
    polcal_retarder_retardance_deg
        Nominal retardance :math:`\delta` of the unit's retarder, degrees: the starting value.
    polcal_polarizer_transmission
        Nominal :math:`t_\mathrm{pol}` (starting value).
    polcal_retarder_transmission
        Nominal :math:`t_\mathrm{ret}` (starting value).
    polcal_fit_parameters
        Which of ``retardance_deg``, ``polarizer_transmission``, ``retarder_transmission``
        are fitted; the others are held at their nominal values.
    polcal_telescope_mirrors
        ``{"x12", "t12", "x34", "t34", "x56", "t56"}``: the telescope's mirror-group
        parameters (optionally ``r23_offset_deg``, ``r45_offset_deg``).
    polcal_spatial_bins
        ``[n_bins_y, n_bins_x]``: bins in which a modulation matrix is fitted.

    Limitations
    -----------
    An error in the telescope parameters enters the unit parameters and the
    science correction; light-level changes during the sequence (clouds) bias the
    transmissions; a sequence that cannot determine a parameter (no retarder in the
    beam: :math:`\delta`; no clear step: :math:`t_\mathrm{pol}`; no polarizer-only step:
    :math:`t_\mathrm{ret}`) or the four Stokes parameters stops the run with an error
    naming what is unconstrained; such a parameter can be held at its nominal value
    instead (``polcal_fit_parameters``).
    The telescope's mirror-group parameters are taken as known (a parameter value), not
    fitted; DKIST's PA&C fits them from dedicated telescope calibration sequences and
    also models an elliptical retarder and a light level per step, which this fit does
    not. The Stokes parameters are not rotated into a solar reference frame.
    """

    reads = (
        (t.INPUT, t.task(t.POLCAL)),
        (t.INTERMEDIATE, t.task(t.DARK)),
        (t.INTERMEDIATE, t.task(t.GAIN)),
    )
    writes = (
        (t.INTERMEDIATE, t.task(t.DEMODULATION)),
        (t.INTERMEDIATE, t.task(t.POLCAL)),
        (t.QUALITY, t.task(t.POLCAL)),
    )
    parameters = (
        Parameter(
            "polcal_retarder_retardance_deg",
            "float",
            default=92.0,
            minimum=1.0,
            maximum=179.0,
            unit="degrees",
            description="nominal retardance of the calibration unit's retarder (fit start)",
        ),
        Parameter(
            "polcal_polarizer_transmission",
            "float",
            default=1.0,
            minimum=0.5,
            maximum=1.0,
            description="nominal transmission of the calibration unit's polarizer (fit start)",
        ),
        Parameter(
            "polcal_retarder_transmission",
            "float",
            default=1.0,
            minimum=0.5,
            maximum=1.0,
            description="nominal transmission of the calibration unit's retarder (fit start)",
        ),
        Parameter(
            "polcal_fit_parameters",
            "list[str]",
            default=["retardance_deg", "polarizer_transmission", "retarder_transmission"],
            choices=("retardance_deg", "polarizer_transmission", "retarder_transmission"),
            description="the calibration-unit parameters fitted (the others stay nominal)",
        ),
        Parameter(
            "polcal_telescope_mirrors",
            "dict[str, float]",
            choices=("x12", "t12", "x34", "t34", "x56", "t56", "r23_offset_deg", "r45_offset_deg"),
            default={
                "x12": 1.02,
                "t12": 172.0,
                "x34": 1.03,
                "t34": 168.0,
                "x56": 1.025,
                "t56": 163.0,
            },
            description="mirror groups M1-M2, M3-M4, M5-M6: s/p amplitude ratio x, retardance t (deg)",
        ),
        Parameter(
            "polcal_spatial_bins",
            "list[int]",
            default=[4, 1],
            length=2,
            minimum=1,
            unit="bins along y, x",
            description="bins in which a modulation matrix is fitted",
        ),
    )

    def run(self) -> None:
        summary = self.scratch.read_json(self.scratch.find_one(t.INPUT_SUMMARY))
        states = PolcalStates.from_header_records(summary["polcal_states"])
        mirrors = TelescopeMirrors.from_mapping(
            self.parameter("polcal_telescope_mirrors"), "polcal_telescope_mirrors"
        )
        nominal = {
            "retardance_deg": float(self.parameter("polcal_retarder_retardance_deg")),
            "polarizer_transmission": float(self.parameter("polcal_polarizer_transmission")),
            "retarder_transmission": float(self.parameter("polcal_retarder_transmission")),
        }
        fitted = [str(n) for n in self.parameter("polcal_fit_parameters")]
        unknown = sorted(set(fitted) - set(CU_PARAMETERS))
        if unknown:
            raise ValueError(
                f"polcal_fit_parameters names {unknown}: expected some of {list(CU_PARAMETERS)}"
            )
        n_mod = len(t.ModulatorState.values(self.scratch, t.INPUT, t.task(t.POLCAL)))
        shape = frame_shape(self.scratch)
        dark = dark_for(self.scratch, single_exposure_time(self.scratch, t.POLCAL), "the polcals")
        inverse_gain = reciprocal_gain(
            read_array_product(self.scratch, t.task(t.GAIN), needed_by=self.name)
        )

        def frames():
            for path in self.scratch.find(t.INPUT, t.task(t.POLCAL)):
                tags = self.scratch.tags_of(path)
                k = t.CalibrationUnitState.of(tags)
                m = t.ModulatorState.of(tags)
                yield (
                    k,
                    m - 1,
                    dark_gain_correct(read_raw_frame(path, shape)[1], dark, inverse_gain),
                )

        bins = tuple(int(b) for b in self.parameter("polcal_spatial_bins"))
        data = accumulate_polcal(frames(), len(states), n_mod, bins)
        fit = fit_polcal(data, states, mirrors, nominal, fitted)
        variables, coords = demodulation_variables(fit, shape)
        write_intermediate(
            self,
            [t.INTERMEDIATE, t.task(t.DEMODULATION)],
            "demodulation",
            variables,
            coords,
            primary="demodulation",
            input_frames=self.scratch.find(t.INPUT, t.task(t.POLCAL)),
            attrs={"telescope_mirrors": mirrors.as_dict(), "nominal": nominal},
        )
        variables, coords, attrs = polcal_fit_variables(
            fit, states, mirrors.as_dict(), nominal, shape
        )
        write_intermediate(
            self,
            [t.INTERMEDIATE, t.task(t.POLCAL)],
            "polcal_fit",
            variables,
            coords,
            primary="modulation",
            input_frames=self.scratch.find(t.INPUT, t.task(t.POLCAL)),
            attrs=attrs,
        )
        diagnostics = fit.summary()
        self.scratch.write_json(
            {
                "modulator_states": n_mod,
                "calibration_unit_states": len(states),
                "telescope_geometries": states.geometries().tolist(),
                "bins": list(bins),
                "nominal": nominal,
                "telescope_mirrors": mirrors.as_dict(),
                **diagnostics,
                "residual_rms": np.asarray(fit.residual_rms).tolist(),
                "efficiency": np.asarray(fit.efficiency).tolist(),
            },
            [t.QUALITY, t.task(t.POLCAL)],
            FIT_PRODUCT,
        )
        self.logger.info(
            "polcal fit: %s; residual <= %.2e; efficiencies I,Q,U,V %s",
            ", ".join(
                f"{n} = {fit.parameters[n]:.4f} +- {fit.uncertainties[n]:.4f}" for n in fit.fitted
            ),
            float(np.max(fit.residual_rms)),
            np.round(np.mean(fit.efficiency, axis=(0, 1)), 3).tolist(),
        )
