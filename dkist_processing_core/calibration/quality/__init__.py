"""Quality of an L1 dataset: metrics from its frames, their JSON, the PDF report.

:func:`compute_quality_metrics` streams the frames once (one frame in memory at a
time) and returns :class:`QualityMetrics`; :func:`write_quality_data` writes them
as JSON and :func:`write_quality_report` renders the PDF with ``dkist-quality``.
"""

from dkist_processing_core.calibration.quality.metrics import (
    FrameQuality,
    PolarimetricQuality,
    QualityMetrics,
    compute_quality_metrics,
    estimate_noise,
)
from dkist_processing_core.calibration.quality.report import (
    report_metrics,
    write_quality_data,
    write_quality_report,
)

__all__ = [
    "FrameQuality",
    "PolarimetricQuality",
    "QualityMetrics",
    "compute_quality_metrics",
    "estimate_noise",
    "report_metrics",
    "write_quality_data",
    "write_quality_report",
]
