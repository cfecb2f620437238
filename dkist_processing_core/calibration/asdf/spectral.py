"""Correction of a one-pixel offset in dkist-inventory's linear spectral axis.

dkist-inventory 1.11 (``TransformBuilder.find_wavelength_at_zero_pixel``) takes
the wavelength at (0-based) pixel 0 as ``CRVAL - CRPIX * CDELT``. FITS pixels are
1-based, so the wavelength at 0-based pixel 0 is ``CRVAL - (CRPIX - 1) * CDELT``:
the dataset's wavelengths come out one pixel (one CDELT) too short, which the
ASDF check against the frames' own FITS WCS shows. We correct the ``Spectral``
``Linear1D`` model's intercept, and only when it carries exactly the offset
value, so that a dkist-inventory with the fix is left alone.
"""

from __future__ import annotations

import astropy.units as u
from astropy.modeling import models


def spectral_axis(header) -> int | None:
    """FITS axis number of the linear wavelength axis, if any."""
    for n in range(1, int(header.get("NAXIS", 0)) + 1):
        if str(header.get(f"CTYPE{n}", "")).startswith(("AWAV", "WAVE")):
            return n
    return None


def correct_spectral_reference(transform, header) -> bool:
    """Fix the Spectral model's intercept in ``transform`` in place; True if changed."""
    n = spectral_axis(header)
    if n is None or transform is None:
        return False
    unit = u.Unit(header.get(f"CUNIT{n}", "m") or "m")
    crval, crpix, cdelt = (header[f"{k}{n}"] for k in ("CRVAL", "CRPIX", "CDELT"))
    offset_value = (crval - crpix * cdelt) * unit
    correct_value = (crval - (crpix - 1) * cdelt) * unit
    changed = False
    for leaf in transform.traverse_postorder():
        if isinstance(leaf, models.Linear1D) and leaf.name == "Spectral":
            intercept = (
                leaf.intercept.quantity if leaf.intercept.unit else leaf.intercept.value * unit
            )
            tolerance = abs(cdelt * unit) * 1e-6
            if abs(intercept - offset_value) <= tolerance:
                leaf.intercept = correct_value.to(intercept.unit)
                changed = True
    return changed


def correct_gwcs(wcs, header) -> bool:
    """Apply :func:`correct_spectral_reference` to every step of a gwcs."""
    changed = False
    for step in wcs.pipeline:
        changed |= correct_spectral_reference(step.transform, header)
    return changed
