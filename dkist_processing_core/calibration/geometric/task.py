"""Geometric calibration of a slit spectrograph."""

from __future__ import annotations

import numpy as np

from ...framework import Parameter, Task
from .. import tags as t
from ..gain.task import lamp_corrected_solar_image
from ..intermediates import spectral_shift_variables, write_intermediate
from .algorithm import SpectralShiftOutOfRange, measure_spectral_shifts


class GeometricCalibration(Task):
    r"""Measure the spectral shift of every slit row (slit tilt and spectral curvature).

    Algorithm
    ---------
    A spectral line imaged through a slit is not straight on the detector: the
    slit's tilt and the spectrograph's curvature shift the spectrum of row
    :math:`y` by :math:`s_y` pixels along the wavelength axis. On the lamp-corrected
    mean solar gain frame :math:`C`, each row (divided by its median) is fitted as

    .. math:: C(y, x) \approx a_y + b_y \, R(x - s_y),

    with :math:`R` a spline through the reference row, first by an integer search
    then by Gauss-Newton iterations; a second pass uses the mean aligned spectrum
    as reference. The zero point is set so that the reference row has
    :math:`s = 0`. Science frames are then resampled row by row by :math:`-s_y`
    (cubic spline), putting every wavelength in the same column.

    Inputs
    ------
    Raw frames tagged ``INPUT``, ``TASK_SOLAR_GAIN``; the master darks; the lamp gain.

    Outputs
    -------
    The spectral shift per slit row, ``spectral_shift (slit_row)`` in pixels, as labelled HDF5
    (NetCDF4 conventions, ``xarray.open_dataset(path, engine="h5netcdf")``), tagged
    ``INTERMEDIATE``, ``TASK_GEOMETRIC``.

    Parameters
    ----------
    geometric_max_shift_px
        The largest spectral shift, in pixels, searched for.

    Limitations
    -----------
    Only a shift along the wavelength axis per slit row is measured (slit tilt
    and spectral curvature); a rotation of the spectrum, a distortion along the slit
    and a dispersion that changes along the row are not. The shift must lie within
    ``geometric_max_shift_px`` of the reference row: a fitted shift beyond it stops the run
    with :class:`~dkist_processing_core.calibration.geometric.algorithm.SpectralShiftOutOfRange`
    naming the rows and their shifts (it is never used). DKIST's ViSP pipeline also fits
    the beam angle and the offset between its two polarimetric beams.
    """

    reads = (
        (t.INPUT, t.task(t.SOLAR_GAIN)),
        (t.INTERMEDIATE, t.task(t.DARK)),
        (t.INTERMEDIATE, t.task(t.LAMP_GAIN)),
    )
    writes = ((t.INTERMEDIATE, t.task(t.GEOMETRIC)),)
    parameters = (
        Parameter(
            "geometric_max_shift_px",
            "float",
            default=5.0,
            minimum=0.1,
            maximum=100.0,
            unit="pixels",
            description="the largest spectral shift searched for",
        ),
    )

    def run(self) -> None:
        corrected = lamp_corrected_solar_image(self)
        bound = float(self.parameter("geometric_max_shift_px"))
        try:
            shifts = measure_spectral_shifts(corrected, max_shift=bound)
        except SpectralShiftOutOfRange as e:
            # Never used silently: the run stops, naming the parameter that bounds the search.
            raise SpectralShiftOutOfRange(e.shifts, bound, "geometric_max_shift_px") from None
        variables, coords = spectral_shift_variables(shifts)
        write_intermediate(
            self,
            [t.INTERMEDIATE, t.task(t.GEOMETRIC)],
            "spectral_shifts",
            variables,
            coords,
            primary="spectral_shift",
            input_frames=self.scratch.find(t.INPUT, t.task(t.SOLAR_GAIN)),
        )
        self.logger.info("spectral shifts from %.3f to %.3f px", np.min(shifts), np.max(shifts))
