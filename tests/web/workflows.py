"""A workflow for the web tests whose failure is transient: a storage fault.

``ReadCalibrationFile`` reads the file the run's configuration names
(``calibration_file``); while the file is missing the task fails (a
``FileNotFoundError`` naming the file), and once it is back a simple retry of
the same plan succeeds, as with a storage fault at the data center.
"""

from __future__ import annotations

from pathlib import Path

from dkist_processing_core.framework import Task, Workflow


class ReadCalibrationFile(Task):
    """Read the calibration file the configuration names and record its text."""

    writes = (("SUMMARY",),)

    def run(self) -> None:
        path = Path(self.configuration["calibration_file"])
        self.logger.info("reading the calibration file %s", path)
        self.scratch.write_json({"text": path.read_text()}, ["SUMMARY"], "summary.json")


class Finish(Task):
    """Read the summary back."""

    reads = (("SUMMARY",),)
    writes = (("DONE",),)

    def run(self) -> None:
        summary = self.scratch.read_json(self.scratch.find_one("SUMMARY"))
        self.scratch.write_json(summary, ["DONE"], "done.json")


FLAKY = Workflow("flaky", "1.0", description="read a calibration file, then finish")
FLAKY.add(ReadCalibrationFile)
FLAKY.add(Finish, upstreams=[ReadCalibrationFile])
