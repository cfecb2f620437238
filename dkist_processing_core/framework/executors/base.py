"""What every executor shares: running one task of a run, and the run's report.

Each engine (in-process, Dask, Airflow) only decides *where* and *when* a task
runs; :func:`execute_task` is the one place that decides *how*: it resolves the
workflow, skips a task the journal says has completed, removes the partial
outputs of an interrupted earlier attempt, builds the run context, runs the
task and records the outcome. The arguments are a JSON run spec and a task
name, so they cross process boundaries as plain text.

When a run finishes, its :class:`RunReport` (every task's outcome and the
versions of every library the workflow's code uses, :mod:`..libraries`) is
written as JSON into the run's scratch (:func:`finish_run`, atomically), where
whoever publishes the run reads it (:func:`read_run_report`).

A failed task's log record is its error message alone when the failure is
expected (bad input or configuration, see :mod:`..errors`), and the message
with the traceback otherwise. Running a task leaves the process's state (working
directory, warnings filters, logging configuration, numpy error handling,
matplotlib settings) as it found it (see :mod:`..isolation`).
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path

from pydantic import BaseModel

from ..atomic import atomic_write, temporaries_recorded_by
from ..context import RunContext
from ..errors import ExpectedError, is_expected
from ..fingerprint import (
    Fingerprint,
    code_identity,
    differences,
    input_hashes,
    json_hash,
    plain,
    sha256_of_file,
)
from ..isolation import preserved_process_state
from ..libraries import code_versions
from ..logs import run_logger
from ..parameters import ParameterValueError
from ..registry import resolve_workflow
from ..scratch import Scratch
from ..spec import RunSpec
from ..workflow import Workflow
from .journal import FAILED, RUNNING, SUCCEEDED, UPSTREAM_FAILED, RunJournal, TaskRecord

#: The file name of the run report in a run's scratch folder.
RUN_REPORT_NAME = "run_report.json"


class RunReport(BaseModel):
    """What a run did: each task's outcome, and the versions of the code it ran.

    ``code_versions`` maps each library (normalised distribution name) to its
    installed version: the workflow's own packages, what they require, and the
    libraries its tasks declare (:func:`~dkist_processing_core.framework.libraries.code_versions`).
    """

    recipe_run_id: int
    workflow: str
    workflow_version: str
    status: str  # "succeeded" or "failed"
    tasks: list[TaskRecord]
    failed_task: str | None = None
    error: str | None = None
    duration_s: float = 0.0
    code_versions: dict[str, str] = {}
    scratch_dir: Path | None = None

    def dataset(self):
        """The dataset this run made, opened by its workflow's loader: for the DKIST
        workflows a ``dkist.Dataset`` (a ``TiledDataset`` for a mosaic) over the L1 frames,
        from the dataset ASDF the workflow wrote.
        """
        if self.scratch_dir is None:
            raise LookupError(f"the report of recipe run {self.recipe_run_id} names no scratch")
        workflow = resolve_workflow(self.workflow, self.workflow_version)
        if workflow.dataset_loader is None:
            raise LookupError(
                f"workflow {workflow.reference} {workflow.version} makes no dataset it can open "
                "(it sets no dataset_loader)"
            )
        return workflow.dataset_loader(Path(self.scratch_dir))

    def task(self, name: str) -> TaskRecord:
        return next(t for t in self.tasks if t.name == name)

    @property
    def reused(self) -> list[str]:
        """The tasks reused from an earlier invocation (nothing they depend on changed)."""
        return [t.name for t in self.tasks if t.resumed]

    @property
    def ran(self) -> dict[str, str]:
        """The tasks that ran in this invocation, each with why it ran."""
        return {t.name: t.reason or "" for t in self.tasks if not t.resumed and t.attempts}

    def path(self, *tags: str) -> Path:
        """The one file of the run's scratch carrying every one of ``tags``."""
        if not self.scratch_dir:
            raise ValueError(
                f"the report of recipe run {self.recipe_run_id} names no scratch_dir "
                "(written by an older executor): open Scratch(<scratch folder>) instead"
            )
        with Scratch(self.scratch_dir) as scratch:
            return scratch.find_one(*tags)

    def xarray(self, *tags: str):
        """The one file carrying ``tags`` as an ``xarray.Dataset`` with named dimensions.

        Labelled HDF5 intermediates (demodulation matrices, the polcal fit, spectral shifts,
        the characteristic spectrum, quality time series) open with their dimensions,
        coordinates and units; a FITS image as ``data (y, x)``; the dataset ASDF as the lazily
        loaded, dask-backed L1 dataset with world coordinates, a mosaic's tiles along
        ``tile_row`` and ``tile_column``
        (:mod:`dkist_processing_core.calibration.xarray_views`).
        """
        from ..netcdf import open_as_xarray

        return open_as_xarray(self.path(*tags))

    def summary(self) -> str:
        """One line per task: reused, or ran (how long, and why)."""
        lines = [
            f"recipe run {self.recipe_run_id}: {self.workflow} {self.workflow_version} "
            f"{self.status} in {self.duration_s:.1f} s"
        ]
        width = max((len(t.name) for t in self.tasks), default=0)
        for t in self.tasks:
            if t.resumed:
                what = "reused"
            elif t.status == "pending":
                what = "not run"
            else:
                took = f" in {t.duration_s:.1f} s" if t.duration_s is not None else ""
                what = f"{t.status}{took}: {t.reason or ''}".rstrip(": ")
            lines.append(f"  {t.name:<{width}}  {what}")
        if self.error:
            lines.append(f"  error in {self.failed_task}: {self.error}")
        return "\n".join(lines)


class PlanChanged(ExpectedError, RuntimeError):
    """The workflow's task order differs from the one the run was planned with."""


class TaskFailed(RuntimeError):
    """A task of a recipe run failed; the scratch is kept as it was for inspection or retry."""

    def __init__(self, task_name: str, recipe_run_id: int, error: str, report: RunReport | None):
        self.task_name = task_name
        self.recipe_run_id = recipe_run_id
        self.error = error
        self.report = report
        super().__init__(f"task {task_name!r} of recipe run {recipe_run_id} failed: {error}")


def load_workflow(spec: RunSpec) -> Workflow:
    """The run's workflow, validated, after checking the run's parameter values against the
    tasks' declarations (every problem named at once, before anything runs)."""
    workflow = resolve_workflow(spec.workflow, spec.workflow_version).validate()
    if spec.task_order is not None and list(workflow.task_order) != list(spec.task_order):
        raise PlanChanged(
            f"recipe run {spec.recipe_run_id}: workflow {workflow.reference} {workflow.version} "
            f"now has the task order {list(workflow.task_order)}, but the run was planned with "
            f"{list(spec.task_order)}"
        )
    problems = workflow.parameter_value_problems({p.name: p.value for p in spec.parameters})
    if problems:
        raise ParameterValueError(
            f"recipe run {spec.recipe_run_id}: {len(problems)} parameter value(s) do not fit "
            f"{workflow.reference}'s declarations:\n  " + "\n  ".join(problems)
        )
    return workflow


RERUN_CHANGED, RERUN_ALL = "changed", "all"
REUSED = "reused: nothing it depends on changed since it succeeded"


def execute_task(
    spec: RunSpec, task_name: str, workflow: Workflow | None = None, *, rerun: str = RERUN_CHANGED
) -> TaskRecord:
    """Run one task of a run, unless it completed before from the same inputs; never raises
    for a task error.

    A task that succeeded in an earlier invocation is reused when its fingerprint (code,
    declared parameter values and output options, the content of the files it read; see
    :mod:`..fingerprint`) is unchanged; otherwise its earlier outputs are removed and it runs
    again. ``rerun="all"`` runs it again regardless. The returned record says what happened
    and why; a failed task's error message names the exception and its text; the traceback
    of an unexpected failure goes to the log.
    """
    if rerun not in (RERUN_CHANGED, RERUN_ALL):
        raise ValueError(f"rerun must be {RERUN_CHANGED!r} or {RERUN_ALL!r}, not {rerun!r}")
    with preserved_process_state():
        return _execute_task(spec, task_name, workflow, rerun)


def _execute_task(
    spec: RunSpec, task_name: str, workflow: Workflow | None, rerun: str
) -> TaskRecord:
    workflow = workflow or load_workflow(spec)
    node = workflow.node(task_name)
    journal = RunJournal(spec.scratch_dir)
    logger = run_logger(spec.recipe_run_id, task_name)
    scratch = Scratch(spec.scratch_dir, writer=task_name)
    log_file = _task_log_handler(spec, task_name, logger.logger)
    try:
        previous = journal.record(task_name)
        if previous.status == SUCCEEDED:
            if rerun == RERUN_ALL:
                reason = "a full rerun was asked for"
            else:
                changes = _changes_since_success(spec, workflow, node, scratch, journal)
                if not changes:
                    logger.info("unchanged since it succeeded; reused, not run again")
                    return previous.model_copy(update={"resumed": True, "reason": REUSED})
                reason = "; ".join(changes)
        elif previous.status in (RUNNING, FAILED):
            reason = f"the earlier attempt {'failed' if previous.status == FAILED else 'stopped'}"
        else:
            reason = "first run"
        # An earlier attempt may have been interrupted at any point (even by kill -9), or the
        # task runs again after a change: remove its outputs, its unfinished writes and the
        # files it left unindexed, so it starts clean.
        removed = scratch.remove_written_by(task_name)
        leftovers = scratch.discard_leftovers(task_name)
        if removed or leftovers:
            logger.info(
                "runs again (%s); removed its %d earlier outputs and %d unfinished files",
                reason, removed, len(leftovers),
            )  # fmt: skip
        scratch.looked_up.clear()
        journal.start(task_name, reason)
        context = RunContext(
            spec=spec,
            scratch=scratch,
            logger=logger,
            workflow_name=workflow.name,
            workflow_version=workflow.version,
            task_order=workflow.task_order,
            instrument=workflow.instrument,
            declared_parameters=workflow.declared_parameters,
        )
        start = time.perf_counter()
        logger.info("started (%s)", reason)
        try:
            # Each temporary file of the task's atomic writes is recorded as the task's,
            # wherever it lies, before it is created: a kill leaves nothing unattributed.
            with temporaries_recorded_by(scratch.record_temporary):
                node.task(context, name=task_name).run()
        except Exception as e:
            message = f"{type(e).__name__}: {e}"
            if is_expected(e):
                logger.error("failed: %s", message)
            else:
                logger.error("failed: %s\n%s", message, traceback.format_exc())
            journal.finish(task_name, FAILED, message)
            return journal.record(task_name)
        fingerprint = _fingerprint(
            spec,
            workflow,
            node,
            scratch,
            journal,
            inputs=_inputs_read(
                scratch, task_name, scratch.looked_up | _declared_inputs(node, scratch)
            ),
            input_dataset_read=context.input_dataset_read,
        )
        scratch.forget_temporaries(task_name)  # all renamed into place
        journal.finish(task_name, SUCCEEDED, fingerprint=fingerprint.model_dump_json())
        logger.info("completed in %.2f s", time.perf_counter() - start)
        return journal.record(task_name)
    finally:
        scratch.close()
        journal.close()
        logger.logger.removeHandler(log_file)
        log_file.close()


TASK_LOG_FOLDER = "logs"


def _task_log_handler(spec: RunSpec, task_name: str, logger: logging.Logger) -> logging.Handler:
    """Also write the task's log records to ``<scratch>/logs/<task>.log`` while it runs.

    The file keeps what an operator needs after the fact (the traceback of a
    failure above all) beside the run's other files, whichever executor ran it.
    Only this task's logger gets the handler, for the task's duration; the
    caller's logging configuration is otherwise left as it was.
    """
    folder = Path(spec.scratch_dir) / TASK_LOG_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(folder / f"{task_name}.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s"))
    logger.addHandler(handler)
    return handler


def _inputs_read(scratch: Scratch, task_name: str, looked_up: set[str]) -> set[str]:
    """The stored paths a task read: what it looked up, less its own outputs.

    Files outside the scratch that the task indexed (raw frames) are inputs it read, not
    outputs, although the index records it as their writer.
    """
    own = {scratch._stored_path(p) for p in scratch.written_by(task_name)}
    return set(looked_up) - {p for p in own if not Path(p).is_absolute()}


def _declared_inputs(node, scratch: Scratch) -> set[str]:
    """The stored paths of every file matching what the task declares it reads (``reads``)."""
    declared = set()
    for query in node.task.reads:
        declared.update(scratch._stored_path(p) for p in scratch.find(*query))
    return declared


def _fingerprint(
    spec: RunSpec,
    workflow: Workflow,
    node,
    scratch: Scratch,
    journal: RunJournal,
    *,
    inputs: set[str],
    input_dataset_read: bool,
) -> Fingerprint:
    values = {p.name: p.value for p in spec.parameters}
    task = node.task
    names = set(task.parameters)
    if task.records_all_parameters:
        names |= set(values)
    # The parameter values travel in the input dataset too; each task's fingerprint holds
    # the values it uses, so the input dataset's hash covers its frames only (else changing
    # one parameter would rerun every task that reads the frame list).
    frames_only = spec.input_dataset.model_copy(update={"parameter_values": []})
    return Fingerprint(
        code=code_identity(task),
        workflow_version=workflow.version,
        parameters={name: plain(values.get(name)) for name in sorted(names)},
        options={name: plain(spec.configuration.get(name)) for name in task.output_options},
        input_dataset=json_hash(frames_only) if input_dataset_read else None,
        inputs=input_hashes(
            inputs,
            scratch._absolute,
            lambda stored, path: journal.file_hash(stored, path, sha256_of_file),
        ),
    )


def _changes_since_success(
    spec: RunSpec, workflow: Workflow, node, scratch: Scratch, journal: RunJournal
) -> list[str]:
    """What differs from when the task last succeeded (empty: it may be reused)."""
    recorded = journal.fingerprint(node.name)
    if not recorded:
        return ["no record of what it was computed from (an older journal)"]
    before = Fingerprint.model_validate_json(recorded)
    # The files it read then, and any file that now matches what it declares it reads.
    declared = _declared_inputs(node, scratch)
    now = _fingerprint(
        spec,
        workflow,
        node,
        scratch,
        journal,
        inputs=_inputs_read(scratch, node.name, set(before.inputs) | declared),
        input_dataset_read=before.input_dataset is not None,
    )
    return differences(before, now)


def mark_upstream_failed(spec: RunSpec, task_name: str, failed_upstreams: list[str]) -> TaskRecord:
    journal = RunJournal(spec.scratch_dir)
    try:
        journal.mark(task_name, UPSTREAM_FAILED, f"not run: upstream {failed_upstreams} failed")
        return journal.record(task_name)
    finally:
        journal.close()


def build_report(spec: RunSpec, workflow: Workflow, records: dict[str, TaskRecord], start: float):
    order = workflow.task_order
    tasks = [records.get(n) or RunJournal(spec.scratch_dir).record(n) for n in order]
    failed = next((t for t in tasks if t.status == FAILED), None)
    return RunReport(
        recipe_run_id=spec.recipe_run_id,
        workflow=spec.workflow,
        workflow_version=workflow.version,
        status="failed" if failed else SUCCEEDED,
        tasks=tasks,
        failed_task=failed.name if failed else None,
        error=failed.error if failed else None,
        duration_s=time.perf_counter() - start,
        code_versions=code_versions(workflow),
        scratch_dir=Path(spec.scratch_dir).resolve(),
    )


def run_report_path(scratch_dir: Path | str) -> Path:
    """Where the report of the run whose scratch is ``scratch_dir`` is written."""
    return Path(scratch_dir) / RUN_REPORT_NAME


def write_run_report(scratch_dir: Path | str, report: RunReport) -> Path:
    """Write ``report`` as JSON into the run's scratch, atomically (a reader never sees half)."""
    path = run_report_path(scratch_dir)
    with atomic_write(path) as f:
        f.write(report.model_dump_json(indent=1).encode())
    return path


def read_run_report(scratch_dir: Path | str) -> RunReport:
    """The report a finished run wrote into its scratch; the error names the file."""
    path = run_report_path(scratch_dir)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no run report (an executor writes it when the run finishes)"
        ) from None
    try:
        return RunReport.model_validate_json(text)
    except ValueError as error:
        raise ValueError(f"{path}: not a run report: {error}") from None


def finish_run(spec: RunSpec, report: RunReport) -> RunReport:
    """Write the run report into the run's scratch; raise :class:`TaskFailed` if it failed."""
    write_run_report(spec.scratch_dir, report)
    return raise_for_failure(report)


def raise_for_failure(report: RunReport) -> RunReport:
    if report.status != SUCCEEDED:
        raise TaskFailed(
            report.failed_task or "?", report.recipe_run_id, report.error or "", report
        )
    return report
