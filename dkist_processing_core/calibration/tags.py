"""The tags calibration tasks put on scratch files: one vocabulary to build and to read them.

A file's tags say what it is (``INPUT`` raw frame, ``INTERMEDIATE`` calibration
product, ``CALIBRATED`` science frame, ``OUTPUT`` Level 1 frame), which kind of
frame or product (``TASK_DARK``, ``TASK_GAIN``, ...), and the values that select
it (exposure time, modulator state, scan step or mosaic tile, wavelength,
calibration-unit state, Stokes parameter).

This module is the only place a tag is spelled. Everything else builds and reads
tags through it:

- :class:`Tag`, the tags that carry no value (``Tag.INPUT``, also ``INPUT``);
- :class:`Kind`, the kinds of frames and products a ``TASK_<kind>`` tag names;
- :class:`ValueTag`, a kind of tag that carries a value, with its constructor and
  its parsers: ``ExposureTime(12.5) == "EXP_TIME_12.5"``,
  ``ExposureTime.parse("EXP_TIME_12.5") == 12.5``, ``ExposureTime.of(tags)`` (the
  value a file's tags carry) and ``ExposureTime.values(scratch, *query)`` (the
  distinct values among the files a query finds), each typed (float ms, int state).

The scratch store itself (:mod:`dkist_processing_core.framework.scratch`) knows
tags only as strings; a test scans the package for tag strings spelled elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from ..framework import Scratch


class _Word(StrEnum):
    """A tag word: a plain string in every use (queries, JSON, messages)."""

    # Messages that list tags (``sorted(query)``) show them as plain strings. A method (not
    # ``str.__repr__`` itself, a slot wrapper) so that tools inspecting enums (Sphinx) work.
    def __repr__(self) -> str:
        return str.__repr__(self)


class Tag(_Word):
    """The tags that carry no value: what a file is."""

    INPUT = "INPUT"  # a raw frame of the input dataset
    FRAME = "FRAME"
    INTERMEDIATE = "INTERMEDIATE"  # a calibration product (dark, gain, ...)
    CALIBRATED = "CALIBRATED"  # a calibrated science frame
    OUTPUT = "OUTPUT"  # a dataset product
    L1 = "L1"
    QUALITY = "QUALITY"
    QUALITY_DATA = "QUALITY_DATA"
    QUALITY_REPORT_DATA = "QUALITY_REPORT_DATA"
    QUALITY_REPORT = "QUALITY_REPORT"
    QUALITY_TIMESERIES = "QUALITY_TIMESERIES"  # the quality time series, labelled HDF5
    DIAGNOSTIC = "DIAGNOSTIC"  # a calibration step's fit diagnostics, in the quality outputs
    MOVIE = "MOVIE"
    BROWSE_MOVIE = "BROWSE_MOVIE"
    PREVIEW = "PREVIEW"
    ASDF = "ASDF"
    INVENTORY = "INVENTORY"
    DATASET_INVENTORY = "DATASET_INVENTORY"
    FRAME_INVENTORY = "FRAME_INVENTORY"
    INPUT_SUMMARY = "INPUT_SUMMARY"
    INPUT_NONFINITE = "INPUT_NONFINITE"  # accepted raw frames with NaN/inf pixels, counted


class Kind(_Word):
    """What a ``TASK_<kind>`` tag names: a kind of raw frame (from its header) or of product."""

    DARK = "DARK"
    LAMP_GAIN = "LAMP_GAIN"
    SOLAR_GAIN = "SOLAR_GAIN"
    POLCAL = "POLCAL"
    # A polcal frame taken with the dark shutter closed (PAC__008 = 'DarkShutter'): indexed,
    # not a calibration-unit state, so never in the polcal fit.
    POLCAL_DARK = "POLCAL_DARK"
    OBSERVE = "OBSERVE"
    GAIN = "GAIN"  # the combined gain the science frames are divided by
    GEOMETRIC = "GEOMETRIC"
    DEMODULATION = "DEMODULATION"


V = TypeVar("V")


@dataclass(frozen=True, repr=False)
class ValueTag(Generic[V]):
    """A kind of tag that carries a value: ``prefix`` then the value as text.

    Calling it builds a tag (``SpatialStep(3) == "STEP_3"``); the other methods
    read the value back, as its type (``SpatialStep.parse("STEP_3") == 3``).
    """

    prefix: str
    parse_value: Callable[[str], V]
    format_value: Callable[[V], str] = str

    def __repr__(self) -> str:
        return f"ValueTag({self.prefix!r})"

    def __call__(self, value: V) -> str:
        return f"{self.prefix}{self.format_value(value)}"

    def matches(self, tag: str) -> bool:
        return tag.startswith(self.prefix)

    def parse(self, tag: str) -> V:
        if not self.matches(tag):
            raise ValueError(f"{tag!r} is not a {self.prefix}<value> tag")
        return self.parse_value(tag[len(self.prefix) :])

    def tag_in(self, tags: Iterable[str]) -> str:
        """This kind's tag among a file's tags; a KeyError naming the tags if there is none."""
        tags = list(tags)
        for tag in tags:
            if self.matches(tag):
                return tag
        raise KeyError(f"no {self.prefix}<value> tag among {sorted(tags)}")

    def of(self, tags: Iterable[str]) -> V:
        """The value a file's tags carry: ``SpatialStep.of(scratch.tags_of(path)) == 3``."""
        return self.parse(self.tag_in(tags))

    def values(self, scratch: Scratch, *query: str) -> list[V]:
        """The distinct values, sorted, of this kind among the files carrying ``query``."""
        return sorted({self.parse_value(v) for v in scratch.values_of(self.prefix, *query)})


def _number(value: float) -> str:
    return f"{float(value):g}"


def _integer(value: int) -> str:
    return str(int(value))


#: What a frame or product is, a :class:`Kind`, tagged ``TASK_<kind>``.
TaskKind: ValueTag[Kind] = ValueTag("TASK_", Kind)
#: The exposure time in ms, tagged ``EXP_TIME_<ms>``.
ExposureTime: ValueTag[float] = ValueTag("EXP_TIME_", float, _number)
#: The modulator state, from 1, tagged ``MODSTATE_<m>``.
ModulatorState: ValueTag[int] = ValueTag("MODSTATE_", int, _integer)
#: A spectrograph scan step or an imager mosaic tile, tagged ``STEP_<n>``.
SpatialStep: ValueTag[int] = ValueTag("STEP_", int, _integer)
#: The k-th frame of a burst at one position, tagged ``REPEAT_<k>``.
Repeat: ValueTag[int] = ValueTag("REPEAT_", int, _integer)
#: The wavelength in nm, tagged ``WAVELENGTH_<nm>``.
Wavelength: ValueTag[float] = ValueTag("WAVELENGTH_", float, _number)
#: The calibration-unit state of a polcal frame, tagged ``CS_STEP_<k>``.
CalibrationUnitState: ValueTag[int] = ValueTag("CS_STEP_", int, _integer)
#: The Stokes parameter (``I``, ``Q``, ``U``, ``V``), tagged ``STOKES_<s>``.
Stokes: ValueTag[str] = ValueTag("STOKES_", str)

#: Every kind of tag that carries a value.
VALUE_TAGS: tuple[ValueTag, ...] = (
    TaskKind,
    ExposureTime,
    ModulatorState,
    SpatialStep,
    Repeat,
    Wavelength,
    CalibrationUnitState,
    Stokes,
)


def of_kinds(tags: Iterable[str], *kinds: ValueTag) -> list[str]:
    """The tags among ``tags`` that are of one of ``kinds``, sorted (tags a product keeps)."""
    return sorted(tag for tag in tags if any(k.matches(tag) for k in kinds))


# The names tasks, tests and examples have used all along: the same objects as above.
INPUT = Tag.INPUT
FRAME = Tag.FRAME
INTERMEDIATE = Tag.INTERMEDIATE
CALIBRATED = Tag.CALIBRATED
OUTPUT = Tag.OUTPUT
L1 = Tag.L1
QUALITY = Tag.QUALITY
QUALITY_DATA = Tag.QUALITY_DATA
QUALITY_REPORT_DATA = Tag.QUALITY_REPORT_DATA
QUALITY_REPORT = Tag.QUALITY_REPORT
QUALITY_TIMESERIES = Tag.QUALITY_TIMESERIES
DIAGNOSTIC = Tag.DIAGNOSTIC
MOVIE = Tag.MOVIE
PREVIEW = Tag.PREVIEW
INPUT_SUMMARY = Tag.INPUT_SUMMARY
INPUT_NONFINITE = Tag.INPUT_NONFINITE

# Kinds of raw frames (from the headers) and of calibration products.
DARK = Kind.DARK
LAMP_GAIN = Kind.LAMP_GAIN
SOLAR_GAIN = Kind.SOLAR_GAIN
POLCAL = Kind.POLCAL
POLCAL_DARK = Kind.POLCAL_DARK
OBSERVE = Kind.OBSERVE
GAIN = Kind.GAIN
GEOMETRIC = Kind.GEOMETRIC
DEMODULATION = Kind.DEMODULATION

task = TaskKind
exposure_time = ExposureTime
modulator_state = ModulatorState
spatial_step = SpatialStep  # a spectrograph scan step or an imager mosaic tile
repeat = Repeat
wavelength = Wavelength
calibration_unit_state = CalibrationUnitState
stokes = Stokes

# Dataset products, each the tagged output of a task (see calibration.outputs):
# OUTPUT + ASDF, OUTPUT + INVENTORY + DATASET_INVENTORY / FRAME_INVENTORY,
# OUTPUT + QUALITY + QUALITY_DATA / QUALITY_REPORT_DATA / QUALITY_REPORT,
# OUTPUT + MOVIE + BROWSE_MOVIE / PREVIEW.
ASDF = Tag.ASDF
INVENTORY = Tag.INVENTORY
DATASET_INVENTORY = Tag.DATASET_INVENTORY
FRAME_INVENTORY = Tag.FRAME_INVENTORY
BROWSE_MOVIE = Tag.BROWSE_MOVIE


def value_of(tags: Iterable[str], kind: ValueTag | str) -> str:
    """The value a file's ``kind`` tag carries, as written: ``value_of(tags, SpatialStep)`` gives
    ``"3"``. ``kind.of(tags)`` gives it typed (``3``); a prefix string is accepted as before."""
    prefix = kind.prefix if isinstance(kind, ValueTag) else kind
    return ValueTag(prefix, str).of(tags)
