"""A tiny workflow the data-center tests run through the real executor.

``fail_in`` in the run's configuration names a task that raises, so one
workflow serves both a succeeding and a failing run.
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
        frames = self.context.input_dataset.get("frames", [])
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
