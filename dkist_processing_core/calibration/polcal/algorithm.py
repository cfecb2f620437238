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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from dkist_processing_core.framework.errors import InputError

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
