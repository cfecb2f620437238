"""Polarimetric calibration: fit the modulation matrix from a calibration-unit sequence.

A modulating polarimeter records, in modulator state ``m``, the intensity ``I_m = O_m . S`` of the
incoming Stokes vector ``S = (I, Q, U, V)``; ``O`` (n_mod x 4) is the modulation matrix. During a
polcal sequence the calibration unit (a linear polarizer at angle ``theta_p`` followed by a linear
retarder of retardance ``delta`` at angle ``theta_r``, each in or out of the beam) prepares known
Stokes vectors ``S_k = M_ret(delta, theta_r) M_pol(theta_p) (1, 0, 0, 0)^T`` from unpolarized light,
so the polcal data are

    d[m, k] = O_m . S_k        i.e.   D = O S,   D (n_mod x K), S (4 x K).

Linear least squares gives ``O = D S^+`` with ``S^+ = S^T (S S^T)^-1``; this needs ``rank S = 4``
(K >= 4 states that between them carry Q, U and V). The unknown light level is absorbed by
normalising ``O`` so that ``mean_m O[m, 0] = 1``. Demodulation uses ``D_mat = O^+`` (4 x n_mod):
``S = D_mat (I_1 .. I_nmod)^T``, which needs ``n_mod >= 4``.

The fit is done per bin: the data are averaged over rectangular bins of pixels (e.g. along the
slit) to beat down photon noise; with one pixel per bin it is a per-pixel fit.

That linear fit needs the prepared Stokes vectors exactly. :func:`fit_polcal` fits them too: the
calibration unit's retardance and transmissions, shared by all bins, jointly with every bin's
modulation matrix, with the telescope between the unit and the instrument modelled at each
step's geometry (:mod:`.model`). Each bin's modulation matrix is eliminated exactly (variable
projection), so the non-linear fit has three parameters whatever the number of bins, and its
cost per iteration does not grow with them (see :func:`fit_polcal`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from dkist_processing_core.framework.errors import InputError

from .model import CU_PARAMETERS, PolcalStates, TelescopeMirrors, after_unit, unit_stokes

STOKES = ("I", "Q", "U", "V")


def linear_polarizer(angle_deg: float, transmission: float = 1.0) -> np.ndarray:
    """Mueller matrix of an ideal linear polarizer, transmission axis at ``angle_deg`` from +Q."""
    c, s = np.cos(np.deg2rad(2 * angle_deg)), np.sin(np.deg2rad(2 * angle_deg))
    return (
        0.5
        * transmission
        * np.array(
            [
                [1, c, s, 0],
                [c, c * c, c * s, 0],
                [s, c * s, s * s, 0],
                [0, 0, 0, 0],
            ]
        )
    )


def linear_retarder(retardance_deg: float, angle_deg: float) -> np.ndarray:
    """Mueller matrix of an ideal linear retarder, fast axis at ``angle_deg`` from +Q."""
    c, s = np.cos(np.deg2rad(2 * angle_deg)), np.sin(np.deg2rad(2 * angle_deg))
    cd, sd = np.cos(np.deg2rad(retardance_deg)), np.sin(np.deg2rad(retardance_deg))
    return np.array(
        [
            [1, 0, 0, 0],
            [0, c * c + s * s * cd, c * s * (1 - cd), -s * sd],
            [0, c * s * (1 - cd), s * s + c * c * cd, c * sd],
            [0, s * sd, -c * sd, cd],
        ]
    )


def calibration_unit_stokes(
    polarizer_angles_deg: Sequence[float | None],
    retarder_angles_deg: Sequence[float | None],
    retardance_deg: float,
    input_stokes: Sequence[float] = (1.0, 0.0, 0.0, 0.0),
) -> np.ndarray:
    """Stokes vectors (4 x K) leaving the calibration unit in each of K states.

    ``None`` means the element is out of the beam (clear). Light passes the polarizer first.
    """
    if len(polarizer_angles_deg) != len(retarder_angles_deg):
        raise ValueError(
            f"{len(polarizer_angles_deg)} polarizer angles but {len(retarder_angles_deg)} "
            "retarder angles: one of each per calibration-unit state"
        )
    vectors = []
    for pol, ret in zip(polarizer_angles_deg, retarder_angles_deg):
        mueller = np.eye(4)
        if pol is not None:
            mueller = linear_polarizer(pol) @ mueller
        if ret is not None:
            mueller = linear_retarder(retardance_deg, ret) @ mueller
        vectors.append(mueller @ np.asarray(input_stokes, dtype=float))
    return np.stack(vectors, axis=1)


class PolcalSequenceError(ValueError, InputError):
    """The polcal sequence cannot constrain the modulation matrix."""


def check_polcal_sequence(input_stokes: np.ndarray, *, tolerance: float = 1e-6) -> None:
    """Raise :class:`PolcalSequenceError` unless the states constrain all four Stokes parameters.

    Names what is missing: the Stokes combinations no state carries (the null space of ``S^T``),
    and what kind of state would add them.
    """
    s = np.asarray(input_stokes, dtype=float)
    if s.ndim != 2 or s.shape[0] != 4:
        raise PolcalSequenceError(f"input Stokes must be 4 x K, got shape {s.shape}")
    k = s.shape[1]
    if k < 4:
        raise PolcalSequenceError(
            f"the polcal sequence has {k} calibration-unit state(s); at least 4 distinct states "
            "are needed to fit the 4 columns (I, Q, U, V) of the modulation matrix"
        )
    u, sv, _ = np.linalg.svd(s)
    rank = int(np.sum(sv > tolerance * sv[0]))
    if rank == 4:
        return
    null = u[:, rank:]  # Stokes directions no state carries
    weights = np.sqrt(np.sum(null**2, axis=1))
    missing = [STOKES[i] for i in range(4) if weights[i] > 0.5]
    if not missing:
        missing = [STOKES[int(np.argmax(weights))]]
    hints = []
    if "V" in missing:
        hints.append("circular polarization needs the retarder in the beam after the polarizer")
    if "Q" in missing or "U" in missing:
        hints.append("linear polarization needs the polarizer at >= 2 angles 45 deg apart")
    if "I" in missing:
        hints.append("add a clear or polarizer-only state")
    raise PolcalSequenceError(
        f"the polcal sequence's {k} states span only {rank} of the 4 Stokes dimensions: "
        f"Stokes {', '.join(missing)} unconstrained ({'; '.join(hints)})"
    )


def bin_edges(n: int, n_bins: int) -> np.ndarray:
    """Edges of ``n_bins`` near-equal bins over ``n`` pixels."""
    if not 1 <= n_bins <= n:
        raise ValueError(f"cannot split {n} pixels into {n_bins} bins")
    return np.linspace(0, n, n_bins + 1).round().astype(int)


def bin_frame(frame: np.ndarray, n_bins: tuple[int, int]) -> np.ndarray:
    """Mean of a (ny, nx) frame over (n_bins_y x n_bins_x) rectangular bins."""
    ey, ex = bin_edges(frame.shape[0], n_bins[0]), bin_edges(frame.shape[1], n_bins[1])
    sums = np.add.reduceat(np.add.reduceat(frame, ey[:-1], axis=0), ex[:-1], axis=1)
    return sums / np.outer(np.diff(ey), np.diff(ex))


def accumulate_polcal(
    frames: Iterable[tuple[int, int, np.ndarray]],
    n_states: int,
    n_modulator_states: int,
    n_bins: tuple[int, int],
) -> np.ndarray:
    """Binned polcal data (K, n_mod, n_bins_y, n_bins_x) from a stream of frames.

    Each item is ``(calibration-unit state k, modulator state m (0-based), frame)`` with the frame
    dark and gain corrected; repeats of the same (k, m) are averaged. Only the binned sums are
    kept, so memory does not grow with the number of frames.
    """
    total = np.zeros((n_states, n_modulator_states, *n_bins))
    count = np.zeros((n_states, n_modulator_states), dtype=int)
    for k, m, frame in frames:
        if not (0 <= k < n_states and 0 <= m < n_modulator_states):
            raise ValueError(
                f"polcal frame with state {k} / modulator state {m} outside "
                f"{n_states} states x {n_modulator_states} modulator states"
            )
        total[k, m] += bin_frame(np.asarray(frame, dtype=np.float64), n_bins)
        count[k, m] += 1
    if np.any(count == 0):
        k, m = np.argwhere(count == 0)[0]
        raise ValueError(
            f"no polcal frame for calibration-unit state {k}, modulator state {m} "
            f"({int(np.sum(count == 0))} of {count.size} combinations missing)"
        )
    return total / count[:, :, None, None]


@dataclass
class ModulationFit:
    """Fitted modulation matrices per bin and their demodulation matrices.

    modulation
        (n_bins_y, n_bins_x, n_mod, 4), normalised so ``mean_m O[m, 0] = 1``.
    demodulation
        (n_bins_y, n_bins_x, 4, n_mod), ``pinv(O)``.
    residual_rms
        (n_bins_y, n_bins_x), RMS of ``D - O S`` relative to the mean intensity.
    efficiency
        (n_bins_y, n_bins_x, 4), polarimetric efficiencies ``1 / sqrt(n_mod sum_m D[i, m]^2)``.
    """

    modulation: np.ndarray
    demodulation: np.ndarray
    residual_rms: np.ndarray
    efficiency: np.ndarray


def fit_modulation_matrix(polcal_data: np.ndarray, input_stokes: np.ndarray) -> ModulationFit:
    """Least-squares modulation matrix ``O = D S^+`` per bin.

    Parameters
    ----------
    polcal_data
        (K, n_mod, ...) dark- and gain-corrected polcal intensities (per bin or per pixel), e.g.
        from :func:`accumulate_polcal`.
    input_stokes
        (4, K) Stokes vectors prepared by the calibration unit in each state
        (:func:`calibration_unit_stokes`).

    Raises
    ------
    PolcalSequenceError
        If the states cannot constrain all four Stokes parameters, or ``n_mod < 4``.
    """
    data = np.asarray(polcal_data, dtype=np.float64)
    s = np.asarray(input_stokes, dtype=np.float64)
    check_polcal_sequence(s)
    if data.shape[0] != s.shape[1]:
        raise ValueError(
            f"polcal data has {data.shape[0]} calibration-unit states, "
            f"input Stokes has {s.shape[1]}"
        )
    n_mod = data.shape[1]
    if n_mod < 4:
        raise PolcalSequenceError(
            f"{n_mod} modulator state(s): at least 4 are needed to demodulate I, Q, U and V"
        )
    spatial = data.shape[2:]
    d = data.reshape(data.shape[0], n_mod, -1)  # (K, m, b)
    o = np.einsum("kmb,kj->bmj", d, np.linalg.pinv(s))  # (b, m, 4)
    norm = o[:, :, 0].mean(axis=1)
    if np.any(norm <= 0):
        raise ValueError("fitted modulation matrix has no intensity response in some bins")
    model = np.einsum("bmj,jk->kmb", o, s)
    residual = np.sqrt(np.mean((d - model) ** 2, axis=(0, 1))) / np.abs(d.mean(axis=(0, 1)))
    o /= norm[:, None, None]
    demod = np.linalg.pinv(o)  # (b, 4, m)
    efficiency = 1.0 / np.sqrt(n_mod * np.sum(demod**2, axis=2))
    return ModulationFit(
        modulation=o.reshape(*spatial, n_mod, 4),
        demodulation=demod.reshape(*spatial, 4, n_mod),
        residual_rms=residual.reshape(spatial),
        efficiency=efficiency.reshape(*spatial, 4),
    )


def demodulation_per_pixel(
    demodulation: np.ndarray, frame_shape: tuple[int, int], dtype=np.float32
) -> np.ndarray:
    """Expand per-bin demodulation matrices (nby, nbx, 4, n_mod) to planar (4, n_mod, ny, nx).

    Planar layout (Stokes, modulator state, y, x) keeps each (y, x) plane contiguous, which is what
    the demodulation kernels in :mod:`dkist_processing_core.calibration.science.algorithm` stream
    over.
    """
    nby, nbx = demodulation.shape[:2]
    ey, ex = bin_edges(frame_shape[0], nby), bin_edges(frame_shape[1], nbx)
    rows = np.repeat(np.arange(nby), np.diff(ey))
    cols = np.repeat(np.arange(nbx), np.diff(ex))
    per_pixel = demodulation[rows][:, cols]  # (ny, nx, 4, m)
    return np.ascontiguousarray(per_pixel.transpose(2, 3, 0, 1), dtype=dtype)


# -- joint fit of the calibration unit and the modulation matrices -------------------------------


@dataclass
class PolcalFit(ModulationFit):
    """A joint polcal fit: per-bin matrices (as :class:`ModulationFit`) plus the unit's parameters.

    parameters
        Value of every calibration-unit parameter used (fitted or held at its nominal value).
    uncertainties
        One-sigma uncertainty of each fitted parameter (0 for a fixed one), from the
        Jacobian at the solution and the residual scatter.
    fitted
        Names of the parameters that were fitted.
    correlation
        Correlation matrix of the fitted parameters (in the order of ``fitted``).
    modulation_uncertainty
        (n_bins_y, n_bins_x, n_mod, 4) one-sigma uncertainty of each modulation-matrix element.
    residual_sigma
        RMS of the relative residuals over all bins (what the noise estimate is).
    iterations, success
        Function evaluations of the optimiser and whether it converged.
    input_stokes
        (4, K) the Stokes vectors entering the coude lab in each calibration-unit state, from the
        fitted unit (what each bin's modulation matrix is fitted against).
    residual
        (n_bins_y, n_bins_x, n_mod, K) the residual ``d_b - O_b S`` of every bin, modulator state
        and calibration-unit state, relative to the bin's mean intensity.
    """

    parameters: dict
    uncertainties: dict
    fitted: tuple
    correlation: np.ndarray
    modulation_uncertainty: np.ndarray
    residual_sigma: float
    iterations: int
    success: bool
    input_stokes: np.ndarray | None = None
    residual: np.ndarray | None = None

    def summary(self) -> dict:
        """JSON-able summary: parameters, uncertainties, residuals, efficiencies."""
        return {
            "parameters": {k: float(v) for k, v in self.parameters.items()},
            "uncertainties": {k: float(v) for k, v in self.uncertainties.items()},
            "fitted": list(self.fitted),
            "correlation": np.round(self.correlation, 6).tolist(),
            "residual_sigma": float(self.residual_sigma),
            "residual_rms_max": float(np.max(self.residual_rms)),
            "residual_rms_mean": float(np.mean(self.residual_rms)),
            "efficiency_mean": np.mean(self.efficiency, axis=(0, 1)).tolist(),
            "efficiency_min": np.min(self.efficiency, axis=(0, 1)).tolist(),
            "modulation_uncertainty_max": float(np.max(self.modulation_uncertainty)),
            "iterations": int(self.iterations),
            "success": bool(self.success),
        }


_UNCONSTRAINED_HINTS = {
    "retardance_deg": "no state has the retarder in the beam after the polarizer",
    "polarizer_transmission": "needs states without the polarizer (clear) beside states with it",
    "retarder_transmission": "needs states with the polarizer alone beside polarizer + retarder",
}


def check_unit_parameters(
    states: PolcalStates,
    mirrors: TelescopeMirrors,
    nominal: dict,
    fitted: Sequence[str],
    *,
    tolerance: float = 1e-6,
) -> None:
    """Raise :class:`PolcalSequenceError` naming every unit parameter the sequence cannot determine.

    With the modulation matrix free, a parameter is determined only if the change it makes to the
    prepared Stokes vectors (``dS/dp``) is not itself a linear map of them (``dS/dp = M S``
    could be absorbed into ``O``): the part of ``dS/dp`` outside the row space of ``S`` must not
    vanish, for each fitted parameter and for every combination of them.
    """
    if not fitted:
        return
    s, partials = unit_stokes(states, mirrors, **nominal, derivatives=True)
    orthogonal = np.eye(s.shape[1]) - np.linalg.pinv(s) @ s
    unconstrained: list[str] = []
    columns = []
    for name in fitted:
        d = partials[name]
        size = np.linalg.norm(d)
        outside = np.linalg.norm(d @ orthogonal)
        if size == 0 or outside < tolerance * size:
            unconstrained.append(name)
        else:
            columns.append((d @ orthogonal).ravel() / outside)
    if not unconstrained and len(columns) > 1:
        sv, vt = np.linalg.svd(np.stack(columns, axis=1), full_matrices=False)[1:]
        if sv[-1] < tolerance * sv[0]:
            combo = vt[-1]
            unconstrained = [n for n, w in zip(fitted, combo) if abs(w) > 0.1]
    if unconstrained:
        reasons = "; ".join(f"{n} ({_UNCONSTRAINED_HINTS[n]})" for n in unconstrained)
        raise PolcalSequenceError(
            f"the polcal sequence's {len(states)} states cannot determine the calibration-unit "
            f"parameter(s) {', '.join(unconstrained)} together with the modulation matrix: "
            f"{reasons}; fix them at their nominal values (polcal_fit_parameters) or add states"
        )


def _normalised_bins(polcal_data: np.ndarray) -> tuple[np.ndarray, tuple]:
    data = np.asarray(polcal_data, dtype=np.float64)
    k, n_mod = data.shape[:2]
    spatial = data.shape[2:]
    d = data.reshape(k, n_mod, -1).transpose(2, 1, 0)  # (b, m, k)
    level = d.mean(axis=(1, 2))
    if np.any(~np.isfinite(level)) or np.any(level <= 0):
        raise ValueError(
            f"polcal data has no light in {int(np.sum(~(level > 0)))} of {level.size} bins"
        )
    return d / level[:, None, None], spatial


def fit_polcal(
    polcal_data: np.ndarray,
    states: PolcalStates,
    mirrors: TelescopeMirrors,
    nominal: dict,
    fit_parameters: Sequence[str] = CU_PARAMETERS,
    *,
    max_evaluations: int = 200,
) -> PolcalFit:
    r"""Fit the calibration unit's parameters jointly over all bins with each bin's modulation matrix.

    Model: bin ``b`` records ``d_b[m, k] = L_b \sum_j O_b[m, j] S_j(theta; k)`` with ``S(theta)``
    from :func:`~.model.unit_stokes` (the unit's parameters ``theta`` shared by all bins, the
    telescope known). For fixed ``theta`` the best ``O_b`` is linear least squares,
    ``O_b = d_b S^+``, so it is eliminated exactly (variable projection): the fit minimises, over
    ``theta`` alone, the residuals ``r_b(theta) = d_b (1 - P(theta))`` of all bins at once, with
    ``P = S^+ S`` the projector on the row space of ``S``. Its Jacobian is analytic,
    ``dr_b/dtheta = -d_b dP`` with ``dP = P_perp dS^T (S S^T)^{-1} S + (...)^T``. Summed over
    bins, ``sum_b |r_b|^2 = tr((1 - P) G (1 - P))`` needs the data only through the K x K matrix
    ``G = sum_b d_b^T d_b``: with ``G = L L^T`` the fit iterates on ``L^T (1 - P)`` (same sum of
    squares, same Jacobian products), so an iteration costs the same for 1 or 10^4 bins; the
    bins are visited once to form ``G`` and once to compute every ``O_b``.
    Each bin is divided by its mean first, so bins weigh equally and ``L_b`` is absorbed.

    Parameters
    ----------
    polcal_data
        (K, n_mod, ...) dark- and gain-corrected polcal intensities per bin.
    states
        The K states: unit configuration and telescope geometry of each.
    mirrors
        Telescope mirror-group parameters (held fixed).
    nominal
        Starting (and, for parameters not fitted, fixed) values of ``retardance_deg``,
        ``polarizer_transmission``, ``retarder_transmission``.
    fit_parameters
        Which of :data:`~.model.CU_PARAMETERS` to fit.

    Raises
    ------
    PolcalSequenceError
        If the sequence cannot determine a fitted parameter or the four Stokes parameters, or
        ``n_mod < 4``; the message names what is unconstrained.
    """
    from scipy.optimize import least_squares

    nominal = {name: float(nominal[name]) for name in CU_PARAMETERS}
    fitted = tuple(fit_parameters)
    unknown = [n for n in fitted if n not in CU_PARAMETERS]
    if unknown:
        raise ValueError(f"cannot fit {unknown}: the fit parameters are {list(CU_PARAMETERS)}")
    data = np.asarray(polcal_data)
    if data.shape[0] != len(states):
        raise ValueError(
            f"polcal data has {data.shape[0]} calibration-unit states, the sequence {len(states)}"
        )
    n_mod = data.shape[1]
    if n_mod < 4:
        raise PolcalSequenceError(
            f"{n_mod} modulator state(s): at least 4 are needed to demodulate I, Q, U and V"
        )
    check_unit_parameters(states, mirrors, nominal, fitted)
    check_polcal_sequence(unit_stokes(states, mirrors, **nominal))
    d, spatial = _normalised_bins(data)  # (b, m, k)
    n_bins, _, k = d.shape

    after = after_unit(mirrors, states.elevation_deg, states.azimuth_deg, states.table_angle_deg)

    def values(theta):
        v = dict(nominal, after=after)
        v.update(zip(fitted, theta))
        return v

    # The summed objective sum_b |d_b (1 - P)|^2 = tr((1 - P) G (1 - P)) depends on the data only
    # through the K x K Gram matrix G = sum_b d_b^T d_b. With G = L L^T the residual
    # r = L^T (1 - P) has the same sum of squares and the same Jacobian products, so the fit
    # iterates on K x K matrices whatever the number of bins.
    gram = np.einsum("bmk,bml->kl", d, d)
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    root = np.sqrt(np.clip(eigenvalues, 0.0, None))[:, None] * eigenvectors.T  # L^T

    def residuals(theta):
        s = unit_stokes(states, mirrors, **values(theta))
        projector = np.linalg.pinv(s) @ s
        return (root - root @ projector).ravel()

    def jacobian(theta):
        s, partials = unit_stokes(states, mirrors, **values(theta), derivatives=True)
        gram_inv = np.linalg.inv(s @ s.T)
        projector = s.T @ gram_inv @ s
        orthogonal = np.eye(k) - projector
        columns = []
        for name in fitted:
            e = orthogonal @ partials[name].T @ gram_inv @ s  # (k, k)
            columns.append(-(root @ (e + e.T)).ravel())
        return np.stack(columns, axis=1)

    theta0 = np.array([nominal[n] for n in fitted])
    if fitted:
        result = least_squares(
            residuals, theta0, jac=jacobian, method="trf", x_scale="jac", max_nfev=max_evaluations
        )
        theta, success, evaluations = result.x, bool(result.success), int(result.nfev)
        jac = jacobian(theta)
    else:
        theta, success, evaluations, jac = theta0, True, 0, np.zeros((k * k, 0))
    best = values(theta)
    s = unit_stokes(states, mirrors, **best)
    del best["after"]
    s_pinv = np.linalg.pinv(s)
    o = d @ s_pinv  # (b, m, 4): O_b = d_b S^+
    residual = d - o @ s
    dof_bin = n_mod * (k - 4)
    if dof_bin <= 0:
        raise PolcalSequenceError(
            f"the polcal sequence has {k} states: more than 4 are needed to estimate the noise"
        )
    rss_bin = np.sum(residual**2, axis=(1, 2))
    sigma2 = float(np.sum(rss_bin)) / max(n_bins * dof_bin - len(fitted), 1)
    uncertainties = dict.fromkeys(CU_PARAMETERS, 0.0)
    correlation = np.eye(len(fitted))
    if fitted:
        covariance = sigma2 * np.linalg.pinv(jac.T @ jac)
        std = np.sqrt(np.diag(covariance))
        uncertainties.update(zip(fitted, std.tolist()))
        correlation = covariance / np.outer(std, std)
    norm = o[:, :, 0].mean(axis=1)
    if np.any(norm <= 0):
        raise ValueError("fitted modulation matrix has no intensity response in some bins")
    o_sigma = (
        np.sqrt(rss_bin / dof_bin)[:, None, None]
        * np.sqrt(np.diag(np.linalg.inv(s @ s.T)))[None, None, :]
    )
    o_sigma = np.broadcast_to(o_sigma, o.shape) / norm[:, None, None]
    o = o / norm[:, None, None]
    demod = np.linalg.pinv(o)
    efficiency = 1.0 / np.sqrt(n_mod * np.sum(demod**2, axis=2))
    return PolcalFit(
        modulation=o.reshape(*spatial, n_mod, 4),
        demodulation=demod.reshape(*spatial, 4, n_mod),
        residual_rms=np.sqrt(rss_bin / (n_mod * k)).reshape(spatial),
        efficiency=efficiency.reshape(*spatial, 4),
        parameters=best,
        uncertainties=uncertainties,
        fitted=fitted,
        correlation=correlation,
        modulation_uncertainty=np.ascontiguousarray(o_sigma).reshape(*spatial, n_mod, 4),
        residual_sigma=float(np.sqrt(sigma2)),
        iterations=evaluations,
        success=success,
        input_stokes=s,
        residual=residual.astype(np.float32).reshape(*spatial, n_mod, k),
    )


def fit_polcal_bin_by_bin(
    polcal_data: np.ndarray,
    states: PolcalStates,
    mirrors: TelescopeMirrors,
    nominal: dict,
    fit_parameters: Sequence[str] = CU_PARAMETERS,
) -> dict[str, np.ndarray]:
    """The unit's parameters fitted in each bin on its own (one :func:`fit_polcal` per bin).

    This is how DKIST's PA&C fits (one bin at a time); here it is the reference the joint fit is
    measured against. Returns ``{name: (...) per-bin values}`` and ``{name + '_sigma': ...}``.
    """
    data = np.asarray(polcal_data)
    spatial = data.shape[2:]
    flat = data.reshape(*data.shape[:2], -1)
    out: dict[str, list] = {}
    for b in range(flat.shape[2]):
        fit = fit_polcal(flat[:, :, b : b + 1], states, mirrors, nominal, fit_parameters)
        for name in fit_parameters:
            out.setdefault(name, []).append(fit.parameters[name])
            out.setdefault(f"{name}_sigma", []).append(fit.uncertainties[name])
    return {k: np.array(v).reshape(spatial) for k, v in out.items()}
