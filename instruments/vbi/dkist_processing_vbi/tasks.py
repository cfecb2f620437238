"""VBI's own tasks: what its headers say about a frame, and how its L1 frames are described."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from dkist_processing_core.calibration import keywords as kw
from dkist_processing_core.calibration import tags as t
from dkist_processing_core.calibration.input.frames import InputFrameError, keyword
from dkist_processing_core.calibration.input.task import ParseInputData
from dkist_processing_core.calibration.input.validation import KeywordRule
from dkist_processing_core.calibration.l1.header import DatasetAxis, L1FrameDescription
from dkist_processing_core.calibration.l1.task import WriteL1Frames


class VbiParseInputData(ParseInputData):
    """Index VBI raw frames: the shared parsing plus mosaic tile and wavelength.

    Algorithm
    ---------
    The shared input parsing (see :class:`~dkist_processing_core.calibration.input.task.ParseInputData`),
    plus VBI's selectors: the mosaic tile ``VBI__004`` (1-based, within ``VBI__003``) of
    observe frames, each frame's place in time within its tile (the order of ``DATE-BEG``,
    or ``DATE-OBS`` where a raw header has no ``DATE-BEG``; the frame number ``VBI__008`` is
    only checked to lie within its count ``VBI__007``), and the wavelength ``WAVELNTH``
    (nm, one filter each) of gain and observe frames. No spectral WCS axis is read: SPEC-0122
    does not require one (``CTYPE3`` may be anything).

    Keywords read (besides the shared parsing's, see its page):

    ==========  =====================================  ==========================================
    keyword     use                                    SPEC-0122
    ==========  =====================================  ==========================================
    WAVELNTH    filter of gain and observe frames; L1  required
                ``LINEWAV``, ``WAVEMIN``/``WAVEMAX``
    VBI__001    filter FWHM (nm): ``WAVEMIN/WAVEMAX``  required for VBI (``instrument_required``)
                = ``WAVELNTH`` -/+ FWHM/2
    VBI__003    number of mosaic tiles                 required for VBI
    VBI__004    mosaic tile, 1..``VBI__003``           required for VBI
    VBI__007    frames per tile                        required for VBI
    VBI__008    frame number, 1..``VBI__007`` (check)  required for VBI
    DATE-BEG    time order within a tile               not in SPEC-0122 (SPEC-0214 name); used if
                                                       present
    DATE-OBS    time order within a tile               required
    CTYPEn,     axis layout (which FITS axis is        required
    CUNITn      longitude, which latitude)
    ==========  =====================================  ==========================================

    Assumptions that remain: one filter per dataset; tiles are placed on the mosaic grid
    from their pointing (the WCS of the frame's centre), as SPEC-0122 has no grid position.

    Inputs
    ------
    The input dataset's raw VBI frames.

    Outputs
    -------
    The frames indexed as by the shared parsing, plus ``STEP_<tile>``, ``REPEAT_<k>`` and
    ``WAVELENGTH_<nm>``. Observe frames of more than one filter stop the run: a DKIST
    dataset is one instrument at one pass band (and one instrument program execution), so a
    VBI recipe run calibrates one filter; gain frames of other filters are indexed and unused.
    An observe filter with no solar gain frame of its ``WAVELNTH`` is refused at the door
    (``gain_for``), naming the observe frames' wavelength and the gain frames' wavelengths.

    Parameters
    ----------
    None.
    """

    frame_kinds = (t.DARK, t.SOLAR_GAIN, t.OBSERVE)
    required_axes = ("longitude", "latitude")
    dark_for = (t.SOLAR_GAIN, t.OBSERVE)
    gain_for = (kw.WAVELENGTH_NM,)  # each observe filter needs solar gains of that filter
    keyword_rules = (
        KeywordRule(kw.WAVELENGTH_NM, kinds=(t.SOLAR_GAIN, t.OBSERVE), state=True),
        KeywordRule(
            kw.VBI_CURRENT_STEP,
            kinds=(t.OBSERVE,),
            count_key=kw.VBI_NUMBER_OF_STEPS,
            base=1,
            state=True,
        ),
        KeywordRule(
            kw.VBI_CURRENT_FRAME,
            kinds=(t.OBSERVE,),
            count_key=kw.VBI_NUMBER_OF_FRAMES,
            base=1,
            state=True,
        ),
    )

    def instrument_tags(self, header: fits.Header, path: Path, kind: str) -> list[str]:
        tags = []
        if kind in (t.SOLAR_GAIN, t.OBSERVE):
            tags.append(t.wavelength(keyword(header, kw.WAVELENGTH_NM, path, float)))
        if kind == t.OBSERVE:
            tags.append(t.spatial_step(keyword(header, kw.VBI_CURRENT_STEP, path, int)))
            # The frame's place in time within its tile is set from DATE-BEG/DATE-OBS in run().
            self._observe_times.setdefault(t.SpatialStep.of(tags), []).append(
                (kw.observation_time(header), str(path))
            )
        return tags

    def run(self) -> None:
        self._observe_times: dict[int, list[tuple[str, str]]] = {}
        super().run()
        # Time order within a tile follows the exposure time, never the frame-number keyword.
        with self.scratch.batch():
            for times in self._observe_times.values():
                for k, (_, path) in enumerate(sorted(times), start=1):
                    self.scratch.tag(path, t.repeat(k))
        # A DKIST dataset is one instrument at one pass band: one VBI filter, observed by one
        # instrument program execution (dkist-inventory requires a single IP_ID per dataset).
        wavelengths = t.Wavelength.values(self.scratch, t.INPUT, t.task(t.OBSERVE))
        if len(wavelengths) > 1:
            raise InputFrameError(
                f"the input dataset holds VBI observe frames of {len(wavelengths)} filters "
                f"({', '.join(f'{w:g} nm' for w in wavelengths)}); a VBI dataset is one "
                "filter: assemble one input dataset (one processing candidate) per filter"
            )


def filter_passband_nm(header) -> tuple[float, float]:
    """``(WAVEMIN, WAVEMAX)`` of a VBI frame: ``WAVELNTH`` -/+ half the filter FWHM ``VBI__001``.

    Read from the keywords SPEC-0122 requires, never from a spectral WCS axis (which it does
    not). Without a positive ``VBI__001`` the pass band is the central wavelength alone.
    """
    centre = float(header[kw.WAVELENGTH_NM])
    fwhm = header.get(kw.VBI_FILTER_FWHM_NM)
    half = float(fwhm) / 2 if isinstance(fwhm, (int, float)) and 0 < fwhm < centre else 0.0
    return centre - half, centre + half


class VbiWriteL1Frames(WriteL1Frames):
    r"""Write VBI Level 1 frames: one per mosaic tile and frame, of one filter.

    Algorithm
    ---------
    The shared L1 writing (see :class:`~dkist_processing_core.calibration.l1.task.WriteL1Frames`).
    A VBI dataset is one filter (a DKIST dataset is one instrument at one pass band), whose
    pass band ``WAVEMIN``..``WAVEMAX`` is ``WAVELNTH`` -/+ half the filter FWHM ``VBI__001``
    (see :func:`filter_passband_nm`); the frame number within a tile is its place in time
    (``DATE-BEG`` order, set by the parsing). Its
    axes are those the DKIST data center and user tools know for VBI: the two spatial axes
    of the array and, when a tile has more than one frame, the frame number within the
    tile's burst (time). The mosaic is not a dataset axis: each tile is a dataset of its own
    within a tiled dataset, placed by the SPEC-0214 mosaic keys ``MAXIS = 2``, ``MAXIS1``,
    ``MAXIS2`` (tiles along helioprojective longitude and latitude) and ``MINDEX1``,
    ``MINDEX2`` (this tile's 1-based place along them). The place is derived from the
    pointing: tiles whose centres differ by less than half a tile along an axis share a
    column (row), and columns (rows) are numbered by increasing longitude (latitude).

    VBI's own keys describe the central region of the frame (the central half in each
    axis): its mean intensity ``VBICRI``, its RMS contrast ``VBICRMSC``
    :math:`= \sigma_I / \langle I \rangle` and its size ``VBICRLEN``; ``VBINMOSC`` and
    ``VBICMOSC`` count the mosaic repeats (one here).

    Inputs
    ------
    Frames tagged ``CALIBRATED``, ``STEP_<tile>``, ``REPEAT_<k>``, ``WAVELENGTH_<nm>`` (one
    wavelength).

    Outputs
    -------
    L1 frames as by the shared L1 writing.

    Parameters
    ----------
    l1_quantize_level
        As for the shared L1 writing.
    """

    def mosaic_places(self) -> dict[int, tuple[int, int, int, int]]:
        """``{tile: (MAXIS1, MAXIS2, MINDEX1, MINDEX2)}`` from the tiles' pointing."""
        if getattr(self, "_mosaic_places", None) is not None:
            return self._mosaic_places
        centres: dict[int, tuple[float, float]] = {}
        half_tile = [0.0, 0.0]
        for tile in t.SpatialStep.values(self.scratch, t.CALIBRATED):
            path = self.scratch.find(t.CALIBRATED, t.spatial_step(tile))[0]
            header = fits.getheader(path, 0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FITSFixedWarning)
                wcs = WCS(header)
            ny, nx = header["NAXIS2"], header["NAXIS1"]
            pixel = [(nx - 1) / 2, (ny - 1) / 2] + [0] * (wcs.pixel_n_dim - 2)
            world = wcs.pixel_to_world_values(*pixel)
            types = [str(c)[:4] for c in wcs.wcs.ctype]
            lon, lat = world[types.index("HPLN")], world[types.index("HPLT")]
            centres[tile] = (float(lon), float(lat))
            # half a tile along each axis, in the WCS's unit (degrees after astropy's normalising)
            scale = np.abs(wcs.wcs.cdelt)
            half_tile = [scale[types.index("HPLN")] * nx / 2, scale[types.index("HPLT")] * ny / 2]

        def ranks(values: list[float], tolerance: float) -> tuple[list[int], int]:
            # Cluster sorted values into columns whose members lie within half a tile.
            order = sorted(set(values))
            groups: list[float] = []
            for v in order:
                if not groups or v - groups[-1] > tolerance:
                    groups.append(v)
            return [
                1 + max(i for i, g in enumerate(groups) if v >= g - 1e-12) for v in values
            ], len(groups)

        tiles = sorted(centres)
        index1, n1 = ranks([centres[k][0] for k in tiles], half_tile[0])
        index2, n2 = ranks([centres[k][1] for k in tiles], half_tile[1])
        places = {k: (n1, n2, i1, i2) for k, i1, i2 in zip(tiles, index1, index2)}
        if len({p[2:] for p in places.values()}) != len(tiles):
            raise ValueError(
                f"VBI tiles {tiles} do not form a mosaic grid: tile centres "
                f"{[centres[k] for k in tiles]} share grid places"
            )
        self._mosaic_places = places
        return places

    def describe_frames(self, frames):
        wavelengths = t.Wavelength.values(self.scratch, t.CALIBRATED)
        if len(wavelengths) != 1:
            raise ValueError(
                f"VBI L1 frames of one dataset must be of one filter; the calibrated frames "
                f"are at {wavelengths} nm"
            )
        repeats = t.Repeat.values(self.scratch, t.CALIBRATED)
        places = self.mosaic_places()
        out = []
        for _, header, data, tags in frames:
            image = data[0].astype(np.float64)
            ny, nx = image.shape
            central = image[ny // 4 : ny - ny // 4, nx // 4 : nx - nx // 4]
            tile = t.SpatialStep.of(tags)
            repeat = t.Repeat.of(tags)
            axes = [
                DatasetAxis(physical_type="SPATIAL", pixel_name="spatial x",
                            world_name="helioprojective longitude", unit="arcsec", length=nx),
                DatasetAxis(physical_type="SPATIAL", pixel_name="spatial y",
                            world_name="helioprojective latitude", unit="arcsec", length=ny),
            ]  # fmt: skip
            index = []
            if len(repeats) > 1:
                axes.append(
                    DatasetAxis(physical_type="TEMPORAL", pixel_name="frame number",
                                world_name="time", unit="s", length=len(repeats))
                )  # fmt: skip
                index.append(repeats.index(repeat))
            keys = {
                "VBINMOSC": 1,
                "VBICMOSC": 1,
                # NaN pixels (non-finite raw pixels kept as NaN) are left out.
                "VBICRI": float(np.nanmean(central)),
                "VBICRMSC": float(np.nanstd(central) / np.nanmean(central)),
                "VBICRLEN": int(min(central.shape)),
            }
            if len(places) > 1:
                maxis1, maxis2, mindex1, mindex2 = places[tile]
                keys.update(MAXIS=2, MAXIS1=maxis1, MAXIS2=maxis2, MINDEX1=mindex1, MINDEX2=mindex2)
            out.append(
                L1FrameDescription(
                    dataset_axes=axes,
                    dataset_index=index,
                    instrument_keys=keys,
                    wavelength_range_nm=filter_passband_nm(header),
                )
            )
        return out
