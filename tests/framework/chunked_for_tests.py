"""A workflow whose one task maps a chunk function over frames (importable by Dask workers).

Behaviour is steered by the run's configuration: ``n_frames``; ``barrier`` (a folder):
each chunk writes a marker and waits until ``barrier_chunks`` markers exist, which only
completes when that many chunks run at the same time; ``fail_on``: the frame index whose
calibration raises (a bug); ``bad_input_on``: the frame index that is bad input.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from dkist_processing_core.framework import InputError, Scratch, Task, Workflow
from dkist_processing_core.framework.parallel import map_frames


def square_frames(
    frames: list[dict],
    *,
    scratch_dir: str,
    writer: str,
    barrier: str | None = None,
    barrier_chunks: int = 2,
    barrier_timeout: float = 60.0,
    fail_on: int | None = None,
    bad_input_on: int | None = None,
):
    """Write each frame's value squared as a 2x2 array; yield what was written and where."""
    if barrier:
        root = Path(barrier)
        (root / f"chunk-{frames[0]['index']:04d}").write_text(str(os.getpid()))
        deadline = time.monotonic() + barrier_timeout
        while len(list(root.glob("chunk-*"))) < barrier_chunks:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"chunk of frame {frames[0]['index']} waited {barrier_timeout} s for "
                    f"{barrier_chunks} chunks to run at once; only "
                    f"{len(list(root.glob('chunk-*')))} started"
                )
            time.sleep(0.02)
    with Scratch(scratch_dir, writer=writer) as scratch:
        for frame in frames:
            if frame["index"] == fail_on:
                raise ValueError(f"simulated bad data in frame {frame['index']}")
            if frame["index"] == bad_input_on:
                raise InputError(f"{frame['path']}: keyword 'CAM__004' is missing")
            value = float(frame["index"]) ** 2
            path = scratch.write_array(
                np.full((2, 2), value, np.float32), ["SQUARE"], f"square{frame['index']:04d}"
            )
            yield {"index": frame["index"], "square": value, "path": str(path), "pid": os.getpid()}


def not_a_generator(frames, **_):
    return [1]  # one result however many frames: map_frames must refuse it


class SquareFrames(Task):
    """Square each frame's index, in chunks; record the results in order."""

    writes = (("SQUARE",), ("SQUARES",))

    def run(self) -> None:
        c = self.configuration
        frames = [{"path": f"raw/frame{i:04d}.fits", "index": i} for i in range(c["n_frames"])]
        arguments = {"scratch_dir": str(self.scratch.root), "writer": self.scratch.writer}
        for key in ("barrier", "barrier_chunks", "barrier_timeout", "fail_on", "bad_input_on"):
            if key in c:
                arguments[key] = c[key]
        function = not_a_generator if c.get("miscount") else square_frames
        results = map_frames(self, function, frames, arguments=arguments, chunk_size=c.get("chunk"))
        self.scratch.write_json(
            {"results": results, "task_pid": os.getpid()}, ["SQUARES"], "squares"
        )


def squares() -> Workflow:
    wf = Workflow("squares", "1.0.0")
    wf.add(SquareFrames)
    return wf
