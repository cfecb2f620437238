"""The browse movie task."""

from __future__ import annotations

from ...framework import Parameter, Task
from .. import tags as t
from .algorithm import write_browse_movie


class MakeBrowseMovie(Task):
    r"""Make the browse movie of the dataset and its still preview.

    Algorithm
    ---------
    The L1 frames are read one at a time in time order; each movie frame shows one
    measurement: Stokes I alone, or I, Q, U and V side by side for polarimetric
    data. The movie is a preview: a large image is reduced, as soon as it is read, by
    the smallest whole factor :math:`f` that brings the movie frame's longest side to
    at most ``browse_movie_max_size`` pixels, each movie pixel being the mean of an
    :math:`f \times f` block of image pixels (area average, which also lowers the
    noise by :math:`f`); a small image is enlarged by a whole factor (nearest
    neighbour) to at least 256 pixels high. The picture is padded to a multiple of
    16 pixels so the H.264 encoder never resamples it.

    Grey levels are fixed for the whole movie (so brightness changes are real, not
    rescaling): Stokes I spans its 1st to 99th percentile, Q, U and V
    :math:`\pm` the 99th percentile of their absolute value, taken as the median
    over the frames of the percentiles the L1 writer recorded in each header
    (``DATAP01``, ``DATAP99``), or, for frames from another writer, from a
    subsample of up to 8 measurements.

    Each movie frame (8-bit grey) is piped to the ffmpeg encoder as soon as it is
    made (libx264, preset ``veryfast``, two encoder threads, which bounds the
    encoder's memory); one measurement is in memory at a time. The preview is the
    middle movie frame as an 8-bit grey PNG.

    Inputs
    ------
    L1 frames tagged ``OUTPUT``, ``L1``.

    Outputs
    -------
    The movie (MP4, H.264) tagged ``OUTPUT``, ``MOVIE``, ``BROWSE_MOVIE``, and the preview
    (PNG) tagged ``OUTPUT``, ``MOVIE``, ``PREVIEW``.

    Parameters
    ----------
    browse_movie_max_size
        The longest side of the movie frame at most, in pixels (default 2048, as
        DKIST's browse movies).

    Limitations
    -----------
    A preview, not science: the reduction by whole factors averages away structure
    finer than :math:`f` pixels and drops the last rows and columns that do not fill
    a block (fewer than :math:`f`); a block containing a NaN pixel is black. 8-bit
    grey levels with percentile limits clip the brightest and darkest features, and
    H.264 compression blurs fine structure and adds block artefacts. Header
    percentiles are estimated by the L1 writer from a subsample of each frame. Use
    the L1 frames for any measurement.
    """

    reads = ((t.OUTPUT, t.L1),)
    writes = ((t.OUTPUT, t.MOVIE, t.BROWSE_MOVIE), (t.OUTPUT, t.MOVIE, t.PREVIEW))
    libraries = ("imageio", "imageio-ffmpeg")
    parameters = (
        Parameter(
            "browse_movie_max_size",
            "int",
            default=2048,
            minimum=16,
            maximum=8192,
            unit="pixels",
            description="longest side of the browse movie frame at most",
        ),
    )

    def run(self) -> None:
        frames = self.scratch.find(t.OUTPUT, t.L1)
        movie_path = self.scratch.path_for("browse_movie.mp4")
        movie = write_browse_movie(
            frames,
            movie_path,
            self.scratch.path_for("preview.png"),
            max_size=self.parameter("browse_movie_max_size"),
        )
        self.scratch.add(movie.movie_path, [t.OUTPUT, t.MOVIE, t.BROWSE_MOVIE])
        self.scratch.add(movie.preview_path, [t.OUTPUT, t.MOVIE, t.PREVIEW])
        self.logger.info(
            "browse movie: %d frames, %dx%d (images reduced %dx)",
            movie.frame_count,
            movie.width,
            movie.height,
            movie.reduction,
        )
