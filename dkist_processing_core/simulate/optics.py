"""Polarization optics of the simulated telescope: Mueller matrices and modulation matrices.

Conventions (used throughout the simulator and checked by tests against textbook values):

* Stokes vectors are ``(I, Q, U, V)``; angles are measured from the +Q direction, in degrees.
* An element rotated by angle ``theta`` has Mueller matrix ``R(-theta) M R(theta)``, where
  ``R(theta)`` rotates the linear polarization frame by ``2 theta``.

The simulator builds its matrices by that rotation (a route deliberately independent of the
closed forms used in :mod:`dkist_processing_core.calibration.polcal.algorithm`), so a mistake in
either implementation shows up as a failed fit rather than cancelling out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def rotation_mueller(angle_deg: float) -> np.ndarray:
    """Mueller matrix rotating the linear-polarization reference frame by ``angle_deg``."""
    two_theta = np.deg2rad(2.0 * angle_deg)
    c, s = np.cos(two_theta), np.sin(two_theta)
    return np.array(
        [[1, 0, 0, 0], [0, c, s, 0], [0, -s, c, 0], [0, 0, 0, 1]],
        dtype=float,
    )


def polarizer_mueller(angle_deg: float = 0.0, transmission: float = 1.0) -> np.ndarray:
    """Ideal linear polarizer (transmission axis at ``angle_deg``); unpolarized light loses half."""
    aligned = (
        0.5
        * transmission
        * np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=float)
    )
    return rotation_mueller(-angle_deg) @ aligned @ rotation_mueller(angle_deg)


def retarder_mueller(retardance_deg: float, angle_deg: float = 0.0) -> np.ndarray:
    """Ideal linear retarder with fast axis at ``angle_deg`` and retardance ``retardance_deg``."""
    delta = np.deg2rad(retardance_deg)
    c, s = np.cos(delta), np.sin(delta)
    aligned = np.array(
        [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, c, s], [0, 0, -s, c]],
        dtype=float,
    )
    return rotation_mueller(-angle_deg) @ aligned @ rotation_mueller(angle_deg)


def rotating_retarder_modulation_matrix(
    n_modulator_states: int,
    *,
    retardance_deg: float = 127.0,
    start_angle_deg: float = 0.0,
    analyzer_angle_deg: float = 0.0,
    throughput: float = 1.0,
) -> np.ndarray:
    """Modulation matrix ``O`` (n_modulator_states x 4) of a discrete rotating-retarder modulator.

    State ``m`` has the retarder fast axis at ``start + 180 m / n`` degrees, followed by a linear
    polarizer (the analyzer). Row ``m`` of ``O`` is the first row of
    ``throughput * M_analyzer @ M_retarder(theta_m)``: the intensity recorded in state ``m`` for an
    incoming Stokes vector ``S`` is ``O[m] @ S``.
    """
    if n_modulator_states < 1:
        raise ValueError(f"n_modulator_states must be >= 1, got {n_modulator_states}")
    angles = start_angle_deg + 180.0 * np.arange(n_modulator_states) / n_modulator_states
    analyzer = polarizer_mueller(analyzer_angle_deg, transmission=throughput)
    return np.stack([(analyzer @ retarder_mueller(retardance_deg, a))[0] for a in angles])


@dataclass(frozen=True)
class CalibrationUnitState:
    """One configuration of the calibration unit (GOS polarizer and retarder).

    ``None`` angles mean the element is out of the beam ("clear").
    """

    polarizer_angle_deg: float | None
    retarder_angle_deg: float | None

    @property
    def polarizer_in(self) -> bool:
        return self.polarizer_angle_deg is not None

    @property
    def retarder_in(self) -> bool:
        return self.retarder_angle_deg is not None

    def mueller(self, retardance_deg: float) -> np.ndarray:
        """Mueller matrix of the unit: polarizer first, then retarder (light travels that way)."""
        m = np.eye(4)
        if self.polarizer_in:
            m = polarizer_mueller(self.polarizer_angle_deg) @ m
        if self.retarder_in:
            m = retarder_mueller(retardance_deg, self.retarder_angle_deg) @ m
        return m

    def stokes_out(self, retardance_deg: float, stokes_in=(1.0, 0.0, 0.0, 0.0)) -> np.ndarray:
        """Stokes vector leaving the calibration unit for the given input (unpolarized default)."""
        return self.mueller(retardance_deg) @ np.asarray(stokes_in, dtype=float)


def default_polcal_sequence() -> list[CalibrationUnitState]:
    """A polcal sequence like DKIST's: clears, polarizer alone, then polarizer + retarder.

    Four polarizer angles constrain Q and U; the retarder (quarter-wave-ish) at six angles
    converts linear into circular polarization so V is constrained too.
    """
    states = [CalibrationUnitState(None, None)]
    states += [CalibrationUnitState(a, None) for a in (0.0, 45.0, 90.0, 135.0)]
    states += [CalibrationUnitState(0.0, a) for a in (0.0, 30.0, 60.0, 90.0, 120.0, 150.0)]
    states.append(CalibrationUnitState(None, None))
    return states
