"""The SPEC-0122 keywords the simulated truth drives, and how a frame's task type follows from them.

SPEC-0122 keywords (with their SPEC-0214 level-0 names in brackets, as the data center translates
them):

=====================  ===================  =============================================================
meaning                SPEC-0122            notes
=====================  ===================  =============================================================
IP task type           DKIST004             [IPTASK] dark, gain, polcal, observe ...
OP task type           DKIST003             same vocabulary
OP run id              ID___008             [OBSPR_ID] "OP execution ID": groups frames into OP runs
IP run id              ID___005             [IP_ID] "IP execution ID"
proposal / experiment  ID___013 / ID___012  [PROP_ID / EXPER_ID]
exposure time          CAM__004             [XPOSURE] FPA exposure time, ms
GOS lamp (level 3)     PAC__002             [LVL3STAT] 'lamp' or 'clear'
lamp on/off            PAC__003             [LAMPSTAT]
polarizer (level 2)    PAC__004/005         [LVL2STAT/POLANGLE] element name or 'clear'; angle (str, deg)
retarder (level 1)     PAC__006/007         [LVL1STAT/RETANGLE]
aperture (level 0)     PAC__008             [LVL0STAT] 'DarkShutter' for darks, and for the dark
                                            steps of a polcal sequence
telescope geometry     TELEVATN/TAZIMUTH/   elevation, azimuth, coude table angle (deg); the telescope
                       TTBLANGL             polarization model depends on them
Fried parameter r0     AO___001             [ATMOS_R0] metres
AO lock                AO___002             [AO_LOCK]
ViSP modulator states  VISP_010/011         [VSPNUMST/VSPSTNUM] number of states, current (1-based)
ViSP scan steps        VISP_019/020         [VSPNSTP/VSPSTP] number of steps, current (0-based)
VBI mosaic             VBI__003/004         [VBINSTP/VBISTP] number of tiles, current (1-based)
wavelength             WAVELNTH             nm
=====================  ===================  =============================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

IP_TASK = "DKIST004"
OP_TASK = "DKIST003"
OP_RUN_ID = "ID___008"
IP_RUN_ID = "ID___005"
OP_ID = "ID___007"
IP_ID = "ID___004"
PROPOSAL_ID = "ID___013"
EXPERIMENT_ID = "ID___012"
FILE_ID = "ID___002"
EXPOSURE_TIME_MS = "CAM__004"
CAMERA_EXPOSURE_TIME_MS = "CAM__005"
GOS_UPPER_SHUTTER = "PAC__001"
GOS_LAMP_LEVEL = "PAC__002"
GOS_LAMP_STATUS = "PAC__003"
GOS_POLARIZER = "PAC__004"
GOS_POLARIZER_ANGLE = "PAC__005"
GOS_RETARDER = "PAC__006"
GOS_RETARDER_ANGLE = "PAC__007"
GOS_APERTURE = "PAC__008"
TELESCOPE_ELEVATION = "TELEVATN"
TELESCOPE_AZIMUTH = "TAZIMUTH"
COUDE_TABLE_ANGLE = "TTBLANGL"
FRIED_PARAMETER_M = "AO___001"
AO_LOCK = "AO___002"
VISP_NUMBER_OF_STATES = "VISP_010"
VISP_CURRENT_STATE = "VISP_011"
VISP_NUMBER_OF_STEPS = "VISP_019"
VISP_CURRENT_STEP = "VISP_020"
VISP_POLARIMETER_MODE = "VISP_006"
VBI_FILTER_FWHM_NM = "VBI__001"
VBI_NUMBER_OF_STEPS = "VBI__003"
VBI_CURRENT_STEP = "VBI__004"
VBI_STEP_PATTERN = "VBI__002"
VBI_NUMBER_OF_FRAMES = "VBI__007"  # frames per mosaic tile
VBI_CURRENT_FRAME = "VBI__008"
VBI_FRIED_PARAMETER_CM = "VBI__009"
WAVELENGTH_NM = "WAVELNTH"

# The element names the simulator writes when a GOS element is in the beam.
POLARIZER_NAME = "Sapphire Polarizer"
RETARDER_NAME = "SiO2 OC"
# The level-0 aperture (``PAC__008``) that closes the beam: a dark exposure.
DARK_SHUTTER = "DarkShutter"

TASK_TYPES = ("DARK", "LAMP_GAIN", "SOLAR_GAIN", "POLCAL", "OBSERVE")


def observation_time(header: Mapping[str, Any]) -> str:
    """When the frame was exposed: ``DATE-BEG`` where a header has it, else ``DATE-OBS``.

    SPEC-0122 requires ``DATE-OBS`` (the start of the exposure); ``DATE-BEG`` is its SPEC-0214
    name, which a level-0 file already translated by the data center carries. Both are ISO
    times in one scale, so their text sorts in time order when they share a format; the value
    is returned as found.
    """
    for key in ("DATE-BEG", "DATE-OBS"):
        if header.get(key):
            return str(header[key])
    raise KeyError("header has neither DATE-BEG nor DATE-OBS (the time of the exposure)")


def gain_kind(header: Mapping[str, Any]) -> str:
    """LAMP_GAIN or SOLAR_GAIN of a gain frame, by DKIST's rule; ValueError if it is neither.

    DKIST's rule (as its instrument pipelines parse gains): a *lamp gain* has the GOS lamp in
    the beam and lit (``PAC__002 = 'lamp'`` and ``PAC__003 = 'on'``); a *solar gain* has the
    level-3 stage clear (``PAC__002 = 'clear'``). Anything else (``'undefined'``, a lamp in the
    beam but off) is not a gain this pipeline can use, and is refused rather than guessed.
    """
    level3 = str(header.get(GOS_LAMP_LEVEL, "")).strip().lower()
    lamp = str(header.get(GOS_LAMP_STATUS, "")).strip().lower()
    if level3 == "lamp" and lamp == "on":
        return "LAMP_GAIN"
    if level3 == "clear":
        return "SOLAR_GAIN"
    raise ValueError(
        f"a gain frame with {GOS_LAMP_LEVEL}={header.get(GOS_LAMP_LEVEL)!r} and "
        f"{GOS_LAMP_STATUS}={header.get(GOS_LAMP_STATUS)!r} is neither a lamp gain "
        f"({GOS_LAMP_LEVEL}='lamp' and {GOS_LAMP_STATUS}='on') nor a solar gain "
        f"({GOS_LAMP_LEVEL}='clear')"
    )


def frame_task_type(header: Mapping[str, Any]) -> str:
    """The processing task type of a raw frame: DARK, LAMP_GAIN, SOLAR_GAIN, POLCAL or OBSERVE.

    The IP task type ``DKIST004`` names the kind; SPEC-0122 has a single value ``gain`` for both
    flats, told apart by :func:`gain_kind` (DKIST's rule on ``PAC__002`` and ``PAC__003``).
    """
    try:
        ip_task = str(header[IP_TASK]).strip().lower()
    except KeyError:
        raise KeyError(f"header has no {IP_TASK} (IP task type) keyword") from None
    if ip_task == "gain":
        return gain_kind(header)
    if ip_task in ("dark", "polcal", "observe"):
        return ip_task.upper()
    raise ValueError(
        f"{IP_TASK}={header[IP_TASK]!r} is not a task type this pipeline processes "
        "(expected one of dark, gain, polcal, observe)"
    )


def dark_shutter(header: Mapping[str, Any]) -> bool:
    """Whether the GOS dark shutter closed the beam (``PAC__008 = 'DarkShutter'``).

    DKIST's polcal sequences hold dark steps besides the calibration-unit states; their frames
    carry ``DKIST004 = 'polcal'`` like the others and are told apart by this aperture.
    """
    return str(header.get(GOS_APERTURE, "")).strip().lower() == DARK_SHUTTER.lower()


def calibration_unit_angles(header: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(polarizer angle, retarder angle) in degrees from a polcal header; None where 'clear'."""

    def angle(element_key: str, angle_key: str) -> float | None:
        if str(header[element_key]).strip().lower() in ("clear", "undefined"):
            return None
        try:
            return float(header[angle_key])
        except ValueError:
            raise ValueError(
                f"{angle_key}={header[angle_key]!r} is not an angle in degrees"
            ) from None

    return angle(GOS_POLARIZER, GOS_POLARIZER_ANGLE), angle(GOS_RETARDER, GOS_RETARDER_ANGLE)


def telescope_geometry(header: Mapping[str, Any]) -> tuple[float, float, float]:
    """(elevation, azimuth, coude table angle) in degrees: TELEVATN, TAZIMUTH, TTBLANGL."""
    values = []
    for key in (TELESCOPE_ELEVATION, TELESCOPE_AZIMUTH, COUDE_TABLE_ANGLE):
        try:
            values.append(float(header[key]))
        except KeyError:
            raise KeyError(f"header has no {key} (telescope geometry) keyword") from None
        except (TypeError, ValueError):
            raise ValueError(f"{key}={header[key]!r} is not an angle in degrees") from None
    return values[0], values[1], values[2]
