"""Executors: where and when a workflow's tasks run (in-process, Dask, Airflow)."""

from .base import RunReport, TaskFailed, execute_task, read_run_report, write_run_report
from .journal import TaskRecord
from .local import LocalExecutor

__all__ = [
    "LocalExecutor",
    "RunReport",
    "TaskFailed",
    "TaskRecord",
    "execute_task",
    "read_run_report",
    "write_run_report",
]
