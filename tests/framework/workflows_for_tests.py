"""Small workflows used by the framework tests (importable by Dask worker processes).

Behaviour is steered by the run's configuration, so one workflow serves many cases:
``fail_in``: names a task that raises (a bug: ``ValueError``); ``bad_input_in``: a
task that fails on bad input (an expected failure, ``InputError``); ``kill_in``: a task that SIGKILLs its own
process mid-way (after writing a partial output); ``barrier``: tasks that wait for
each other, which only completes when they run at the same time.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np

from dkist_processing_core.framework import InputError, Task, Workflow


class BadFrameError(InputError):
    """A frame that cannot be used (stands in for a calibration error class)."""


def _count_invocation(task: Task) -> None:
    """Append this task's name to a ledger file outside the scratch (counts real runs)."""
    ledger = task.configuration.get("ledger")
    if ledger:
        with open(ledger, "a") as f:
            f.write(task.name + "\n")


class _Behaviour(Task):
    def behave(self) -> None:
        _count_invocation(self)
        if self.configuration.get("kill_in") == self.name:
            self.scratch.write_json({"partial": True}, [f"PARTIAL_{self.name}"], "partial.json")
            os.kill(os.getpid(), signal.SIGKILL)
        if self.configuration.get("fail_in") == self.name:
            raise ValueError(f"simulated failure in {self.name}")
        if self.configuration.get("bad_input_in") == self.name:
            raise BadFrameError(f"/raw/frame_3.fits: keyword 'CAM__004' is missing ({self.name})")


class MakeFrames(_Behaviour):
    """Write a few synthetic frames tagged FRAME and INPUT."""

    writes = (("FRAME", "INPUT"),)
    parameters = ("frame_count",)

    def run(self) -> None:
        self.behave()
        n = self.parameter("frame_count")
        for i in range(n):
            self.scratch.write_array(
                np.full((4, 4), i, dtype=np.float32), ["FRAME", "INPUT", f"INDEX_{i}"], f"f{i}"
            )


class SumFrames(_Behaviour):
    """Sum the input frames."""

    reads = (("FRAME", "INPUT"),)
    writes = (("SUM",),)

    def run(self) -> None:
        self.behave()
        total = sum(
            self.scratch.read_array(p)
            for p in self.progress(self.scratch.find("FRAME", "INPUT"), description="summing")
        )
        self.scratch.write_array(total, ["SUM"], "sum")


class MaxFrames(_Behaviour):
    """Take the maximum of the input frames."""

    reads = (("FRAME", "INPUT"),)
    writes = (("MAX",),)

    def run(self) -> None:
        self.behave()
        stack = [self.scratch.read_array(p) for p in self.scratch.find("FRAME", "INPUT")]
        self.scratch.write_array(np.max(stack, axis=0), ["MAX"], "max")


class Report(_Behaviour):
    """Combine the sum and the maximum into a JSON report."""

    reads = (("SUM",), ("MAX",))
    writes = (("REPORT",),)

    def run(self) -> None:
        self.behave()
        s = self.scratch.read_array(self.scratch.find_one("SUM"))
        m = self.scratch.read_array(self.scratch.find_one("MAX"))
        self.scratch.write_json(
            {"sum": float(s[0, 0]), "max": float(m[0, 0]), "pid": os.getpid()}, ["REPORT"], "report"
        )


def diamond() -> Workflow:
    wf = Workflow("diamond", "1.0.0", description="MakeFrames -> (SumFrames, MaxFrames) -> Report")
    wf.add(MakeFrames)
    wf.add(SumFrames, upstreams=[MakeFrames])
    wf.add(MaxFrames, upstreams=[MakeFrames])
    wf.add(Report, upstreams=[SumFrames, MaxFrames])
    return wf


class ClippedMax(_Behaviour):
    """The maximum of the input frames, clipped at the parameter ``max_clip``."""

    reads = (("FRAME", "INPUT"),)
    writes = (("MAX",),)
    parameters = ("max_clip",)

    def run(self) -> None:
        self.behave()
        stack = [self.scratch.read_array(p) for p in self.scratch.find("FRAME", "INPUT")]
        clipped = np.minimum(np.max(stack, axis=0), self.parameter("max_clip"))
        self.scratch.write_array(clipped, ["MAX"], "max")


class ScaledSum(_Behaviour):
    """The sum of the input frames times the configuration option ``scale``."""

    reads = (("FRAME", "INPUT"),)
    writes = (("SUM",),)
    output_options = ("scale",)

    def run(self) -> None:
        self.behave()
        total = sum(self.scratch.read_array(p) for p in self.scratch.find("FRAME", "INPUT"))
        self.scratch.write_array(
            total * float(self.configuration.get("scale", 1.0)), ["SUM"], "sum"
        )


def branches() -> Workflow:
    """MakeFrames -> (ScaledSum, ClippedMax) -> Report: a parameter and an option per branch."""
    wf = Workflow("branches", "1.0.0")
    wf.add(MakeFrames)
    wf.add(ScaledSum, upstreams=[MakeFrames])
    wf.add(ClippedMax, upstreams=[MakeFrames])
    wf.add(Report, upstreams=[ScaledSum, ClippedMax])
    return wf


class FirstFrameOnly(_Behaviour):
    """Declares it reads every frame but looks up only the first (as a dark-per-exposure does)."""

    reads = (("FRAME", "INPUT"),)
    writes = (("FIRST",),)

    def run(self) -> None:
        self.behave()
        first = self.scratch.find("FRAME", "INPUT", "INDEX_0")[0]
        self.scratch.write_array(self.scratch.read_array(first), ["FIRST"], "first")


def picky() -> Workflow:
    wf = Workflow("picky", "1.0.0")
    wf.add(MakeFrames)
    wf.add(FirstFrameOnly, upstreams=[MakeFrames])
    return wf


class _WaitForPeer(Task):
    """Write a marker, then wait until the peer's marker exists (proves both ran at once)."""

    peer = ""

    def run(self) -> None:
        root = Path(self.configuration["barrier"])
        (root / self.name).write_text(json.dumps({"pid": os.getpid()}))
        deadline = time.monotonic() + float(self.configuration.get("barrier_timeout", 60))
        while not (root / self.peer).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} waited for {self.peer}, which never started")
            time.sleep(0.02)


class Left(_WaitForPeer):
    peer = "Right"


class Right(_WaitForPeer):
    peer = "Left"


def barrier() -> Workflow:
    wf = Workflow("barrier", "1.0.0")
    wf.add(Left)
    wf.add(Right)
    return wf
