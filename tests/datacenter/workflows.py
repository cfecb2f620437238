"""Tiny workflows the data-center tests run through the real executor.

``fail_in`` in the run's configuration names a task that raises, so one
workflow serves both a succeeding and a failing run.

``PROCESS`` (version 1.0) and ``PROCESS_V2`` (version 2.0) are two versions
of one workflow named ``process``: each version is its own Workflow object
and its own workflow specification row, whose import path names the object
(``tests.datacenter.workflows:PROCESS`` / ``...:PROCESS_V2``), so the
import-path form holds both versions without a registry. They write one small
"L1 frame" (JSON) per observe frame of the input dataset, from which the
dataset-version tests build the inventories.
"""

from __future__ import annotations

from dkist_processing_core.framework import Task, Workflow


class CountInputFrames(Task):
    """Write how many input frames the input dataset lists, and the threshold parameter."""

    writes = (("SUMMARY",),)
    parameters = ("threshold",)

    def run(self) -> None:
        if self.configuration.get("fail_in") == self.name:
            raise ValueError(f"simulated failure in {self.name}")
        frames = self.context.input_dataset.frames
        self.scratch.write_json(
            {
                "frames": len(frames),
                "threshold": self.parameter("threshold"),
                "configuration": self.configuration,
            },
            ["SUMMARY"],
            "summary.json",
        )


class Finish(Task):
    """Read the summary; fail if told to."""

    reads = (("SUMMARY",),)
    writes = (("DONE",),)

    def run(self) -> None:
        if self.configuration.get("fail_in") == self.name:
            raise RuntimeError(f"simulated failure in {self.name}")
        summary = self.scratch.read_json(self.scratch.find_one("SUMMARY"))
        self.scratch.write_json(summary, ["DONE"], "done.json")


CALIBRATE = Workflow("calibrate", "1.0", description="count frames, then finish")
CALIBRATE.add(CountInputFrames)
CALIBRATE.add(Finish, upstreams=[CountInputFrames])


class WriteL1Frames(Task):
    """Write one L1 frame per observe frame: value = threshold x gain (gain 1.0 in version 1.0)."""

    reads = (("SUMMARY",),)
    writes = (("OUTPUT", "FRAME"),)
    parameters = ("threshold",)
    gain = 1.0

    def run(self) -> None:
        frames = [f for f in self.context.input_dataset.frames if f.frame_kind == "observe"]
        for index, frame in enumerate(frames):
            self.scratch.write_json(
                {
                    "frame_id": frame.frame_id,
                    "date_beg": f"2024-04-20T18:{index:02d}:00",
                    "value": self.parameter("threshold") * self.gain,
                    "recipe_run_id": self.recipe_run_id,
                    "workflow": self.context.workflow_name,
                    "workflow_version": self.context.workflow_version,
                },
                ["OUTPUT", "FRAME"],
                f"L1_{frame.frame_id}.json",
            )


class WriteL1FramesV2(WriteL1Frames):
    """Version 2.0 of the L1 frames: a corrected gain of 1.1."""

    gain = 1.1


class QualityReport(Task):
    """Version 2.0 adds a quality report: the number of L1 frames and their mean value."""

    reads = (("OUTPUT", "FRAME"),)
    writes = (("OUTPUT", "QUALITY"),)

    def run(self) -> None:
        values = [self.scratch.read_json(p)["value"] for p in self.scratch.find("OUTPUT", "FRAME")]
        self.scratch.write_json(
            {"frames": len(values), "mean_value": sum(values) / max(len(values), 1)},
            ["OUTPUT", "QUALITY"],
            "quality.json",
        )


PROCESS = Workflow("process", "1.0", description="count frames, write L1 frames")
PROCESS.add(CountInputFrames)
PROCESS.add(WriteL1Frames, upstreams=[CountInputFrames])

PROCESS_V2 = Workflow("process", "2.0", description="count frames, write L1 frames, quality")
PROCESS_V2.add(CountInputFrames)
PROCESS_V2.add(WriteL1FramesV2, upstreams=[CountInputFrames], name="WriteL1Frames")
PROCESS_V2.add(QualityReport, upstreams=["WriteL1Frames"])


class MeetAtBarrier(Task):
    """Leave this run's marker in the folder ``barrier`` names, then wait for ``parties`` markers.

    Two runs both finish only if they execute at the same time: each must see
    the other's marker (``barrier_timeout`` seconds at most, then it fails).
    """

    writes = (("MET",),)

    def run(self) -> None:
        import os
        import time
        from pathlib import Path

        folder = Path(self.configuration["barrier"])
        parties = int(self.configuration.get("parties", 2))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"run_{self.recipe_run_id}").write_text(str(os.getpid()))
        deadline = time.monotonic() + float(self.configuration.get("barrier_timeout", 120))
        while len(seen := sorted(p.name for p in folder.glob("run_*"))) < parties:
            if time.monotonic() > deadline:
                raise TimeoutError(f"barrier {folder}: only {seen} of {parties} runs arrived")
            time.sleep(0.05)
        self.scratch.write_json({"seen": seen, "pid": os.getpid()}, ["MET"], "met.json")


BARRIER = Workflow("barrier", "1.0", description="meet the other runs at a barrier")
BARRIER.add(MeetAtBarrier)


class Prepare(Task):
    """Write a small file (so that a resumed run has something to reuse)."""

    writes = (("PREPARED",),)

    def run(self) -> None:
        self.scratch.write_json({"prepared": True}, ["PREPARED"], "prepared.json")


class WaitForRelease(Task):
    """Say it started (file ``started``), then wait until the file ``release`` exists."""

    reads = (("PREPARED",),)
    writes = (("RELEASED",),)

    def run(self) -> None:
        import time
        from pathlib import Path

        Path(self.configuration["started"]).write_text(str(self.recipe_run_id))
        release = Path(self.configuration["release"])
        deadline = time.monotonic() + float(self.configuration.get("release_timeout", 300))
        while not release.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{release} never appeared")
            time.sleep(0.05)
        self.scratch.write_json({"released": True}, ["RELEASED"], "released.json")


WAIT = Workflow("wait", "1.0", description="prepare, then wait for a release file")
WAIT.add(Prepare)
WAIT.add(WaitForRelease, upstreams=[Prepare])
