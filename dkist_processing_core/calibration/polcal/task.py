"""Polarimetric calibration: the modulation matrix from the polcal sequence."""

from __future__ import annotations

import numpy as np

from ...framework import Parameter, Task
from .. import tags as t
from ..input.frames import read_raw_frame
from ..products import (
    dark_for,
    frame_shape,
    read_array_product,
    single_exposure_time,
    write_array_product,
)
from ..science.algorithm import dark_gain_correct, reciprocal_gain
from .algorithm import accumulate_polcal, calibration_unit_stokes, fit_modulation_matrix


class PolarimetricCalibration(Task):
    r"""Fit the modulation matrix from the polcal sequence and invert it for demodulation.

    Algorithm
    ---------
    A rotating modulator records, in modulator state :math:`m`, the intensity
    :math:`I_m = \sum_j O_{mj} S_j` of the Stokes vector :math:`S = (I, Q, U, V)`
    entering the instrument; :math:`O` is the :math:`n_\mathrm{mod} \times 4`
    modulation matrix. The calibration unit (GOS) prepares known Stokes vectors:
    in state :math:`k` unpolarized light passes an ideal linear polarizer at
    angle :math:`\theta_k` and a linear retarder of retardance :math:`\delta`
    at angle :math:`\phi_k` (either may be out of the beam),

    .. math:: S_k = M_\mathrm{ret}(\delta, \phi_k)\, M_\mathrm{pol}(\theta_k)\, (1, 0, 0, 0)^T.

    The dark- and gain-corrected polcal frames, averaged in spatial bins, give
    :math:`P_{km} = \sum_j O_{mj} S_{jk}`, i.e. :math:`P^T = O S`; the least-squares
    solution is :math:`O = P^T S^+` per bin, normalised so the mean intensity
    response is one, and the demodulation matrix is its pseudo-inverse
    :math:`D = O^+` (:math:`4 \times n_\mathrm{mod}`). The sequence must span all
    four Stokes dimensions (rank of :math:`S` is 4): otherwise the run stops with
    an error naming the unconstrained Stokes parameters. The fit's residual and
    the polarimetric efficiencies :math:`\epsilon_i = (n_\mathrm{mod} \sum_m D_{im}^2)^{-1/2}`
    are recorded.

    Inputs
    ------
    Raw frames tagged ``INPUT``, ``TASK_POLCAL``, ``CS_STEP_<k>``, ``MODSTATE_<m>``;
    the master darks; the combined gain (``INTERMEDIATE``, ``TASK_GAIN``); the
    calibration-unit angles from the input summary.

    Outputs
    -------
    The per-bin demodulation matrices ``(n_bins_y, n_bins_x, 4, n_mod)``, tagged
    ``INTERMEDIATE``, ``TASK_DEMODULATION``, and a JSON fit summary (residuals,
    efficiencies) tagged ``QUALITY``, ``TASK_POLCAL``.

    Parameters
    ----------
    polcal_retarder_retardance_deg
        Retardance :math:`\delta` of the calibration unit's retarder, degrees.
    polcal_spatial_bins
        ``[n_bins_y, n_bins_x]``: bins in which a modulation matrix is fitted.
    """

    reads = (
        (t.INPUT, t.task(t.POLCAL)),
        (t.INTERMEDIATE, t.task(t.DARK)),
        (t.INTERMEDIATE, t.task(t.GAIN)),
    )
    writes = ((t.INTERMEDIATE, t.task(t.DEMODULATION)), (t.QUALITY, t.task(t.POLCAL)))
    parameters = (
        Parameter(
            "polcal_retarder_retardance_deg",
            "float",
            default=92.0,
            minimum=1.0,
            maximum=179.0,
            unit="degrees",
            description="retardance of the calibration unit's retarder",
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
        states = summary["polcal_states"]
        input_stokes = calibration_unit_stokes(
            [s["polarizer_angle_deg"] for s in states],
            [s["retarder_angle_deg"] for s in states],
            float(self.parameter("polcal_retarder_retardance_deg")),
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
        fit = fit_modulation_matrix(data, input_stokes)
        query = [t.INTERMEDIATE, t.task(t.DEMODULATION)]
        write_array_product(self.scratch, fit.demodulation, query, "demodulation")
        self.scratch.write_json(
            {
                "modulator_states": n_mod,
                "calibration_unit_states": len(states),
                "bins": list(bins),
                "residual_rms_max": float(np.max(fit.residual_rms)),
                "efficiency_mean": np.mean(fit.efficiency, axis=(0, 1)).tolist(),
            },
            [t.QUALITY, t.task(t.POLCAL)],
            "polcal_fit",
        )
        self.logger.info(
            "modulation fit residual <= %.2e, efficiencies I,Q,U,V %s",
            float(np.max(fit.residual_rms)),
            np.round(np.mean(fit.efficiency, axis=(0, 1)), 3).tolist(),
        )
