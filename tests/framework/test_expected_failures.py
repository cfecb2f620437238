"""A failure caused by bad input is logged as its message; a bug keeps its traceback."""

from __future__ import annotations

import logging

import pytest

from dkist_processing_core.calibration.input.frames import InputFrameError
from dkist_processing_core.calibration.l1.header import L1HeaderError
from dkist_processing_core.calibration.products import MissingCalibrationError
from dkist_processing_core.framework import (
    ExpectedError,
    LocalExecutor,
    ParameterError,
    TaskFailed,
    WorkflowNotFound,
    is_expected,
)
from dkist_processing_core.framework.parallel import FrameError

from .test_local_executor import make_spec
from .test_parallel import spec as chunked_spec


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log():
    """The library's log records of one test (whatever handlers a CLI test installed)."""
    handler = Records()
    logger = logging.getLogger("dkist_processing_core")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def failure_record(records, task: str) -> logging.LogRecord:
    (record,) = [r for r in records if r.levelno == logging.ERROR and r.name.endswith(task)]
    return record


def test_bad_input_is_logged_as_its_message_only(tmp_path, log):
    with pytest.raises(TaskFailed) as failed:
        LocalExecutor().run(make_spec(tmp_path, bad_input_in="SumFrames"))
    assert "/raw/frame_3.fits: keyword 'CAM__004' is missing" in failed.value.error
    text = failure_record(log, "SumFrames").getMessage()
    assert text.endswith(
        "failed: BadFrameError: /raw/frame_3.fits: keyword 'CAM__004' is missing (SumFrames)"
    )
    assert "Traceback" not in text and 'File "' not in text


def test_a_bug_keeps_its_traceback_in_the_log(tmp_path, log):
    with pytest.raises(TaskFailed):
        LocalExecutor().run(make_spec(tmp_path, fail_in="SumFrames"))
    text = failure_record(log, "SumFrames").getMessage()
    assert "failed: ValueError: simulated failure in SumFrames" in text
    assert "Traceback (most recent call last)" in text
    assert "workflows_for_tests.py" in text and "in behave" in text


def test_the_calibration_error_classes_are_expected_and_keep_their_bases():
    for error, base in [
        (InputFrameError, ValueError),
        (MissingCalibrationError, LookupError),
        (L1HeaderError, ValueError),
        (ParameterError, KeyError),
        (WorkflowNotFound, LookupError),
    ]:
        assert issubclass(error, ExpectedError) and issubclass(error, base)
        assert is_expected(error("x"))
    assert not is_expected(ValueError("x")) and not is_expected(KeyError("x"))
    assert is_expected(FrameError({"path": "a"}, "InputFrameError: a", expected=True))
    assert not is_expected(FrameError({"path": "a"}, "ZeroDivisionError: a"))


def test_bad_input_in_a_chunk_of_frames_is_logged_as_its_message(tmp_path, log):
    with pytest.raises(TaskFailed) as failed:
        LocalExecutor().run(chunked_spec(tmp_path, chunk=3, bad_input_on=4))
    assert "raw/frame0004.fits: keyword 'CAM__004' is missing" in failed.value.error
    for record in [r for r in log if r.levelno == logging.ERROR]:
        assert "Traceback" not in record.getMessage()


def test_a_bug_in_a_chunk_of_frames_keeps_its_traceback(tmp_path, log):
    with pytest.raises(TaskFailed):
        LocalExecutor().run(chunked_spec(tmp_path, chunk=3, fail_on=4))
    frame_record = next(r for r in log if "frame raw/frame0004.fits failed" in r.getMessage())
    assert "Traceback (most recent call last)" in frame_record.getMessage()
    task_record = next(r for r in log if "failed: FrameError" in r.getMessage())
    assert "Traceback (most recent call last)" in task_record.getMessage()
