"""The framework: Task, Workflow, the tagged scratch, the run context and executors.

It knows nothing of telescopes or databases.
"""

from .atomic import atomic_write
from .context import ParameterError, ParameterValues, RunContext
from .executors import LocalExecutor, RunReport, TaskFailed, TaskRecord, execute_task
from .registry import Instrument, WorkflowNotFound, instruments, resolve_workflow
from .scratch import Scratch, ScratchError
from .spec import InputDataset, InputFrame, ParameterValue, RunProvenance, RunSpec
from .task import Task
from .workflow import Workflow, WorkflowValidationError

__all__ = [
    "InputDataset",
    "InputFrame",
    "Instrument",
    "LocalExecutor",
    "ParameterError",
    "ParameterValue",
    "ParameterValues",
    "RunContext",
    "RunProvenance",
    "RunReport",
    "RunSpec",
    "Scratch",
    "ScratchError",
    "Task",
    "TaskFailed",
    "TaskRecord",
    "Workflow",
    "WorkflowNotFound",
    "WorkflowValidationError",
    "atomic_write",
    "execute_task",
    "instruments",
    "resolve_workflow",
]
