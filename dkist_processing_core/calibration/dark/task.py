"""The dark calibration task."""

from __future__ import annotations

from ...framework import Parameter, Task
from .. import tags as t
from ..input.frames import InputFrameError
from ..products import exposure_times, frame_shape, raw_frames, write_array_product
from .algorithm import average_dark


class DarkCalibration(Task):
    r"""Average the dark frames of each exposure time into a master dark.

    Algorithm
    ---------
    The detector records, with the shutter closed, a bias and a dark current that
    grows with exposure time :math:`t`. For each exposure time the master dark is
    the per-pixel mean of its :math:`N_t` dark frames :math:`R_i`,

    .. math:: D_t(y, x) = \frac{1}{N_t} \sum_{i=1}^{N_t} R_i(y, x),

    computed as a running mean so that memory does not grow with :math:`N_t`. With
    ``dark_rejection_sigma`` set, a second pass drops, per pixel, the samples more
    than that many standard deviations from the first-pass mean (cosmic rays).

    Before averaging, the task checks that every exposure time used by the other
    input frames (gains, polcals, observe) has darks, so a missing dark stops the
    run at once, naming the exposure time and how many frames need it.

    Inputs
    ------
    Raw frames tagged ``INPUT``, ``TASK_DARK``, ``EXP_TIME_<ms>``.

    Outputs
    -------
    One float32 master dark per exposure time, tagged ``INTERMEDIATE``,
    ``TASK_DARK``, ``EXP_TIME_<ms>``.

    Parameters
    ----------
    dark_rejection_sigma
        Per-pixel outlier rejection threshold in standard deviations, or ``null``
        for a plain mean.

    Limitations
    -----------
    The master dark is a mean per exposure time: there is no interpolation
    between exposure times, so every exposure time used by another frame needs darks
    of its own, and no scaling for detector temperature or time of day. Bias drifts
    during the observation and detector non-linearity are not modelled. The optional
    rejection is a per-pixel sigma clip, which cannot tell an outlier from noise with
    fewer than about five frames per exposure time. DKIST's own pipelines also take
    darks per exposure time; for infrared cameras they additionally linearise the
    ramps before averaging, which this task does not do.
    """

    reads = ((t.INPUT, t.task(t.DARK)),)
    writes = ((t.INTERMEDIATE, t.task(t.DARK)),)
    parameters = (
        Parameter(
            "dark_rejection_sigma",
            "float",
            default=None,
            nullable=True,
            minimum=1.0,
            unit="standard deviations",
            description="per-pixel outlier rejection threshold; null for a plain mean",
        ),
    )

    def run(self) -> None:
        dark_times = exposure_times(self.scratch, t.task(t.DARK))
        if not dark_times:
            raise InputFrameError("the input dataset has no dark frames")
        for kind in (t.LAMP_GAIN, t.SOLAR_GAIN, t.POLCAL, t.OBSERVE):
            for needed in exposure_times(self.scratch, t.task(kind)):
                if needed not in dark_times:
                    n = self.scratch.count(t.INPUT, t.task(kind), t.exposure_time(needed))
                    raise InputFrameError(
                        f"{n} {kind} frame(s) have exposure time {needed:g} ms, for which the "
                        f"input dataset has no darks (darks: {', '.join(f'{d:g}' for d in dark_times)} ms)"
                    )
        sigma = self.parameter("dark_rejection_sigma")
        shape = frame_shape(self.scratch)
        for exposure in self.progress(dark_times, description="darks per exposure time"):
            frames = raw_frames(
                self.scratch, t.task(t.DARK), t.exposure_time(exposure), shape=shape
            )
            dark = average_dark(frames, rejection_sigma=sigma)
            write_array_product(
                self.scratch,
                dark,
                [t.INTERMEDIATE, t.task(t.DARK), t.exposure_time(exposure)],
                f"dark_{exposure:g}ms",
            )
            self.logger.info("dark %g ms: mean %.2f counts", exposure, float(dark.mean()))
