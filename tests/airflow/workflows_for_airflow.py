"""A workflow whose one task fails on its first attempt and succeeds on the next.

The attempts are counted in a file outside the scratch (``attempts_file`` in
the run's configuration), so the count survives the task's own retry clean-up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dkist_processing_core.framework import Task, Workflow


class FlakyOnce(Task):
    """Write a partial output, then fail on the first attempt; succeed on any later one."""

    writes = (("FLAKY",),)

    def run(self) -> None:
        counter = Path(self.configuration["attempts_file"])
        attempt = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(attempt))
        self.scratch.write_array(np.full((2, 2), attempt, dtype=np.float32), ["FLAKY"], "flaky")
        if attempt == 1:
            raise ConnectionError("simulated transient failure on the first attempt")


class AfterFlaky(Task):
    """Read the flaky task's output and record it."""

    reads = (("FLAKY",),)
    writes = (("AFTER",),)

    def run(self) -> None:
        found = self.scratch.find("FLAKY")
        values = [float(self.scratch.read_array(p)[0, 0]) for p in found]
        self.scratch.write_json({"flaky_values": values}, ["AFTER"], "after")


def flaky() -> Workflow:
    wf = Workflow("flaky", "1.0.0")
    wf.add(FlakyOnce)
    wf.add(AfterFlaky, upstreams=[FlakyOnce])
    return wf
