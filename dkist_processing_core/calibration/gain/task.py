"""Gain (flat-field) calibration tasks."""

from __future__ import annotations

import numpy as np

from ...framework import Task
from .. import tags as t
from ..intermediates import characteristic_spectrum_variables, write_intermediate
from ..products import (
    dark_for,
    frame_shape,
    raw_frames,
    read_array_product,
    single_exposure_time,
    write_array_product,
)
from .algorithm import (
    combine_gains,
    imager_gain,
    lamp_corrected_solar,
    lamp_gain,
    solar_gain_from_corrected,
)


class LampGainCalibration(Task):
    r"""Make the lamp gain: the detector's pixel-to-pixel response seen through the lamp.

    Algorithm
    ---------
    The lamp illuminates the detector with a smooth, featureless source. The lamp
    gain is the dark-subtracted mean lamp frame normalised to a mean of one,

    .. math:: G_\mathrm{lamp} = \frac{\bar L - D_{t_L}}{\langle \bar L - D_{t_L} \rangle},

    where :math:`\bar L` is the running mean of the lamp frames and :math:`D_{t_L}`
    the master dark of their exposure time.

    Inputs
    ------
    Raw frames tagged ``INPUT``, ``TASK_LAMP_GAIN``; the master darks.

    Outputs
    -------
    The float32 lamp gain, tagged ``INTERMEDIATE``, ``TASK_LAMP_GAIN``.

    Parameters
    ----------
    None.

    Limitations
    -----------
    The lamp is assumed to illuminate the detector evenly apart from the
    detector's response: any structure of the lamp beam itself ends up in the gain.
    There is no bad-pixel map; a dead pixel gives a gain near zero and is left to the
    later steps. The lamp gain is one frame for the whole observation (no time
    dependence). DKIST's spectrograph pipelines also mask the slit's hairlines and
    handle each beam of a dual-beam polarimeter separately, which is not modelled.
    """

    reads = ((t.INPUT, t.task(t.LAMP_GAIN)), (t.INTERMEDIATE, t.task(t.DARK)))
    writes = ((t.INTERMEDIATE, t.task(t.LAMP_GAIN)),)

    def run(self) -> None:
        exposure = single_exposure_time(self.scratch, t.LAMP_GAIN)
        dark = dark_for(self.scratch, exposure, "the lamp gains")
        frames = raw_frames(self.scratch, t.task(t.LAMP_GAIN), shape=frame_shape(self.scratch))
        gain = lamp_gain(frames, dark)
        write_array_product(self.scratch, gain, [t.INTERMEDIATE, t.task(t.LAMP_GAIN)], "lamp_gain")


def lamp_corrected_solar_image(task: Task) -> np.ndarray:
    """Mean solar gain frame, dark subtracted and divided by the lamp gain."""
    scratch = task.scratch
    exposure = single_exposure_time(scratch, t.SOLAR_GAIN)
    dark = dark_for(scratch, exposure, "the solar gains")
    lamp = read_array_product(scratch, t.task(t.LAMP_GAIN), needed_by=task.name)
    frames = raw_frames(scratch, t.task(t.SOLAR_GAIN), shape=frame_shape(scratch))
    return lamp_corrected_solar(frames, dark, lamp)


class SolarGainCalibration(Task):
    r"""Make the solar gain of a spectrograph and combine it with the lamp gain.

    Algorithm
    ---------
    Solar gain frames are taken while the telescope moves quickly over quiet Sun,
    so the average frame is the solar spectrum seen through the slit and optics.
    After dark subtraction and division by the lamp gain,

    .. math:: C = \frac{\bar S - D_{t_S}}{G_\mathrm{lamp}},

    each slit row :math:`y` still holds the solar spectrum, shifted by the
    spectral shift :math:`s_y` of the geometric calibration. The characteristic
    spectrum :math:`\Phi(\lambda)` is the median of the rows aligned by
    :math:`s_y`; shifted back onto each row it is divided out, leaving the
    illumination and response not seen by the lamp (slit width, optics):

    .. math:: G_\mathrm{solar}(y, \lambda) = \frac{C(y, \lambda)}{\Phi(\lambda + s_y)},
              \qquad G = G_\mathrm{lamp} \, G_\mathrm{solar},

    normalised to a mean of one. The science frames are divided by :math:`G`.

    Inputs
    ------
    Raw frames tagged ``INPUT``, ``TASK_SOLAR_GAIN``; the master darks; the lamp
    gain; the spectral shifts (``INTERMEDIATE``, ``TASK_GEOMETRIC``).

    Outputs
    -------
    The float32 combined gain (FITS), tagged ``INTERMEDIATE``, ``TASK_GAIN``, and the
    characteristic solar spectrum ``characteristic_spectrum (spectral_pixel)``, mean one,
    as labelled HDF5 (NetCDF4 conventions, ``xarray.open_dataset(path,
    engine="h5netcdf")``), tagged ``INTERMEDIATE``, ``TASK_SOLAR_GAIN``.

    Parameters
    ----------
    None.

    Limitations
    -----------
    The characteristic spectrum is one median over all slit rows after
    alignment, so the quiet-Sun spectrum is assumed to be the same along the slit:
    solar rotation, limb darkening and any structure the telescope's motion did not
    average away print into the gain. Spectral shifts come from the geometric
    calibration; errors there appear here as residual line profiles. DKIST's ViSP
    pipeline also removes the hairlines and treats the two polarimetric beams
    separately.
    """

    reads = (
        (t.INPUT, t.task(t.SOLAR_GAIN)),
        (t.INTERMEDIATE, t.task(t.DARK)),
        (t.INTERMEDIATE, t.task(t.LAMP_GAIN)),
        (t.INTERMEDIATE, t.task(t.GEOMETRIC)),
    )
    writes = ((t.INTERMEDIATE, t.task(t.GAIN)), (t.INTERMEDIATE, t.task(t.SOLAR_GAIN)))

    def run(self) -> None:
        corrected = lamp_corrected_solar_image(self)
        shifts = read_array_product(self.scratch, t.task(t.GEOMETRIC), needed_by=self.name)
        solar = solar_gain_from_corrected(corrected, shifts)
        lamp = read_array_product(self.scratch, t.task(t.LAMP_GAIN), needed_by=self.name)
        gain = combine_gains(lamp, solar.gain)
        write_array_product(self.scratch, gain, [t.INTERMEDIATE, t.task(t.GAIN)], "gain")
        variables, coords = characteristic_spectrum_variables(solar.characteristic_spectrum)
        write_intermediate(
            self,
            [t.INTERMEDIATE, t.task(t.SOLAR_GAIN)],
            "characteristic_spectrum",
            variables,
            coords,
            primary="characteristic_spectrum",
            input_frames=self.scratch.find(t.INPUT, t.task(t.SOLAR_GAIN)),
        )


class ImagerGainCalibration(Task):
    r"""Make the gain of a filter imager, one per wavelength (filter).

    Algorithm
    ---------
    Gain frames are taken while the telescope moves over quiet Sun, which averages
    the solar structure away. For each wavelength :math:`\lambda` (each filter has
    its own illumination pattern),

    .. math:: G_\lambda = \frac{\bar S_\lambda - D_{t}}{\langle \bar S_\lambda - D_{t} \rangle},

    the dark-subtracted mean gain frame normalised to a mean of one.

    Inputs
    ------
    Raw frames tagged ``INPUT``, ``TASK_SOLAR_GAIN``, ``WAVELENGTH_<nm>``; the master darks.

    Outputs
    -------
    One float32 gain per wavelength, tagged ``INTERMEDIATE``, ``TASK_GAIN``, ``WAVELENGTH_<nm>``.

    Parameters
    ----------
    None.

    Limitations
    -----------
    The gain frames must average the solar structure away (the telescope moves
    during them); residual granulation or limb darkening remains in the gain. One gain
    per filter for the whole observation; no time dependence and no bad-pixel map.
    """

    reads = ((t.INPUT, t.task(t.SOLAR_GAIN)), (t.INTERMEDIATE, t.task(t.DARK)))
    writes = ((t.INTERMEDIATE, t.task(t.GAIN)),)

    def run(self) -> None:
        shape = frame_shape(self.scratch)
        wavelengths = t.Wavelength.values(self.scratch, t.INPUT, t.task(t.SOLAR_GAIN))
        for wl in self.progress(wavelengths, description="gains per wavelength"):
            query = (t.task(t.SOLAR_GAIN), t.wavelength(wl))
            times = t.ExposureTime.values(self.scratch, t.INPUT, *query)
            if len(times) != 1:
                raise ValueError(f"gain frames at {wl:g} nm have several exposure times {times} ms")
            dark = dark_for(self.scratch, times[0], f"the gains at {wl:g} nm")
            gain = imager_gain(raw_frames(self.scratch, *query, shape=shape), dark)
            write_array_product(
                self.scratch,
                gain,
                [t.INTERMEDIATE, t.task(t.GAIN), t.wavelength(wl)],
                f"gain_{wl:g}nm",
            )
