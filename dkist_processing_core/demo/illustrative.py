"""A small illustrative workflow for the demo until the instrument workflows take its place."""

from __future__ import annotations

import numpy as np

from ..framework import Task, Workflow


class SimulateDarks(Task):
    """Write a handful of simulated dark frames: a bias level plus Gaussian read noise."""

    writes = (("INPUT", "TASK_DARK"),)
    parameters = ("dark_frame_count",)

    def run(self) -> None:
        rng = np.random.default_rng(self.configuration.get("seed", 1))
        for i in range(self.parameter("dark_frame_count")):
            frame = 100.0 + rng.normal(0, 2.0, (64, 64)).astype(np.float32)
            self.scratch.write_fits(frame, ["INPUT", "TASK_DARK"], f"dark_{i:03d}")


class AverageDark(Task):
    r"""Average the dark frames: :math:`D = \frac{1}{N}\sum_i R_i`."""

    reads = (("INPUT", "TASK_DARK"),)
    writes = (("INTERMEDIATE", "DARK"),)

    def run(self) -> None:
        paths = self.scratch.find("INPUT", "TASK_DARK")
        total = None
        for p in self.progress(paths, description="averaging darks"):
            data, _ = self.scratch.read_fits(p)
            total = data.astype(np.float64) if total is None else total + data
        self.scratch.write_fits(
            (total / len(paths)).astype(np.float32), ["INTERMEDIATE", "DARK"], "dark"
        )


def illustrative_workflow() -> Workflow:
    wf = Workflow("illustrative_dark", "0.1.0", description="Simulate darks and average them.")
    wf.add(SimulateDarks)
    wf.add(AverageDark, upstreams=[SimulateDarks])
    return wf
