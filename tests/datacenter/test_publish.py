"""Publishing a real recipe run: workflow -> catalog -> ASDF -> package -> store -> PI mail.

For each instrument a small simulated observation goes through the data center as in the
demo (processing candidate, transfer manifest, frames, readiness, scheduler, local executor)
and the succeeded run is published with :func:`publish_recipe_run` into a SQLite store, with
the PI's mail delivered to a real SMTP server on loopback. Before the real publication, one
L1 frame in the scratch is tampered with: publishing must refuse, naming that file, and
store nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import astropy.units as u
import dkist
import numpy as np
import pytest
from astropy.io import fits
from sqlalchemy import func, select

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.datacenter.operations.scheduling import Scheduler, scratch_dir_for
from dkist_processing_core.datacenter.planning import readiness, recipes
from dkist_processing_core.datacenter.products.catalog.checksums import FrameIntegrityError
from dkist_processing_core.datacenter.products.catalog.notify import Outbox, SQLiteOutboxStore
from dkist_processing_core.datacenter.products.catalog.package import verify_package
from dkist_processing_core.datacenter.products.publish import (
    Published,
    PublishError,
    publish_recipe_run,
)
from dkist_processing_core.datacenter.store import open_store
from dkist_processing_core.datacenter.store.models import DatasetVersion, DatasetVersionCodeVersion
from dkist_processing_core.demo.run import local_smtp_server
from dkist_processing_core.framework import Scratch, read_run_report
from dkist_processing_core.simulate import (
    SimulatedObservation,
    simulate_vbi,
    simulate_visp,
    single_filter,
)

pytestmark = pytest.mark.slow

OBSERVATION_DATE = datetime(2024, 5, 1, tzinfo=UTC)
PI_EMAIL = "pi@example.org"

# World coordinates must agree with the simulated truth to a small fraction of a pixel: the
# L1 WCS and the truth are the same linear grid, so any disagreement is a mis-described axis
# (an off-by-one pixel is an error of 1; a half-pixel convention slip 0.5). 1e-3 pixel leaves
# room for the TAN projection's departure from the truth's linear offsets (a longitude offset
# at latitude b spans offset / cos(b) in longitude: ~4e-5 pixel across the VBI mosaic at
# -340") and float64 rounding.
TOLERANCE_PIXELS = 1e-3


def simulate(instrument: str, root: Path) -> SimulatedObservation:
    if instrument == "visp":
        return simulate_visp(root, seed=3, n_scan_steps=4, n_dark_frames=5)
    # A VBI dataset is one filter (one pass band): keep the 450.3 nm filter of the three.
    return simulate_vbi(root, seed=3, n_dark_frames=5, n_gain_frames=5, **single_filter(2))


@dataclass
class Publication:
    instrument: str
    observation: SimulatedObservation
    root: Path
    store: object
    recipe_run_id: int
    l1_frames: list[Path]
    tamper_error: FrameIntegrityError
    tampered_frame: Path
    versions_after_tamper: int
    archive_files_after_tamper: list[Path]
    first: Published
    second: Published
    mails: list[Path]


def _tamper(path: Path) -> bytes:
    """Flip one byte inside the compressed image data of ``path``; return the original bytes."""
    original = path.read_bytes()
    with fits.open(path, disable_image_compression=True) as hdul:
        data_start = hdul[1].fileinfo()["datLoc"]
    damaged = bytearray(original)
    damaged[data_start + 100] ^= 0xFF
    path.write_bytes(bytes(damaged))
    return original


@pytest.fixture(scope="module", params=["visp", "vbi"])
def publication(request, tmp_path_factory):
    instrument = request.param
    root = tmp_path_factory.mktemp(f"publish-{instrument}")
    observation = simulate(instrument, root / "summit")
    store = open_store(workdir=root)
    with store.session() as s:
        recipes.register_instrument_package(s, instrument, valid_from=OBSERVATION_DATE)
        recipes.set_resource_pool(s, "default", 1)
    calibration_ops = [op for op, kind in observation.op_runs.items() if kind != "observe"]
    (observe_op,) = [op for op, kind in observation.op_runs.items() if kind == "observe"]
    with store.session() as s:
        readiness.register_processing_candidate(
            s,
            observe_op,
            calibration_ops,
            proposal_id="pid_1_1",
            principal_investigator="Dr. Test",
            principal_investigator_email=PI_EMAIL,
            recipe=f"{instrument}_l1_calibration",
            observation_date=OBSERVATION_DATE,
        )
        readiness.record_transfer_manifests(s, observation.transfer_manifest)
        readiness.record_frames(
            s,
            [
                readiness.FrameArrival(
                    observation.frame_id(r),
                    r.op_run_id,
                    observation.op_runs[r.op_run_id],
                    str(observation.path_of(r)),
                )
                for r in observation.frames
            ],
        )
    assert readiness.run_readiness_pass(store).recipe_runs_created == 1
    (outcome,) = Scheduler(store, root / "scratch").run_until_idle()
    assert outcome.status == "succeeded", outcome.error
    recipe_run_id = outcome.recipe_run_id
    with store.session() as s:
        from dkist_processing_core.datacenter.operations.scheduling import build_run_spec

        scratch_dir = build_run_spec(s, recipe_run_id, root / "scratch").scratch_dir
    with Scratch(scratch_dir) as scratch:
        l1_frames = scratch.find(t.OUTPUT, t.L1)

    mail = root / "mail"
    with local_smtp_server(mail) as port:
        outbox = Outbox(SQLiteOutboxStore(root / "outbox"), smtp_host="127.0.0.1", smtp_port=port)

        def publish() -> Published:
            return publish_recipe_run(
                store,
                recipe_run_id,
                scratch_root=root / "scratch",
                archive_root=root / "archive",
                outbox=outbox,
            )

        tampered = l1_frames[len(l1_frames) // 2]
        original = _tamper(tampered)
        with pytest.raises(FrameIntegrityError) as refused:
            publish()
        with store.session() as s:
            versions_after_tamper = s.scalar(select(func.count()).select_from(DatasetVersion))
        archive_after_tamper = sorted((root / "archive").rglob("*"))
        tampered.write_bytes(original)

        first = publish()
        second = publish()
    yield Publication(
        instrument=instrument,
        observation=observation,
        root=root,
        store=store,
        recipe_run_id=recipe_run_id,
        l1_frames=l1_frames,
        tamper_error=refused.value,
        tampered_frame=tampered,
        versions_after_tamper=versions_after_tamper,
        archive_files_after_tamper=archive_after_tamper,
        first=first,
        second=second,
        mails=sorted(mail.glob("*.eml")),
    )
    store.dispose()


def _asdf_of(p: Publication) -> Path:
    (asdf_path,) = p.first.package_path.glob("*.asdf")
    return asdf_path


def _tiles(dataset):
    """The datasets of a TiledDataset (a VBI mosaic) with their grid place, or the one dataset."""
    if isinstance(dataset, dkist.TiledDataset):
        places = [(index, dataset[index]) for index in np.ndindex(dataset.shape)]
        return [(index, tile) for index, tile in places if isinstance(tile, dkist.Dataset)]
    return [((), dataset)]


def test_tampered_frame_is_refused_naming_it_and_nothing_is_stored(publication):
    p = publication
    assert p.tamper_error.path == p.tampered_frame
    assert p.tampered_frame.name in str(p.tamper_error)
    assert p.versions_after_tamper == 0
    assert not [f for f in p.archive_files_after_tamper if f.is_file()]


def test_publishing_twice_gives_one_version_and_one_mail(publication):
    p = publication
    assert p.first.created and not p.second.created
    assert p.first.version == p.second.version
    assert p.first.package_path == p.second.package_path
    with p.store.session() as s:
        versions = s.scalars(select(DatasetVersion.version_id)).all()
    assert versions == [p.first.version]
    assert len(p.mails) == 1
    text = p.mails[0].read_text()
    assert PI_EMAIL in text and p.first.version in text and p.first.dataset_id in text


def test_package_verifies(publication):
    p = publication
    verification = verify_package(p.first.package_path)
    assert verification.ok, verification
    assert verification.checked >= len(p.l1_frames) + 1  # frames, ASDF, products


def test_asdf_loads_and_reaches_the_frames(publication):
    p = publication
    loaded = dkist.load_dataset(_asdf_of(p))
    by_name = {f.name: f for f in p.l1_frames}
    seen = set()
    for _, ds in _tiles(loaded):
        names = np.asarray(ds.files.filenames)
        file_axes = ds.data.ndim - 2  # the trailing two axes are one frame's image
        names = names.reshape(ds.data.shape[:file_axes])
        for index in np.ndindex(names.shape):
            name = Path(str(names[index])).name
            with fits.open(by_name[name]) as hdul:  # the L1 file in the scratch, decompressed
                expected = hdul[1].data[0]
            np.testing.assert_array_equal(np.asarray(ds.data[index]), expected)
            seen.add(name)
    assert seen == set(by_name)  # every L1 frame, once


def _wrap(arcsec):
    """Angles (arcsec) into [-180, 180) deg: the gwcs gives longitude in [0, 360) deg."""
    return (np.asarray(arcsec) + 648000.0) % 1296000.0 - 648000.0


def _world(ds, index_grids):
    """World coordinates by physical type: helioprojective in arcsec, wavelength in nm."""
    world = ds.wcs.array_index_to_world_values(*index_grids)
    out = {}
    for kind, unit, value in zip(ds.wcs.world_axis_physical_types, ds.wcs.world_axis_units, world):
        quantity = np.asarray(value) * u.Unit(unit)
        if kind.startswith("custom:pos.helioprojective"):
            quantity = _wrap(quantity.to_value(u.arcsec)) * u.arcsec
        elif kind == "em.wl":
            quantity = quantity.to(u.nm)
        out[kind] = quantity.value
    return out


def test_world_coordinates_agree_with_the_simulated_truth(publication):
    p = publication
    truth = p.observation.truth
    loaded = dkist.load_dataset(_asdf_of(p))
    errors = {}
    if p.instrument == "visp":
        ds = loaded
        assert ds.data.shape == (
            4,
            len(truth.step_hpln_arcsec),
            len(truth.slit_hplt_arcsec),
            len(truth.wavelengths_nm),
        )
        _, n_steps, ny, nx = ds.data.shape
        grids = np.meshgrid(0, np.arange(n_steps), np.arange(ny), np.arange(nx), indexing="ij")
        world = _world(ds, grids)
        lon = world["custom:pos.helioprojective.lon"][0]
        lat = world["custom:pos.helioprojective.lat"][0]
        wave = world["em.wl"][0]
        pixel = np.abs(np.diff(truth.slit_hplt_arcsec)).mean()
        step = np.abs(np.diff(truth.step_hpln_arcsec)).mean()
        dispersion = np.abs(np.diff(truth.wavelengths_nm)).mean()
        errors["longitude (scan steps)"] = np.max(
            np.abs(lon - truth.step_hpln_arcsec[:, None, None]) / step
        )
        errors["latitude (slit pixels)"] = np.max(
            np.abs(lat - truth.slit_hplt_arcsec[None, :, None]) / pixel
        )
        errors["wavelength (pixels)"] = np.max(
            np.abs(wave - truth.wavelengths_nm[None, None, :]) / dispersion
        )
    else:
        tiles = _tiles(loaded)
        assert len(tiles) == len(truth.tile_origins)
        pixel = truth.values["pointing"]["pixel_arcsec"]
        origins = np.asarray(truth.tile_origins)
        columns, rows = sorted(set(origins[:, 1])), sorted(set(origins[:, 0]))
        lon_error = lat_error = 0.0
        for (mindex1, mindex2), ds in tiles:
            tile = int(ds.headers[0]["VBISTP"])
            row0, column0 = origins[tile - 1]
            # the grid place follows the pointing: MINDEX1 columns (lon), MINDEX2 rows (lat)
            assert (mindex1, mindex2) == (columns.index(column0), rows.index(row0))
            n_frames, ny, nx = ds.data.shape
            grids = np.meshgrid(np.arange(n_frames), np.arange(ny), np.arange(nx), indexing="ij")
            world = _world(ds, grids)
            lon = world["custom:pos.helioprojective.lon"]
            lat = world["custom:pos.helioprojective.lat"]
            expected_lon = truth.scene_hpln_arcsec[column0 : column0 + nx][None, None, :]
            expected_lat = truth.scene_hplt_arcsec[row0 : row0 + ny][None, :, None]
            lon_error = max(lon_error, np.max(np.abs(lon - expected_lon)) / pixel)
            lat_error = max(lat_error, np.max(np.abs(lat - expected_lat)) / pixel)
            # the frames' wavelength is the filter's: the dataset is one pass band
            (wavelength,) = truth.wavelengths_nm
            assert set(ds.headers["LINEWAV"]) == {wavelength}
            inventory = ds.meta["inventory"]
            assert inventory["wavelengthMin"] <= wavelength <= inventory["wavelengthMax"]
        errors["longitude (pixels)"] = lon_error
        errors["latitude (pixels)"] = lat_error
    print(f"{p.instrument}: largest world-coordinate errors", errors)
    for what, error in errors.items():
        assert error < TOLERANCE_PIXELS, (what, error)


def test_published_frames_are_the_scratch_frames(publication):
    # The package holds the run's L1 frames byte for byte (the ASDF refers to these copies).
    p = publication
    for frame in p.l1_frames:
        packaged = p.first.package_path / frame.name
        assert packaged.read_bytes() == frame.read_bytes()
    # the package is self-contained: the ASDF does not refer back to the scratch
    asdf_text = _asdf_of(p).read_bytes()
    assert str(p.root / "scratch").encode() not in asdf_text


def test_publication_takes_the_code_versions_from_the_run_report(publication):
    p = publication
    report = read_run_report(scratch_dir_for(p.root / "scratch", p.recipe_run_id))
    versions = report.code_versions
    assert {"dkist-processing-core", f"dkist-processing-{p.instrument}", "dkist-inventory"} <= set(
        versions
    )
    provenance = json.loads((p.first.package_path / "provenance.json").read_text())
    assert provenance["code_versions"] == versions
    with p.store.session() as s:
        rows = s.scalars(
            select(DatasetVersionCodeVersion).where(
                DatasetVersionCodeVersion.version_id == p.first.version
            )
        ).all()
    assert {r.package: r.version for r in rows} == versions


def test_publishing_a_run_without_its_dataset_asdf_fails_naming_it(publication):
    p = publication
    scratch_dir = scratch_dir_for(p.root / "scratch", p.recipe_run_id)
    archive = p.root / "another_archive"
    with Scratch(scratch_dir) as scratch:
        asdf = scratch.find_one(t.OUTPUT, t.ASDF)
        scratch.untag(asdf, [t.ASDF])
    try:
        with pytest.raises(PublishError, match="the dataset ASDF") as refused:
            publish_recipe_run(
                p.store, p.recipe_run_id, scratch_root=p.root / "scratch", archive_root=archive
            )
    finally:
        with Scratch(scratch_dir) as scratch:
            scratch.tag(asdf, [t.ASDF])
    message = str(refused.value)
    assert "WriteDatasetAsdf" in message and "OUTPUT, ASDF" in message
    assert not archive.exists()
