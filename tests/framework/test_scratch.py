import multiprocessing as mp
import os
import signal

import numpy as np
import pytest
from astropy.io import fits

from dkist_processing_core.framework import Scratch, ScratchConflict, ScratchError, atomic_write
from dkist_processing_core.framework.atomic import temporaries_recorded_by


@pytest.fixture
def scratch(tmp_path):
    with Scratch(tmp_path / "scratch", writer="Writer") as s:
        yield s


def test_find_is_the_intersection_of_tags(scratch):
    a = scratch.write_json({"i": 1}, ["INPUT", "TASK_DARK", "EXP_TIME_0.1"], "a")
    b = scratch.write_json({"i": 2}, ["INPUT", "TASK_DARK", "EXP_TIME_0.2"], "b")
    c = scratch.write_json({"i": 3}, ["INPUT", "TASK_GAIN", "EXP_TIME_0.1"], "c")
    assert scratch.find("INPUT") == sorted([a, b, c])
    assert scratch.find("INPUT", "TASK_DARK") == sorted([a, b])
    assert scratch.find("TASK_DARK", "EXP_TIME_0.1") == [a]
    assert scratch.find("TASK_DARK", "NOPE") == []
    assert scratch.count("EXP_TIME_0.1") == 2
    assert scratch.values_of("EXP_TIME_", "TASK_DARK") == ["0.1", "0.2"]
    assert scratch.values_of("EXP_TIME_") == ["0.1", "0.2"]
    assert scratch.read_json(scratch.find_one("TASK_GAIN")) == {"i": 3}


def test_tag_and_untag(scratch):
    p = scratch.write_json({}, ["A"], "x")
    scratch.tag(p, ["B", "C"])
    assert scratch.tags_of(p) == {"A", "B", "C"}
    scratch.untag(p, "B")
    assert scratch.find("B") == [] and scratch.find("A", "C") == [p]


def test_find_one_names_the_tags_when_not_exactly_one(scratch):
    scratch.write_json({}, ["A"], "x")
    scratch.write_json({}, ["A"], "y")
    with pytest.raises(ScratchError, match=r"exactly one file tagged \['A'\].*found 2"):
        scratch.find_one("A")


def test_external_files_are_indexed_in_place(scratch, tmp_path):
    raw = tmp_path / "raw.fits"
    fits.PrimaryHDU(np.zeros((2, 2))).writeto(raw)
    scratch.add(raw, ["INPUT", "FRAME"])
    assert scratch.find("INPUT") == [raw.resolve()]


def test_arrays_and_fits_round_trip(scratch):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    p = scratch.write_array(arr, ["ARR"], "arr")
    np.testing.assert_array_equal(scratch.read_array(p), arr)
    hdr = fits.Header({"EXPTIME": 0.5})
    f = scratch.write_fits(arr, ["FITS"], "frame", header=hdr)
    data, header = scratch.read_fits(f)
    np.testing.assert_array_equal(data, arr)
    assert header["EXPTIME"] == 0.5


def test_writes_never_overwrite_silently(scratch):
    p = scratch.write_json({"v": 1}, ["A"], "same")
    with pytest.raises(ScratchError, match=r"refusing to overwrite .*same\.json"):
        scratch.write_json({"v": 2}, ["A"], "same")
    assert scratch.read_json(p) == {"v": 1}


def test_atomic_write_leaves_no_half_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "product.bin"
    target.write_bytes(b"old complete content")
    with pytest.raises(RuntimeError), atomic_write(target) as f:
        f.write(b"half of the new")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old complete content"
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_failed_write_is_not_indexed(scratch):
    def explode(f):
        f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        scratch.write_with(explode, ["A"], "broken")
    assert scratch.find("A") == []
    assert not scratch.path_for("broken").exists()


def test_remove_written_by_keeps_other_tasks_and_inputs(tmp_path):
    root = tmp_path / "s"
    raw = tmp_path / "raw.json"
    raw.write_text("{}")
    with Scratch(root, writer="First") as first, Scratch(root, writer="Second") as second:
        keep = first.write_json({}, ["OUT"], "keep")
        second.add(raw, ["INPUT"])
        gone = second.write_json({}, ["OUT"], "gone")
        assert second.remove_written_by("Second") == 2
        assert first.find("OUT") == [keep]
        assert not gone.exists()
        assert raw.exists()  # files outside the scratch are never deleted


def test_truncated_fits_names_the_file(scratch, tmp_path):
    bad = tmp_path / "truncated.fits"
    fits.PrimaryHDU(np.zeros((64, 64), dtype=np.float32)).writeto(bad)
    bad.write_bytes(bad.read_bytes()[:3000])
    with pytest.raises(ScratchError, match=r"truncated\.fits"):
        scratch.read_fits(bad)


def test_unsafe_names_are_refused(scratch):
    with pytest.raises(ScratchError, match="must be relative"):
        scratch.write_json({}, ["A"], "../escape")


def _write_many(root: str, writer: str, n: int) -> None:
    with Scratch(root, writer=writer) as s:
        for i in range(n):
            s.write_json({"i": i}, ["SHARED", writer], f"{i}")


def test_several_processes_write_one_scratch(tmp_path):
    root = str(tmp_path / "shared")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(root, f"W{k}", 50)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with Scratch(root) as s:
        assert s.count("SHARED") == 100
        assert s.count("SHARED", "W1") == 50


def test_a_second_write_of_one_name_names_both_sources(tmp_path):
    root = tmp_path / "s"
    with Scratch(root, writer="Calibrate") as calibrate, Scratch(root, writer="Write") as write:
        a = calibrate.write_json({"i": 1}, ["CALIBRATED"], "a", source="/raw/frame_a.fits")
        b = calibrate.write_json({"i": 2}, ["CALIBRATED"], "b", source="/raw/frame_b.fits")
        first = write.write_json({"from": "a"}, ["OUT"], "same", source=a)
        with pytest.raises(ScratchConflict) as conflict:
            write.write_json({"from": "b"}, ["OUT"], "same", source=b)
        message = str(conflict.value)
        # Both writes are named, each followed back to the raw frame it was made from.
        assert f"from {a} (made from /raw/frame_a.fits)" in message
        assert f"from {b} (made from /raw/frame_b.fits)" in message
        assert conflict.value.first_source == str(a) and conflict.value.second_source == str(b)
        assert write.read_json(first) == {"from": "a"}  # the first file is untouched
        assert write.find("OUT") == [first]


def test_a_reserved_name_is_refused_and_is_not_found_until_written(scratch):
    target = scratch.reserve(scratch.path_for("frame.fits"), source="raw 1")
    assert scratch.find("OUT") == [] and len(scratch) == 0
    with pytest.raises(ScratchConflict, match=r"is being written by Writer from raw 1.*raw 2"):
        scratch.reserve(target, source="raw 2")
    target.write_bytes(b"data")
    scratch.add(target, ["OUT"])
    assert scratch.find("OUT") == [target] and len(scratch) == 1
    assert scratch.source_of(target) == "raw 1"


def test_a_failed_write_gives_its_name_back(scratch):
    def explode(f):
        raise OSError("disk full")

    with pytest.raises(OSError):
        scratch.write_with(explode, ["A"], "again")
    assert scratch.write_bytes(b"ok", ["A"], "again").read_bytes() == b"ok"


def test_remove_written_by_takes_unfinished_writes_and_their_part_files(scratch):
    done = scratch.write_bytes(b"done", ["OUT"], "done")
    pending = scratch.reserve(scratch.path_for("pending"), source="raw")
    part = pending.parent / f".{pending.name}.abc123.part"
    part.write_bytes(b"half")
    stray = scratch.path_for("renamed-never-indexed")
    stray.write_bytes(b"stray")
    assert scratch.remove_written_by("Writer") == 2
    assert not done.exists() and not part.exists()
    assert scratch.discard_leftovers("Writer") == [stray]
    assert not stray.exists()
    assert scratch.write_bytes(b"new", ["OUT"], "pending").read_bytes() == b"new"


def _write_beside_and_die(root, target) -> None:
    """A task's atomic write into another task's folder, killed (SIGKILL) before its rename."""
    scratch = Scratch(root, writer="WriteAsdf")
    with temporaries_recorded_by(scratch.record_temporary), atomic_write(target) as f:
        f.write(b"half an ASDF")
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_write_beside_another_task_s_files_is_its_writer_s_leftover(tmp_path):
    root = tmp_path / "scratch"
    l1 = Scratch(root, writer="WriteL1")
    frame = l1.write_bytes(b"frame", ["L1"], "frame.fits")
    target = frame.parent / "dataset.asdf"  # in WriteL1's folder
    child = mp.get_context("fork").Process(target=_write_beside_and_die, args=(root, target))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    (part,) = frame.parent.glob(".dataset.asdf.*.part")
    asdf = Scratch(root, writer="WriteAsdf")
    assert asdf.temporaries_of("WriteAsdf") == [part]
    assert l1.discard_leftovers("WriteL1") == []  # not the L1 task's: it is recorded
    assert part.exists()
    assert asdf.discard_leftovers("WriteAsdf") == [part]
    assert not part.exists() and not target.exists() and frame.read_bytes() == b"frame"
    assert asdf.temporaries_of("WriteAsdf") == []


def test_an_index_from_an_older_version_gets_the_new_columns(tmp_path):
    import sqlite3

    root = tmp_path / "old"
    root.mkdir()
    conn = sqlite3.connect(root / ".scratch-index.sqlite")
    conn.executescript(
        "CREATE TABLE files (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, writer TEXT, "
        "created REAL NOT NULL);"
        "CREATE TABLE tags (tag TEXT NOT NULL, file_id INTEGER NOT NULL, "
        "PRIMARY KEY (tag, file_id)) WITHOUT ROWID;"
        "CREATE TABLE tag_counts (tag TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
        "INSERT INTO files(path, writer, created) VALUES ('W/old.json', 'W', 0);"
        "INSERT INTO tags VALUES ('OLD', 1);"
    )
    conn.commit()
    conn.close()
    (root / "W").mkdir()
    (root / "W" / "old.json").write_text("{}")
    with Scratch(root, writer="W") as s:
        assert [p.name for p in s.find("OLD")] == ["old.json"]
        s.write_json({}, ["NEW"], "new", source="x")
        assert s.source_of(s.find_one("NEW")) == "x"
