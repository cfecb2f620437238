"""Where DKIST is, seen from the Sun: the SOLARNET observer keywords of a frame.

``OBSGEO-X/Y/Z`` (the geocentric position of the telescope), ``OBS_VR`` (the outward velocity
of the telescope with respect to the Sun) and ``SOLARRAD`` (the apparent solar radius) at the
time of a frame. The coordinate transformation is computed for a block of seconds at once and
cached, so a dataset pays for one transformation per minute of observation.
"""

from __future__ import annotations

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation
from astropy.time import Time

__all__ = ["DKIST_GEOCENTRIC_M", "DKIST_LOCATION", "OBSERVER_BLOCK_SECONDS", "observer_keys"]

#: Geodetic position of DKIST on Haleakala (astropy-data sites.json entry "DKIST").
DKIST_LOCATION = EarthLocation.from_geodetic(203.7436 * u.deg, 20.7067 * u.deg, 3067 * u.m)

#: Geocentric position of DKIST (m): OBSGEO-X, OBSGEO-Y, OBSGEO-Z.
DKIST_GEOCENTRIC_M = tuple(float(c.to_value(u.m)) for c in DKIST_LOCATION.geocentric)


#: Seconds of observation time computed together: the coordinate transformation of an array of
#: times costs about as much as that of one time (~70 ms), and gives the same numbers.
OBSERVER_BLOCK_SECONDS = 64
_OBSERVER: dict[str, tuple[float, float]] = {}


def _observer_velocity_and_solar_radius(date_avg: str) -> tuple[float, float]:
    """OBS_VR (m/s, outward velocity of DKIST w.r.t. the Sun) and SOLARRAD (arcsec).

    ``date_avg`` is an isot time to the second. The values of the following
    :data:`OBSERVER_BLOCK_SECONDS` seconds are computed in the same (vectorised) transformation
    and cached, so a dataset pays for one transformation per minute of observation.
    """
    cached = _OBSERVER.get(date_avg)
    if cached is None:
        start = Time(date_avg, format="isot", scale="utc")
        seconds = [date_avg] + [
            t[:19] for t in (start + np.arange(1, OBSERVER_BLOCK_SECONDS) * u.s).isot
        ]
        values = _observer_velocity_and_solar_radius_at(seconds)
        if len(_OBSERVER) > 1 << 17:
            _OBSERVER.clear()
        _OBSERVER.update(zip(seconds, values))
        cached = _OBSERVER[date_avg]
    return cached


def _observer_velocity_and_solar_radius_at(dates: list[str]) -> list[tuple[float, float]]:
    from sunpy.coordinates import HeliocentricInertial, sun

    obstime = Time(dates, format="isot", scale="utc")
    gcrs = DKIST_LOCATION.get_gcrs(obstime=obstime)
    hci = gcrs.transform_to(HeliocentricInertial(obstime=obstime))
    obs_vr = np.atleast_1d(hci.d_distance.to_value(u.m / u.s))
    radius = np.atleast_1d(
        np.arcsin((sun.constants.radius / hci.distance).decompose()).to_value(u.arcsec)
    )
    return [(float(v), float(r)) for v, r in zip(obs_vr, radius)]


def observer_keys(date_avg: str) -> dict[str, float | str]:
    """The SOLARNET observer keywords of a frame whose DATE-AVG is ``date_avg`` (isot)."""
    # Rounded to the second: the velocity changes by < 1 mm/s in a second; keeps the cache hot.
    obs_vr, solar_radius = _observer_velocity_and_solar_radius(date_avg[:19])
    return {
        "OBSGEO-X": DKIST_GEOCENTRIC_M[0],
        "OBSGEO-Y": DKIST_GEOCENTRIC_M[1],
        "OBSGEO-Z": DKIST_GEOCENTRIC_M[2],
        "OBS_VR": obs_vr,
        "SOLARRAD": solar_radius,
        "SPECSYS": "TOPOCENT",  # no Doppler correction of wavelengths is made
        "VELOSYS": 0.0,
    }
