"""The quality report: metrics in ``dkist-quality``'s format, its JSON and PDF.

``dkist-quality`` (the DKIST data center's report library) renders a list of
report metrics (``dkist_quality.report.ReportMetric``: name, description,
statement, ``plot_data`` (``Plot2D``: series of [x values, y values]),
``table_data``, ``warnings``) into a PDF with ``format_report``. We build that
list from :class:`QualityMetrics` (:func:`report_metrics`) and let dkist-quality
draw it: plots where a person would rather look than read (r0 over time for
AO-locked frames, light level, noise, polarimetric noise and sensitivity), a
table of frame counts, and the warnings (with the report's own warning summary).

Two JSON files are written by :func:`write_quality_data`: the metrics themselves
(our model) and the report metrics in dkist-quality's format (datetimes encoded
with ``dkist_quality.json_encoder.DatetimeEncoder``), from which the PDF can be
rebuilt without the frames.

Drawing leaves the caller's matplotlib as it was. dkist-quality draws with
``pyplot`` and sets its own style (``rcdefaults``, the "classic" style, a serif
font) globally; here it draws on plain :class:`matplotlib.figure.Figure` objects
(rendered by the Agg canvas when saved, whatever the caller's backend; no
pyplot figure is created or closed, ``matplotlib.use`` is never called) and its
style applies inside :func:`matplotlib.rc_context` only, for the drawing.
"""

from __future__ import annotations

import contextlib
import json
import threading
import types
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from dkist_processing_core.calibration.quality.metrics import QualityMetrics
from dkist_processing_core.framework.atomic import atomic_write

__all__ = ["report_metrics", "write_quality_data", "write_quality_report"]


def _t(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _by_stokes(metrics: QualityMetrics, attribute: str) -> dict[str, list[list]]:
    series: dict[str, list[list]] = {}
    for f in sorted(metrics.frames, key=lambda f: f.time):
        value = getattr(f, attribute)
        if value is None:
            continue
        xs, ys = series.setdefault(f"Stokes {f.stokes}", [[], []])
        xs.append(_t(f.time))
        ys.append(value)
    return series


def _noise_statement(metrics: QualityMetrics) -> str | None:
    """How many second differences each noise estimate rests on and its standard error."""
    frames = [f for f in metrics.frames if f.noise_sample_size and f.noise_error is not None]
    if not frames:
        return None
    sizes = [f.noise_sample_size for f in frames]
    relative = [f.noise_error / f.noise for f in frames if f.noise > 0]
    worst = max(relative) if relative else float("nan")
    return (
        f"Each frame's noise is estimated from {min(sizes):,} to {max(sizes):,} second "
        f"differences; standard error 1.45 sigma / sqrt(n), at most {100 * worst:.2g} % of the "
        "estimate (white noise; spatially varying noise adds a sampling error not included)."
    )


def _polarimetric_error_statement(pol, key: str) -> str | None:
    errors = [
        p.noise_error[x] / p.noise[x] for p in pol if p.noise_error for x in "QUV" if p.noise[x] > 0
    ]
    if not errors:
        return None
    return (
        f"Standard error of each value: at most {100 * max(errors):.2g} % of it "
        "(from the noise estimate's sample size)."
    )


def report_metrics(metrics: QualityMetrics) -> list[dict]:
    """The dataset's quality as a list of dkist-quality report metric dicts."""
    out: list[dict] = []
    times, r0 = metrics.fried_parameter_series()
    if r0:
        mean_r0 = sum(r0) / len(r0)
        out.append(
            {
                "name": "Fried parameter",
                "description": "The Fried parameter r0 measured by the wavefront sensor, "
                "for frames taken with the adaptive optics loop locked.",
                "statement": f"Average Fried parameter of {len(r0)} AO-locked times: "
                f"{100 * mean_r0:.2f} cm",
                "plot_data": {
                    "xlabel": "Time",
                    "ylabel": "Fried parameter (cm)",
                    "ylabel_horizontal": False,
                    "series_data": {"r0": [[_t(t) for t in times], [100 * v for v in r0]]},
                },
                "warnings": [w for w in metrics.warnings if "AO loop" in w] or None,
            }
        )
    light = {
        k: v for k, v in _by_stokes(metrics, "light_level").items() if k == "Stokes I"
    } or _by_stokes(metrics, "mean")
    out.append(
        {
            "name": "Light level",
            "description": "The light level recorded during the observation (LIGHTLVL), "
            "or the mean of Stokes I where it was not recorded.",
            "plot_data": {
                "xlabel": "Time",
                "ylabel": "Light level (counts)",
                "ylabel_horizontal": False,
                "series_data": light,
            },
        }
    )
    out.append(
        {
            "name": "Noise",
            "description": "Pixel-to-pixel noise of each frame: 1.4826 MAD of second "
            "differences of neighbouring pixels divided by sqrt(6), insensitive to smooth "
            "solar structure, from a seeded sample of whole-row blocks of each frame.",
            "statement": _noise_statement(metrics),
            "plot_data": {
                "xlabel": "Time",
                "ylabel": "Noise (counts)",
                "ylabel_horizontal": False,
                "series_name": "Stokes",
                "series_data": _by_stokes(metrics, "noise"),
            },
        }
    )
    if metrics.polarimetric:
        pol = sorted(metrics.polarimetric, key=lambda p: p.time)
        for key, name, description in (
            ("noise", "Polarimetric noise", "Noise of Q, U and V in units of the mean intensity."),
            (
                "sensitivity",
                "Polarimetric sensitivity",
                "Noise of Q, U and V relative to the largest intensity: the smallest "
                "polarization fraction detectable at one sigma.",
            ),
        ):
            series = {
                x: [[_t(p.time) for p in pol], [getattr(p, key)[x] for p in pol]] for x in "QUV"
            }
            out.append(
                {
                    "name": name,
                    "description": description,
                    "statement": _polarimetric_error_statement(pol, key),
                    "plot_data": {
                        "xlabel": "Time",
                        "ylabel": f"{name.split()[1].capitalize()} (fraction of I)",
                        "ylabel_horizontal": False,
                        "series_name": "Stokes",
                        "series_data": series,
                    },
                }
            )
    rows = [["Frames", "Count"], ["All", metrics.frame_count]]
    rows += [[f"Stokes {k}", v] for k, v in sorted(metrics.frame_counts_by_stokes.items())]
    rows += [["AO locked", metrics.ao_locked_count]]
    out.append(
        {
            "name": "Frame counts",
            "description": "The number of L1 frames in the dataset.",
            "table_data": {"rows": rows, "header_row": True},
            "warnings": [w for w in metrics.warnings if "AO loop" not in w] or None,
        }
    )
    return out


def write_quality_data(
    metrics: QualityMetrics,
    folder: str | Path,
    *,
    stem: str | None = None,
    report: list[dict] | None = None,
) -> dict[str, Path]:
    """Write ``<stem>_quality_data.json`` (metrics) and ``<stem>_quality_report_data.json``.

    ``report``: the report metrics if already assembled (:func:`report_metrics`), so that a
    dataset's report is assembled once. Returns the paths by kind (``quality_data``,
    ``quality_report_data``).
    """
    from dkist_quality.json_encoder import DatetimeEncoder

    folder = Path(folder)
    stem = stem or metrics.dataset_id
    paths = {
        "quality_data": folder / f"{stem}_quality_data.json",
        "quality_report_data": folder / f"{stem}_quality_report_data.json",
    }
    with atomic_write(paths["quality_data"]) as f:
        f.write(metrics.model_dump_json(indent=1).encode())
    with atomic_write(paths["quality_report_data"]) as f:
        report = report if report is not None else report_metrics(metrics)
        f.write(json.dumps(report, cls=DatetimeEncoder, indent=1).encode())
    return paths


_DRAWING = threading.Lock()  # the style is process-global while a report is drawn


def _figure_only_pyplot() -> types.SimpleNamespace:
    """What dkist-quality uses of ``pyplot``, made of plain Figures (no pyplot state)."""
    import matplotlib.style
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    def subplots(nrows: int = 1, ncols: int = 1, **kwargs):
        figure_keys = ("figsize", "dpi", "layout")
        figure = Figure(**{k: kwargs.pop(k) for k in figure_keys if k in kwargs})
        return figure, figure.subplots(nrows, ncols, **kwargs)

    def figure(*args, **kwargs):
        return Figure(*args, **kwargs)

    def nothing(*args, **kwargs) -> None:
        """pyplot's clf/close: a plain Figure is freed with its last reference."""

    return types.SimpleNamespace(
        subplots=subplots, figure=figure, Figure=Figure, Rectangle=Rectangle,
        clf=nothing, close=nothing, style=matplotlib.style,
    )  # fmt: skip


@contextlib.contextmanager
def _drawing_without_side_effects(module) -> Iterator[None]:
    """dkist-quality's ``module`` draws on plain Figures, its style inside an rc_context."""
    import matplotlib

    with _DRAWING, matplotlib.rc_context():
        pyplot = module.plt
        module.plt = _figure_only_pyplot()
        try:
            yield
        finally:
            module.plt = pyplot


def write_quality_report(
    metrics: QualityMetrics, path: str | Path, *, report: list[dict] | None = None
) -> Path:
    """Render the PDF quality report with ``dkist_quality.report.format_report``.

    ``report``: the report metrics if already assembled (see :func:`write_quality_data`).
    Drawn on plain Figures with dkist-quality's style only inside an ``rc_context``, so
    the caller's matplotlib backend, rcParams and pyplot figures stay as they were.
    """
    import dkist_quality.report

    path = Path(path)
    report = report if report is not None else report_metrics(metrics)
    with _drawing_without_side_effects(dkist_quality.report):
        pdf = dkist_quality.report.format_report(report, metrics.dataset_id)
    with atomic_write(path) as f:
        f.write(pdf)
    return path
