"""The quality report task."""

from __future__ import annotations

from ...framework import Task
from .. import tags as t
from ..intermediates import quality_variables, write_intermediate
from .metrics import compute_quality_metrics
from .report import report_metrics, write_quality_data, write_quality_report


class AssembleQualityReport(Task):
    r"""Measure the quality of the Level 1 frames and draw the quality report.

    Algorithm
    ---------
    The L1 frames are visited one at a time. For each frame:

    - the Fried parameter :math:`r_0` (``ATMOS_R0``), kept only where the adaptive
      optics were locked (``AO_LOCK``), as a function of time;
    - the light level (``LIGHTLVL``, or the mean of the frame), and the mean, median
      and maximum of the frame: those the L1 writer computed while it held the pixels
      (``DATAMEAN``, ``DATAMEDN``, ``DATAMAX``), so no pixel is read for them; a frame
      from another writer (no ``DKPC`` provenance in ``HISTORY``) is read whole;
    - the noise, estimated robustly from second differences of neighbouring pixels,
      :math:`\sigma = 1.4826\,\mathrm{MAD}(x_{j-1} - 2x_j + x_{j+1}) / \sqrt{6}`,
      insensitive to the smooth solar structure, on a sample of the frame: whole
      compression tiles of rows (64 rows of a 4096-pixel frame), one drawn at random
      from each of equal strata of the frame with a fixed seed, as many as make up
      to :math:`n = 2^{20}` second differences (5 tiles, 8 % of a 4096x4096 frame;
      only those tiles are decompressed). A smaller frame is used whole. Each
      estimate carries its standard error, :math:`1.45\,\sigma/\sqrt{n}` (0.13 %
      for :math:`n \approx 1.3\times10^6`; the factor, from a Monte Carlo of white
      noise, allows for the correlation of overlapping second differences), and
      :math:`n`, both in the quality data and stated in the report;
    - for polarimetric data, per Stokes parameter :math:`X \in \{Q, U, V\}`, the
      polarimetric noise :math:`\sigma_X / \langle I \rangle` and sensitivity
      :math:`\sigma_X / \max I`, with the standard error of the noise.

    Frame counts are compared with the expected count, and warnings are raised for
    missing frames, unlocked AO and outliers. The report metrics are assembled once
    per dataset; from them the task writes the quality data as JSON (the
    machine-readable quality data, in ``dkist-quality``'s format) and draws the PDF
    report with ``dkist-quality``.

    Diagnostics that calibration tasks wrote for the report (``QUALITY``, ``TASK_<kind>``
    JSON, e.g. the polcal fit: calibration-unit parameters with uncertainties, residuals,
    polarimetric efficiencies) are included as they are, one JSON file each.

    Inputs
    ------
    L1 frames tagged ``OUTPUT``, ``L1``; calibration diagnostics tagged ``QUALITY``.

    Outputs
    -------
    The quality data (JSON, tagged ``OUTPUT``, ``QUALITY``, ``QUALITY_DATA``), the report
    metrics in ``dkist-quality``'s format (JSON, ``QUALITY_REPORT_DATA``) and the PDF
    quality report (``QUALITY_REPORT``); the time series (r0, light level, noise per frame;
    polarimetric noise and sensitivity per measurement) as labelled HDF5 for xarray
    (``QUALITY_TIMESERIES``, ``xarray.open_dataset(path, engine="h5netcdf")``); each calibration diagnostic (e.g. the polarimetric
    fit) as ``<dataset>_<name>.json``, tagged ``OUTPUT``, ``QUALITY``, ``DIAGNOSTIC`` and
    the task kind that made it.

    Parameters
    ----------
    None.

    Limitations
    -----------
    The noise estimate from second differences assumes white noise on a
    smooth signal; sharp solar structure (sunspot edges, limb) biases it high. The
    stated standard error is that of white noise of one level; where the noise
    varies over the frame (photon noise on a structured scene) the sample of tiles
    adds a sampling error it does not include, and a feature confined to rows outside
    the sampled tiles does not enter the estimate. The median is the L1 writer's, from
    a regular subsample of :math:`2^{18}` pixels. The
    Fried parameter is the one the raw headers carry (from the adaptive optics), not
    measured from the data. The report describes the dataset as delivered; it does
    not judge its scientific usefulness.
    """

    reads = ((t.OUTPUT, t.L1),)
    writes = (
        (t.OUTPUT, t.QUALITY, t.QUALITY_DATA),
        (t.OUTPUT, t.QUALITY, t.QUALITY_REPORT_DATA),
        (t.OUTPUT, t.QUALITY, t.QUALITY_REPORT),
        (t.OUTPUT, t.QUALITY, t.QUALITY_TIMESERIES),
    )
    libraries = ("dkist-quality",)

    def run(self) -> None:
        frames = self.scratch.find(t.OUTPUT, t.L1)
        metrics = compute_quality_metrics(frames, expected_frame_count=len(frames))
        folder = self.scratch.path_for("report").parent
        report = report_metrics(metrics)  # assembled once for the JSON and the PDF
        written = write_quality_data(metrics, folder, stem=metrics.dataset_id, report=report)
        for kind, path in written.items():
            self.scratch.add(path, [t.OUTPUT, t.QUALITY, t.Tag(kind.upper())])
        for path in self.scratch.find(t.QUALITY):
            tags = self.scratch.tags_of(path)
            if t.OUTPUT in tags:
                continue
            name = path.stem.split(".")[0]
            copy = self.scratch.write_json(
                self.scratch.read_json(path),
                [t.OUTPUT, t.QUALITY, t.DIAGNOSTIC, *t.of_kinds(tags, t.TaskKind)],
                f"{metrics.dataset_id}_{name}",
            )
            self.logger.info("quality: included %s as %s", path.name, copy.name)
        variables, coords = quality_variables(metrics)
        write_intermediate(
            self,
            [t.OUTPUT, t.QUALITY, t.QUALITY_TIMESERIES],
            f"{metrics.dataset_id}_quality_timeseries",
            variables,
            coords,
            primary="noise",
            input_frames=frames,
            attrs={"dataset_id": metrics.dataset_id, "instrument": metrics.instrument},
        )
        pdf = write_quality_report(
            metrics, folder / f"{metrics.dataset_id}_quality_report.pdf", report=report
        )
        self.scratch.add(pdf, [t.OUTPUT, t.QUALITY, t.QUALITY_REPORT])
        for warning in metrics.warnings:
            self.logger.warning("quality: %s", warning)
