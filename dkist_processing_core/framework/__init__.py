"""The framework: Task, Workflow, the tagged scratch, the run context and executors.

It knows nothing of telescopes or databases.
"""

from .atomic import atomic_write
from .context import ParameterError, ParameterValues, RunContext
from .errors import ExpectedError, InputError, ServiceUnavailable, is_expected
from .executors import (
    LocalExecutor,
    RunReport,
    TaskFailed,
    TaskRecord,
    execute_task,
    read_run_report,
)
from .libraries import code_versions
from .parameters import Parameter, ParameterValueError
from .registry import (
    Instrument,
    WorkflowNotFound,
    installed_instrument,
    instruments,
    resolve_workflow,
)
from .scratch import Scratch, ScratchConflict, ScratchError
from .spec import InputDataset, InputFrame, ParameterValue, RunProvenance, RunSpec
from .task import Task
from .workflow import Workflow, WorkflowValidationError

__all__ = [
    "ExpectedError",
    "InputDataset",
    "InputError",
    "InputFrame",
    "Instrument",
    "LocalExecutor",
    "Parameter",
    "ParameterError",
    "ParameterValue",
    "ParameterValueError",
    "ParameterValues",
    "RunContext",
    "RunProvenance",
    "RunReport",
    "RunSpec",
    "Scratch",
    "ScratchConflict",
    "ScratchError",
    "ServiceUnavailable",
    "Task",
    "TaskFailed",
    "TaskRecord",
    "Workflow",
    "WorkflowNotFound",
    "WorkflowValidationError",
    "atomic_write",
    "code_versions",
    "execute_task",
    "installed_instrument",
    "instruments",
    "is_expected",
    "read_run_report",
    "resolve_workflow",
]
