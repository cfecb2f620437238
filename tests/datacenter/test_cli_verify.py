"""``dkist-processing datasets verify``: the archive of published dataset versions, checked.

A real workflow publishes a real package (``test_publication.set_up``: simulated L1
frames and the real dataset product tasks); the command runs as a real subprocess
against the store (SQLite and PostgreSQL) and the archive, which the test damages.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from astropy.io import fits

from dkist_processing_core.datacenter.operations.scheduling import Scheduler
from dkist_processing_core.datacenter.products.publication import publish_pending

from .commands import COMMAND, environment
from .test_publication import set_up, versions

pytestmark = pytest.mark.slow


def test_datasets_verify_names_damaged_and_missing_packages(
    store, clock, database_url, tmp_path, l1_folder
):
    work = tmp_path / "work"
    set_up(store, clock, l1_folder)
    (outcome,) = Scheduler(store, work / "scratch").run_until_idle()
    assert outcome.status == "succeeded"
    (published,) = publish_pending(
        store, scratch_root=work / "scratch", archive_root=work / "archive"
    )
    assert published.status == "published"
    (version,) = versions(store)
    package = work / "archive" / "obs_1" / version.version_id

    def verify(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*COMMAND, "datasets", "verify", *args, "--database-url", database_url,
             "--workdir", str(work)],
            capture_output=True, text=True, env=environment(),
        )  # fmt: skip

    good = verify()
    assert good.returncode == 0, good.stdout + good.stderr
    assert version.version_id in good.stdout and "1 ok, 0 failed" in good.stdout
    [verdict] = json.loads(verify(version.version_id[:8], "--json").stdout)
    assert verdict["ok"] and verdict["problems"] == []
    assert verdict["files"] == len(list(package.iterdir())) - 1  # all but SHA256SUMS itself

    # One flipped byte in the data of one frame: the version and the file are named.
    frame = sorted(package.glob("*.fits"))[0]
    original = frame.read_bytes()
    with fits.open(frame, disable_image_compression=True) as hdul:
        offset = hdul[-1]._data_offset
    damaged = bytearray(original)
    damaged[offset] ^= 0x01
    frame.write_bytes(bytes(damaged))
    bad = verify()
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert version.version_id in bad.stdout and frame.name in bad.stdout
    assert "0 ok, 1 failed" in bad.stdout
    [verdict] = json.loads(verify("--json").stdout)
    assert not verdict["ok"]
    assert (
        f"{frame.name}: sha256 differs from SHA256SUMS (damaged or tampered with)"
        in (verdict["problems"])
    )
    assert any(
        p.startswith(f"{frame.name}: ") and "verification failed" in p for p in verdict["problems"]
    ), verdict["problems"]
    frame.write_bytes(original)
    assert verify().returncode == 0

    # A missing package folder: named.
    shutil.move(package, tmp_path / "moved-away")
    gone = verify("--json")
    assert gone.returncode == 1, gone.stdout + gone.stderr
    [verdict] = json.loads(gone.stdout)
    assert verdict["version_id"] == version.version_id
    assert verdict["problems"] == [f"{package}: package folder is missing (expected a package)"]
    table = verify().stdout
    assert version.version_id in table and "missing" in table

    # An unknown version id is a usage error.
    unknown = verify("v0000000000000000dead")
    assert unknown.returncode == 2, unknown.stdout + unknown.stderr
    assert unknown.stderr.startswith("error:") and "v0000000000000000dead" in unknown.stderr
    assert "Traceback" not in unknown.stderr
