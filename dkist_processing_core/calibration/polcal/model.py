"""Mueller matrices of DKIST's light path as polarimetric calibration models it.

Conventions: Stokes vectors are ``(I, Q, U, V)``, angles are in degrees from +Q, and
:func:`rotation` ``R(theta)`` rotates the linear-polarization reference frame by ``theta``
(``Q' = cos 2theta Q + sin 2theta U``). Every function takes array arguments and returns a stack
of matrices (``(..., 4, 4)``), so a whole sequence of states or frames is one call.

The light path, from the Sun to the detector (mirror groups and rotations as in DKIST's PA&C
telescope model)::

    S_det = O  R(az - ta)  M56  R(-(el + r45))  M34  R(-90 + r23)  [ C_k ]  M12  S_sun
            ^  ^           ^    ^               ^    ^               ^      ^
            |  |           |    |               |    |               |      mirrors M1-M2
            |  |           |    |               |    |               calibration unit (GOS) at
            |  |           |    |               |    |               the Gregorian focus: only in
            |  |           |    |               |    |               polcal frames (see below)
            |  |           |    |               |    fixed rotation between M2 and M3
            |  |           |    |               mirrors M3-M4
            |  |           |    rotation by the telescope elevation ``el`` (TELEVATN)
            |  |           mirrors M5-M6
            |  rotation into the coude lab by azimuth ``az`` (TAZIMUTH) minus coude table angle
            |  ``ta`` (TTBLANGL)
            the modulation matrix of everything that turns with the coude table: mirrors
            M7-M10 and the instrument's modulator and analyzer (n_mod x 4)

A mirror group is a diattenuating retarder aligned with Q (:func:`mirror`): ``x`` is the ratio of
the s and p amplitude reflectivities (1 for no diattenuation) and ``t`` its retardance
(180 degrees for an ideal mirror pair). M7-M10 turn with the instrument, so their Mueller matrix
cannot be told apart from the modulation matrix: it is part of ``O``. The telescope matrix
``T(el, az, ta)`` (everything from M1 to M6) maps the Stokes vector from the Sun to the one
entering the coude lab; the science correction inverts it frame by frame.

The calibration unit in state ``k`` is ``C_k = [t_ret Ret(delta, phi_k)] [t_pol Pol(theta_k)]``
(each factor only when the element is in the beam): an ideal linear polarizer at ``theta_k``
with transmission ``t_pol``, then a linear retarder of retardance ``delta`` at ``phi_k`` with
transmission ``t_ret``. Light reaching the unit has passed M1-M2; during polcal the light level
is assumed constant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

#: Names of the calibration-unit parameters the fit can determine.
CU_PARAMETERS = ("retardance_deg", "polarizer_transmission", "retarder_transmission")


def _cs2(angle_deg) -> tuple[np.ndarray, np.ndarray]:
    two = np.deg2rad(2.0 * np.asarray(angle_deg, dtype=float))
    return np.cos(two), np.sin(two)


def rotation(angle_deg) -> np.ndarray:
    """Rotation of the reference frame by ``angle_deg``: (..., 4, 4)."""
    c, s = _cs2(angle_deg)
    m = np.zeros((*c.shape, 4, 4))
    m[..., 0, 0] = m[..., 3, 3] = 1.0
    m[..., 1, 1] = m[..., 2, 2] = c
    m[..., 1, 2] = s
    m[..., 2, 1] = -s
    return m


def mirror(x, retardance_deg) -> np.ndarray:
    """Mirror (group) Mueller matrix, normalised to unit throughput for unpolarized light.

    ``[[1, a, 0, 0], [a, 1, 0, 0], [0, 0, b cos t, b sin t], [0, 0, -b sin t, b cos t]]`` with
    ``a = (1 - x^2) / (1 + x^2)`` and ``b = 2x / (1 + x^2)`` (so ``a^2 + b^2 = 1``).
    """
    x = np.asarray(x, dtype=float)
    tau = np.deg2rad(np.asarray(retardance_deg, dtype=float))
    x, tau = np.broadcast_arrays(x, tau)
    a = (1 - x**2) / (1 + x**2)
    b = 2 * x / (1 + x**2)
    m = np.zeros((*x.shape, 4, 4))
    m[..., 0, 0] = m[..., 1, 1] = 1.0
    m[..., 0, 1] = m[..., 1, 0] = a
    m[..., 2, 2] = m[..., 3, 3] = b * np.cos(tau)
    m[..., 2, 3] = b * np.sin(tau)
    m[..., 3, 2] = -b * np.sin(tau)
    return m


def polarizer(angle_deg, transmission=1.0) -> np.ndarray:
    """Ideal linear polarizer, axis at ``angle_deg``; unpolarized light keeps ``transmission / 2``."""
    c, s = _cs2(angle_deg)
    c, s, t = np.broadcast_arrays(c, s, np.asarray(transmission, dtype=float))
    m = np.zeros((*c.shape, 4, 4))
    rows = (np.ones_like(c), c, s)
    for i in range(3):
        for j in range(3):
            m[..., i, j] = 0.5 * t * rows[i] * rows[j]
    return m


def retarder(retardance_deg, angle_deg, *, derivative: bool = False) -> np.ndarray:
    """Ideal linear retarder (fast axis at ``angle_deg``); with ``derivative`` its d/d(retardance)
    per degree."""
    c, s = _cs2(angle_deg)
    d = np.deg2rad(np.asarray(retardance_deg, dtype=float))
    c, s, d = np.broadcast_arrays(c, s, d)
    cd, sd = np.cos(d), np.sin(d)
    m = np.zeros((*c.shape, 4, 4))
    if derivative:
        k = np.pi / 180.0
        one_minus, cd, sd = k * sd, -k * sd, k * cd  # d(1 - cos), d(cos), d(sin)
    else:
        m[..., 0, 0] = 1.0
        one_minus = 1 - cd
    m[..., 1, 1] = c * c * (1.0 if not derivative else 0.0) + s * s * cd
    m[..., 1, 2] = m[..., 2, 1] = c * s * one_minus
    m[..., 1, 3] = -s * sd
    m[..., 2, 2] = s * s * (1.0 if not derivative else 0.0) + c * c * cd
    m[..., 2, 3] = c * sd
    m[..., 3, 1] = s * sd
    m[..., 3, 2] = -c * sd
    m[..., 3, 3] = cd
    return m


@dataclass(frozen=True)
class TelescopeMirrors:
    """Mirror-group parameters of the telescope model (from the telescope's calibration).

    ``x``: ratio of the s and p amplitude reflectivities; ``t``: retardance in degrees.
    """

    x12: float = 1.0
    t12: float = 180.0
    x34: float = 1.0
    t34: float = 180.0
    x56: float = 1.0
    t56: float = 180.0
    #: Fixed rotation offsets (degrees) between M2 and M3 and at the elevation axis (DKIST's).
    r23_offset_deg: float = -3.517
    r45_offset_deg: float = -4.385

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, float], source: str = "parameters"
    ) -> TelescopeMirrors:
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"{source}: unknown telescope mirror parameter(s) {sorted(unknown)}; "
                f"expected {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**{k: float(v) for k, v in values.items()})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def before_unit(mirrors: TelescopeMirrors) -> np.ndarray:
    """M12: the part of the telescope in front of the calibration unit (4, 4)."""
    return mirror(mirrors.x12, mirrors.t12)


def after_unit(mirrors: TelescopeMirrors, elevation_deg, azimuth_deg, table_angle_deg):
    """``R(az - ta) M56 R(-(el + r45)) M34 R(-90 + r23)``: from the unit into the coude lab."""
    el = np.asarray(elevation_deg, dtype=float)
    coude = np.asarray(azimuth_deg, dtype=float) - np.asarray(table_angle_deg, dtype=float)
    return (
        rotation(coude)
        @ mirror(mirrors.x56, mirrors.t56)
        @ rotation(-(el + mirrors.r45_offset_deg))
        @ mirror(mirrors.x34, mirrors.t34)
        @ rotation(-90.0 + mirrors.r23_offset_deg)
    )


def telescope(mirrors: TelescopeMirrors, elevation_deg, azimuth_deg, table_angle_deg):
    """Telescope Mueller matrix (M1 to M6) at the given geometry, (..., 4, 4)."""
    return after_unit(mirrors, elevation_deg, azimuth_deg, table_angle_deg) @ before_unit(mirrors)


def model_angles_from_header(polarizer_deg, retarder_deg):
    """Unit angles in the model's frame from the header's (``PAC__005``, ``PAC__007``).

    DKIST's headers give the GOS angles in their own frame: the polarizer's model angle is
    ``90 - header`` and the retarder's ``-header`` degrees (the conversion DKIST's PA&C code
    applies). ``None`` (element out of the beam) stays ``None``.
    """
    polarizer = None if polarizer_deg is None else 90.0 - float(polarizer_deg)
    retarder = None if retarder_deg is None else -float(retarder_deg)
    return polarizer, retarder


def header_angles_from_model(polarizer_deg, retarder_deg):
    """The inverse of :func:`model_angles_from_header` (what a header says for model angles)."""
    polarizer = None if polarizer_deg is None else (90.0 - float(polarizer_deg)) % 360.0
    retarder = None if retarder_deg is None else (-float(retarder_deg)) % 360.0
    return polarizer, retarder


@dataclass(frozen=True)
class PolcalStates:
    """The K states of a polcal sequence: unit configuration and telescope geometry of each.

    Angles are NaN where the element is out of the beam (clear).
    """

    polarizer_angle_deg: np.ndarray
    retarder_angle_deg: np.ndarray
    elevation_deg: np.ndarray
    azimuth_deg: np.ndarray
    table_angle_deg: np.ndarray

    @classmethod
    def from_records(cls, records: Sequence[Mapping]) -> PolcalStates:
        """From dicts with ``polarizer_angle_deg``/``retarder_angle_deg`` (None = clear) and
        ``elevation_deg``/``azimuth_deg``/``table_angle_deg`` (0 when absent)."""

        def angle(value):
            return np.nan if value is None else float(value)

        def col(key, default=None):
            return np.array([angle(r.get(key, default)) for r in records], dtype=float)

        return cls(
            col("polarizer_angle_deg"),
            col("retarder_angle_deg"),
            col("elevation_deg", 0.0),
            col("azimuth_deg", 0.0),
            col("table_angle_deg", 0.0),
        )

    @classmethod
    def from_header_records(cls, records: Sequence[Mapping]) -> PolcalStates:
        """As :meth:`from_records`, with the unit angles as the headers give them (see
        :func:`model_angles_from_header`)."""
        converted = []
        for r in records:
            pol, ret = model_angles_from_header(r["polarizer_angle_deg"], r["retarder_angle_deg"])
            converted.append({**r, "polarizer_angle_deg": pol, "retarder_angle_deg": ret})
        return cls.from_records(converted)

    def __len__(self) -> int:
        return len(self.polarizer_angle_deg)

    @property
    def polarizer_in(self) -> np.ndarray:
        return ~np.isnan(self.polarizer_angle_deg)

    @property
    def retarder_in(self) -> np.ndarray:
        return ~np.isnan(self.retarder_angle_deg)

    def geometries(self) -> np.ndarray:
        """Distinct (elevation, azimuth, table angle) of the sequence, (n, 3)."""
        g = np.stack([self.elevation_deg, self.azimuth_deg, self.table_angle_deg], axis=1)
        return np.unique(np.round(g, 6), axis=0)


def unit_stokes(
    states: PolcalStates,
    mirrors: TelescopeMirrors,
    retardance_deg: float,
    polarizer_transmission: float = 1.0,
    retarder_transmission: float = 1.0,
    *,
    derivatives: bool = False,
    after: np.ndarray | None = None,
):
    """Stokes vectors (4, K) entering the coude lab in each polcal state (model of the fit).

    ``S_k = A(el_k, az_k, ta_k) C_k M12 (1, 0, 0, 0)``, ``A`` from :func:`after_unit`. With ``derivatives`` also returns
    ``{name: dS/dname (4, K)}`` for the names in :data:`CU_PARAMETERS`. ``after`` may give the
    states' :func:`after_unit` matrices (K, 4, 4), which do not depend on the unit, precomputed.
    """
    k = len(states)
    incoming = np.broadcast_to(before_unit(mirrors)[:, 0], (k, 4))  # M12 (1,0,0,0)
    pol_in, ret_in = states.polarizer_in, states.retarder_in
    pol = polarizer(np.where(pol_in, states.polarizer_angle_deg, 0.0))
    after_pol = np.where(pol_in[:, None], np.einsum("kij,kj->ki", pol, incoming), incoming)
    ret_angle = np.where(ret_in, states.retarder_angle_deg, 0.0)
    ret = retarder(retardance_deg, ret_angle)
    after_ret = np.where(ret_in[:, None], np.einsum("kij,kj->ki", ret, after_pol), after_pol)
    scale = np.where(pol_in, polarizer_transmission, 1.0) * np.where(
        ret_in, retarder_transmission, 1.0
    )
    if after is None:
        after = after_unit(
            mirrors, states.elevation_deg, states.azimuth_deg, states.table_angle_deg
        )
    stokes = np.einsum("kij,kj->ik", after, after_ret) * scale
    if not derivatives:
        return stokes
    d_ret = retarder(retardance_deg, ret_angle, derivative=True)
    d_after_ret = np.where(ret_in[:, None], np.einsum("kij,kj->ki", d_ret, after_pol), 0.0)
    partials = {
        "retardance_deg": np.einsum("kij,kj->ik", after, d_after_ret) * scale,
        "polarizer_transmission": np.where(pol_in, stokes / polarizer_transmission, 0.0),
        "retarder_transmission": np.where(ret_in, stokes / retarder_transmission, 0.0),
    }
    return stokes, partials
