"""The browse movie task."""

from __future__ import annotations

from ...framework import Task
from .. import tags as t
from .algorithm import write_browse_movie


class MakeBrowseMovie(Task):
    r"""Make the browse movie of the dataset and its still preview.

    Algorithm
    ---------
    The L1 frames are read one at a time in time order; each movie frame shows one
    measurement: Stokes I alone, or I, Q, U and V side by side for polarimetric
    data. Grey levels are fixed for the whole movie from percentiles of a subsample
    of every frame (so brightness changes are real, not rescaling), panels are
    enlarged by a whole factor to at least 256 pixels high, and the picture is
    padded to a multiple of 16 pixels so the H.264 encoder never resamples it. The
    preview is the middle movie frame as PNG.

    Inputs
    ------
    L1 frames tagged ``OUTPUT``, ``L1``.

    Outputs
    -------
    The movie (MP4, H.264) tagged ``OUTPUT``, ``MOVIE``, ``BROWSE_MOVIE``, and the preview
    (PNG) tagged ``OUTPUT``, ``MOVIE``, ``PREVIEW``.

    Parameters
    ----------
    None.

    Limitations
    -----------
    A preview, not science: 8-bit grey levels with percentile limits clip the
    brightest and darkest features, and H.264 compression blurs fine structure and
    adds block artefacts. Use the L1 frames for any measurement.
    """

    reads = ((t.OUTPUT, t.L1),)
    writes = ((t.OUTPUT, t.MOVIE, t.BROWSE_MOVIE), (t.OUTPUT, t.MOVIE, t.PREVIEW))
    libraries = ("imageio", "imageio-ffmpeg")

    def run(self) -> None:
        frames = self.scratch.find(t.OUTPUT, t.L1)
        movie_path = self.scratch.path_for("browse_movie.mp4")
        movie = write_browse_movie(frames, movie_path, self.scratch.path_for("preview.png"))
        self.scratch.add(movie.movie_path, [t.OUTPUT, t.MOVIE, t.BROWSE_MOVIE])
        self.scratch.add(movie.preview_path, [t.OUTPUT, t.MOVIE, t.PREVIEW])
        self.logger.info(
            "browse movie: %d frames, %dx%d", movie.frame_count, movie.width, movie.height
        )
