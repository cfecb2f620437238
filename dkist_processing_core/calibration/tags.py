"""The tags calibration tasks put on scratch files, in one place.

A file's tags say what it is (``INPUT`` raw frame, ``INTERMEDIATE`` calibration
product, ``CALIBRATED`` science frame, ``OUTPUT`` Level 1 frame), which kind of
frame or product (``TASK_DARK``, ``TASK_GAIN``, ...), and the values that select
it (exposure time, modulator state, scan step or mosaic tile, wavelength,
calibration-unit state, Stokes parameter).
"""

from __future__ import annotations

from collections.abc import Iterable

INPUT = "INPUT"
FRAME = "FRAME"
INTERMEDIATE = "INTERMEDIATE"
CALIBRATED = "CALIBRATED"
OUTPUT = "OUTPUT"
L1 = "L1"
QUALITY = "QUALITY"
MOVIE = "MOVIE"

# Kinds of raw frames (from the headers) and of calibration products.
DARK = "DARK"
LAMP_GAIN = "LAMP_GAIN"
SOLAR_GAIN = "SOLAR_GAIN"
POLCAL = "POLCAL"
OBSERVE = "OBSERVE"
GAIN = "GAIN"  # the combined gain the science frames are divided by
GEOMETRIC = "GEOMETRIC"
DEMODULATION = "DEMODULATION"
INPUT_SUMMARY = "INPUT_SUMMARY"

# Dataset products, each the tagged output of a task (see calibration.outputs):
# OUTPUT + ASDF, OUTPUT + INVENTORY + DATASET_INVENTORY / FRAME_INVENTORY,
# OUTPUT + QUALITY + QUALITY_DATA / QUALITY_REPORT_DATA / QUALITY_REPORT,
# OUTPUT + MOVIE + BROWSE_MOVIE / PREVIEW.
ASDF = "ASDF"
INVENTORY = "INVENTORY"
DATASET_INVENTORY = "DATASET_INVENTORY"
FRAME_INVENTORY = "FRAME_INVENTORY"
QUALITY_DATA = "QUALITY_DATA"
QUALITY_REPORT_DATA = "QUALITY_REPORT_DATA"
QUALITY_REPORT = "QUALITY_REPORT"
BROWSE_MOVIE = "BROWSE_MOVIE"
PREVIEW = "PREVIEW"


def value_of(tags: Iterable[str], prefix: str) -> str:
    """The value a file's ``prefix`` tag carries: ``value_of(tags, "STEP_")`` gives ``"3"``."""
    tags = list(tags)
    for tag in tags:
        if tag.startswith(prefix):
            return tag[len(prefix) :]
    raise KeyError(f"no {prefix}<value> tag among {sorted(tags)}")


def task(kind: str) -> str:
    return f"TASK_{kind}"


def exposure_time(ms: float) -> str:
    return f"EXP_TIME_{float(ms):g}"


def modulator_state(m: int) -> str:
    return f"MODSTATE_{int(m)}"


def spatial_step(step: int) -> str:
    """A spectrograph scan step or an imager mosaic tile."""
    return f"STEP_{int(step)}"


def repeat(k: int) -> str:
    """The k-th frame of a burst at one position (e.g. an imager's frames per mosaic tile)."""
    return f"REPEAT_{int(k)}"


def wavelength(nm: float) -> str:
    return f"WAVELENGTH_{float(nm):g}"


def calibration_unit_state(k: int) -> str:
    return f"CS_STEP_{int(k)}"


def stokes(name: str) -> str:
    return f"STOKES_{name}"
