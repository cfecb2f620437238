"""The quality report task."""

from __future__ import annotations

from ...framework import Task
from .. import tags as t
from ..intermediates import quality_variables, write_intermediate
from .metrics import compute_quality_metrics
from .report import write_quality_data, write_quality_report


class AssembleQualityReport(Task):
    r"""Measure the quality of the Level 1 frames and draw the quality report.

    Algorithm
    ---------
    The L1 frames are read one at a time. For each frame:

    - the Fried parameter :math:`r_0` (``ATMOS_R0``), kept only where the adaptive
      optics were locked (``AO_LOCK``), as a function of time;
    - the light level, the mean of the frame;
    - the noise, estimated robustly from second differences of neighbouring pixels,
      :math:`\sigma = 1.4826\,\mathrm{median}|x_{i-1} - 2x_i + x_{i+1}| / \sqrt{6}`,
      insensitive to the smooth solar structure;
    - for polarimetric data, per Stokes parameter :math:`X \in \{Q, U, V\}`, the
      polarimetric noise :math:`\sigma_X / \langle I \rangle` and sensitivity
      :math:`\sigma_X / \max I`.

    Frame counts are compared with the expected count, and warnings are raised for
    missing frames, unlocked AO and outliers. The metrics are written as JSON (the
    machine-readable quality data, in ``dkist-quality``'s format) and drawn into a PDF
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
        for kind, path in write_quality_data(metrics, folder, stem=metrics.dataset_id).items():
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
        report = write_quality_report(metrics, folder / f"{metrics.dataset_id}_quality_report.pdf")
        self.scratch.add(report, [t.OUTPUT, t.QUALITY, t.QUALITY_REPORT])
        for warning in metrics.warnings:
            self.logger.warning("quality: %s", warning)
