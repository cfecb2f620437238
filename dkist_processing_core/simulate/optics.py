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

    def mueller(
        self,
        retardance_deg: float,
        polarizer_transmission: float = 1.0,
        retarder_transmission: float = 1.0,
    ) -> np.ndarray:
        """Mueller matrix of the unit: polarizer first, then retarder (light travels that way)."""
        m = np.eye(4)
        if self.polarizer_in:
            m = polarizer_mueller(self.polarizer_angle_deg, polarizer_transmission) @ m
        if self.retarder_in:
            m = (
                retarder_transmission
                * retarder_mueller(retardance_deg, self.retarder_angle_deg)
                @ m
            )
        return m

    def stokes_out(
        self,
        retardance_deg: float,
        stokes_in=(1.0, 0.0, 0.0, 0.0),
        polarizer_transmission: float = 1.0,
        retarder_transmission: float = 1.0,
    ) -> np.ndarray:
        """Stokes vector leaving the calibration unit for the given input (unpolarized default)."""
        m = self.mueller(retardance_deg, polarizer_transmission, retarder_transmission)
        return m @ np.asarray(stokes_in, dtype=float)


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


# -- the telescope ---------------------------------------------------------------------------------
# Built from Jones matrices (a route independent of the closed forms of the pipeline's model in
# dkist_processing_core.calibration.polcal.model), so an error in either shows up in the tests.

_JONES_TO_MUELLER = np.array(
    [[1, 0, 0, 1], [1, 0, 0, -1], [0, 1, 1, 0], [0, 1j, -1j, 0]], dtype=complex
)


def mueller_from_jones(jones: np.ndarray) -> np.ndarray:
    """Mueller matrix of a non-depolarizing element from its 2x2 Jones matrix."""
    a = _JONES_TO_MUELLER
    return np.real(a @ np.kron(jones, np.conj(jones)) @ np.linalg.inv(a))


def mirror_mueller(x: float, retardance_deg: float) -> np.ndarray:
    """A mirror (group): amplitude reflectivities 1 (p, along +Q) and ``x`` (s), retardance ``t``
    between them; normalised to unit throughput for unpolarized light."""
    jones = np.diag([1.0, x * np.exp(-1j * np.deg2rad(retardance_deg))])
    m = mueller_from_jones(jones)
    return m / m[0, 0]


@dataclass(frozen=True)
class TelescopeTruth:
    """True mirror-group parameters (x: s/p amplitude ratio, t: retardance in degrees).

    M7-M10 turn with the coude table and the instrument, so they act like part of the
    modulator: :meth:`coude_mueller` is applied after the modulation-matrix-free telescope.
    """

    x12: float = 1.02
    t12: float = 172.0
    x34: float = 1.03
    t34: float = 168.0
    x56: float = 1.025
    t56: float = 163.0
    x710: float = 1.03
    t710: float = 170.0
    r23_offset_deg: float = -3.517
    r45_offset_deg: float = -4.385

    def upstream(self) -> np.ndarray:
        """M1-M2, in front of the calibration unit."""
        return mirror_mueller(self.x12, self.t12)

    def downstream(self, elevation_deg: float, azimuth_deg: float, table_angle_deg: float):
        """From the calibration unit into the coude lab: M3-M4 and M5-M6 with the rotations
        between M2/M3 (fixed), M4/M5 (elevation) and into the coude lab (azimuth - table)."""
        m = rotation_mueller(-90.0 + self.r23_offset_deg)
        m = mirror_mueller(self.x34, self.t34) @ m
        m = rotation_mueller(-(elevation_deg + self.r45_offset_deg)) @ m
        m = mirror_mueller(self.x56, self.t56) @ m
        return rotation_mueller(azimuth_deg - table_angle_deg) @ m

    def mueller(self, elevation_deg: float, azimuth_deg: float, table_angle_deg: float):
        """Sun to coude lab (without M7-M10)."""
        return self.downstream(elevation_deg, azimuth_deg, table_angle_deg) @ self.upstream()

    def coude_mueller(self) -> np.ndarray:
        """M7-M10."""
        return mirror_mueller(self.x710, self.t710)
