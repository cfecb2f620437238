"""kill -9 at any point of a write: the rerun completes and its outputs equal an uninterrupted run.

A subprocess runs the diamond workflow with ``DKIST_CRASH_AT`` naming a point of the
write path (see :mod:`dkist_processing_core.framework.crashpoints`), where it SIGKILLs
itself; the same recipe run is then run again in this process with the local executor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dkist_processing_core.framework import LocalExecutor, Scratch, ScratchConflict
from dkist_processing_core.framework.crashpoints import ENV_MATCH, ENV_POINT
from dkist_processing_core.framework.executors.base import RUN_REPORT_NAME, TASK_LOG_FOLDER
from dkist_processing_core.framework.scratch import INDEX_NAME

from .test_local_executor import make_spec

# The run-level files beside the tasks' outputs: index, journal, run report.
JOURNAL_AND_INDEX = (INDEX_NAME, ".run-journal.sqlite", RUN_REPORT_NAME)


def run_in_subprocess(spec, env: dict[str, str]) -> subprocess.CompletedProcess:
    code = (
        "from dkist_processing_core.framework import LocalExecutor, RunSpec\n"
        f"LocalExecutor().run(RunSpec.from_json({spec.to_json()!r}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=300, env={**os.environ, **env}
    )


def _comparable(path, scratch_root) -> object:
    """A file's content as compared between runs (the report's process id differs)."""
    if path.suffix == ".npy":
        return np.load(path).tolist()
    if path.suffix == ".json":
        document = json.loads(path.read_text())
        document.pop("pid", None)
        return document
    return path.read_bytes()


def outputs(scratch_dir) -> dict[str, tuple[frozenset[str], object]]:
    """Every indexed file of the scratch: relative path -> (tags, content)."""
    with Scratch(scratch_dir) as s:
        files = s.written_by("MakeFrames") + s.written_by("SumFrames")
        files += s.written_by("MaxFrames") + s.written_by("Report")
        return {
            str(p.relative_to(s.root)): (frozenset(s.tags_of(p)), _comparable(p, s.root))
            for p in files
        }


def unindexed_files(scratch_dir) -> list[str]:
    """Files on disk that the index does not record (a killed write's leftovers)."""
    with Scratch(scratch_dir) as s:
        known = {p for w in ("MakeFrames", "SumFrames", "MaxFrames", "Report")
                 for p in s.written_by(w, pending=True)}  # fmt: skip
        on_disk = [
            p
            for p in s.root.rglob("*")
            if p.is_file()
            and not p.name.startswith(JOURNAL_AND_INDEX)
            and p.relative_to(s.root).parts[0] != TASK_LOG_FOLDER  # the tasks' log files
        ]
        return sorted(str(p.relative_to(s.root)) for p in on_disk if p not in known)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    LocalExecutor().run(make_spec(root))
    return outputs(root / "scratch")


@pytest.mark.parametrize(
    ("point", "task"),
    [
        ("write-before-rename:3", "MakeFrames"),  # the third frame is a .part file
        ("write-after-rename:3", "MakeFrames"),  # renamed into place, not indexed
        ("index-before-commit:3", "MakeFrames"),  # its index rows are not committed
        ("write-after-rename:1", "SumFrames"),  # a later task: earlier outputs must stay
        ("index-before-commit:1", "Report"),
    ],
)
def test_killed_at_a_point_of_a_write_then_rerun_equals_an_uninterrupted_run(
    tmp_path, uninterrupted, point, task
):
    spec = make_spec(tmp_path)
    killed = run_in_subprocess(spec, {ENV_POINT: point, ENV_MATCH: f"/{task}/"})
    assert killed.returncode == -9, killed.stderr.decode()[-3000:]
    if point.startswith("write-before-rename"):
        assert any(name.endswith(".part") for name in unindexed_files(spec.scratch_dir))
    if point.startswith("write-after-rename"):
        # The renamed file is there, recorded only as a pending reservation of its writer.
        with Scratch(spec.scratch_dir) as s:
            pending = set(s.written_by(task, pending=True)) - set(s.written_by(task))
        assert len(pending) == 1 and next(iter(pending)).exists()

    report = LocalExecutor().run(spec)
    assert report.status == "succeeded"
    assert report.task(task).attempts == 2
    assert outputs(spec.scratch_dir) == uninterrupted
    assert unindexed_files(spec.scratch_dir) == []


def test_a_file_renamed_but_never_indexed_does_not_block_the_rerun(tmp_path, uninterrupted):
    # What an older version left when killed after a rename: a file the index does not know
    # at all (no pending row). The rerun removes it from the task's folder and writes it again.
    spec = make_spec(tmp_path)
    killed = run_in_subprocess(spec, {ENV_POINT: "write-after-rename:2", ENV_MATCH: "/MakeFrames/"})
    assert killed.returncode == -9
    with Scratch(spec.scratch_dir) as s:
        pending = set(s.written_by("MakeFrames", pending=True)) - set(s.written_by("MakeFrames"))
        (orphan,) = pending
        s.release(orphan)  # now nothing in the index says who wrote it
    with (
        Scratch(spec.scratch_dir, writer="MakeFrames") as again,
        pytest.raises(ScratchConflict, match=r"refusing to overwrite .*no write of this run"),
    ):
        again.write_bytes(b"", ["X"], orphan.name)
    assert LocalExecutor().run(spec).status == "succeeded"
    assert outputs(spec.scratch_dir) == uninterrupted
    assert unindexed_files(spec.scratch_dir) == []
