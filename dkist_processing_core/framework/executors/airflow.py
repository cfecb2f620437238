"""Apache Airflow adapter: any workflow becomes an Airflow DAG.

One Airflow task per workflow task, with the workflow's dependencies. Airflow
only decides *where* and *when* a task runs; each Airflow task calls
:func:`~dkist_processing_core.framework.executors.base.execute_task` with the
run spec as JSON text and the task's name, so nothing pickled crosses to an
Airflow worker. The run spec travels as the DAG's ``run_spec`` parameter: a
DAG built for one recipe run carries that run's spec (its recipe run id and
its configuration *as run*); a run triggered with ``conf={"run_spec": ...}``
runs another recipe run of the same workflow.

What a recipe run's scheduling says maps onto Airflow's own means:

- the run's resource pool becomes the Airflow ``pool`` of every task (a pool's
  slots bound how many tasks of all runs in it run at once);
- the run's priority becomes each task's ``priority_weight`` with the
  ``absolute`` weight rule, so a run's priority is what Airflow uses (Airflow's
  default rule would add up the weights of downstream tasks);
- ``retries`` (one number, or a mapping task name -> number) sets Airflow's
  per-task retries; a retry runs the task again through ``execute_task``,
  which first removes the partial outputs of the failed attempt.

Airflow is imported only inside the functions here, so this module imports
without Airflow installed; Airflow lives in its own environment (tox
``airflow``) so that its pins never constrain the library's.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ..isolation import preserved_process_state
from ..logs import run_logger
from ..spec import RunSpec
from ..workflow import Workflow
from .base import (
    RERUN_ALL,
    RERUN_CHANGED,
    REUSED,
    RunReport,
    build_report,
    execute_task,
    finish_run,
    load_workflow,
    mark_upstream_failed,
)
from .journal import FAILED, SUCCEEDED, RunJournal, TaskRecord

RUN_SPEC_PARAM = "run_spec"
RERUN_PARAM = "rerun"  # "changed" (reuse tasks whose fingerprint is unchanged) or "all"
_AIRFLOW_KEY = re.compile(r"^[\w.-]+$")  # what Airflow accepts in a DAG id or task id
DEFAULT_RETRY_DELAY = timedelta(minutes=1)


class AirflowTaskError(RuntimeError):
    """Raised inside an Airflow task so that Airflow marks it failed (and retries it)."""


def _require_airflow() -> None:
    try:
        import airflow  # noqa: F401
    except ImportError as e:
        raise ImportError(
            "the Airflow adapter needs Apache Airflow 3: pip install 'dkist-processing-core[airflow]' "
            f"(or run it in the tox 'airflow' environment); importing it failed: {e}"
        ) from e


# -- what runs inside an Airflow task -----------------------------------------------------
def _spec_from_params(params: Mapping[str, Any] | None) -> RunSpec:
    value = (params or {}).get(RUN_SPEC_PARAM)
    if isinstance(value, Mapping):  # a trigger's conf may give the spec as a JSON object
        return RunSpec.model_validate(value)
    if not isinstance(value, str) or not value:
        raise AirflowTaskError(
            f"the DAG run has no {RUN_SPEC_PARAM!r} parameter (the recipe run's spec as JSON); "
            f"got {value!r}"
        )
    return RunSpec.from_json(value)


def run_workflow_task(task_name: str, workflow: str | None = None, **context: Any) -> str:
    """The callable of every workflow task's Airflow task; returns the task record as JSON.

    Runs the task (or skips it if an earlier invocation completed it) and
    raises :class:`AirflowTaskError` if the task failed, so that Airflow marks
    the Airflow task failed and applies its retries. ``workflow`` is the
    reference the DAG was built for: a triggered run spec naming another
    workflow is refused rather than run against the wrong graph.
    """
    spec = _spec_from_params(context.get("params"))
    if workflow is not None and spec.workflow != workflow:
        raise AirflowTaskError(
            f"this DAG runs workflow {workflow!r}, but the run spec of recipe run "
            f"{spec.recipe_run_id} names {spec.workflow!r}"
        )
    rerun = (context.get("params") or {}).get(RERUN_PARAM) or RERUN_CHANGED
    record = execute_task(spec, task_name, rerun=rerun)
    if record.status == FAILED:
        raise AirflowTaskError(
            f"task {task_name!r} of recipe run {spec.recipe_run_id} failed: {record.error}"
        )
    return record.model_dump_json()


# -- building the DAG ---------------------------------------------------------------------
def airflow_key(text: str) -> str:
    """``text`` made into a valid Airflow id (letters, digits, ``_``, ``.``, ``-``)."""
    return re.sub(r"[^\w.-]", "_", text)


def default_dag_id(spec: RunSpec) -> str:
    return airflow_key(f"recipe_run_{spec.recipe_run_id}.{spec.workflow}")


def _retries_per_task(workflow: Workflow, retries: int | Mapping[str, int]) -> dict[str, int]:
    names = workflow.task_order
    if isinstance(retries, int):
        return dict.fromkeys(names, retries)
    unknown = sorted(set(retries) - set(names))
    if unknown:
        raise ValueError(
            f"retries names tasks {unknown} that are not in workflow {workflow.name!r}; "
            f"its tasks are {names}"
        )
    bad = {k: v for k, v in retries.items() if not isinstance(v, int) or v < 0}
    if bad:
        raise ValueError(f"retries must be whole numbers >= 0; got {bad}")
    return {name: retries.get(name, 0) for name in names}


def _task_ids(workflow: Workflow) -> dict[str, str]:
    """Workflow task name -> Airflow task id; names that are not valid ids are made valid."""
    ids: dict[str, str] = {}
    for name in workflow.task_order:
        task_id = airflow_key(name)
        clash = [n for n, i in ids.items() if i == task_id]
        if clash:
            raise ValueError(
                f"workflow tasks {clash[0]!r} and {name!r} both become Airflow task id "
                f"{task_id!r}; rename one"
            )
        ids[name] = task_id
    return ids


def workflow_dag(
    spec: RunSpec,
    *,
    pool: str | None = None,
    priority_weight: int = 1,
    retries: int | Mapping[str, int] = 0,
    retry_delay: timedelta = DEFAULT_RETRY_DELAY,
    dag_id: str | None = None,
    rerun: str = RERUN_CHANGED,
):
    """An Airflow DAG that runs the recipe run ``spec``: one Airflow task per workflow task.

    Parameters
    ----------
    spec
        The recipe run; its workflow is resolved and validated now, so a DAG
        is never built for a workflow that cannot run.
    pool
        The Airflow pool (the run's resource pool) every task runs in; ``None``
        uses Airflow's default pool. See :func:`ensure_pool` to create it.
    priority_weight
        The run's priority; higher runs first when a pool is full.
    retries
        How many times Airflow retries a failed task: one number for all
        tasks, or a mapping task name -> retries (tasks not named get 0).
    retry_delay
        How long Airflow waits before a retry.
    dag_id
        Defaults to ``recipe_run_<id>.<workflow reference>``.
    rerun
        ``"changed"`` reuses tasks whose fingerprint is unchanged since they succeeded in
        an earlier invocation; ``"all"`` runs every task again. A DAG run's conf may
        override it (parameter ``rerun``).
    """
    _require_airflow()
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG, Param

    workflow = load_workflow(spec)
    if not isinstance(priority_weight, int):
        raise TypeError(f"priority_weight must be an int, got {priority_weight!r}")
    dag_id = dag_id or default_dag_id(spec)
    if not _AIRFLOW_KEY.match(dag_id):
        raise ValueError(f"dag_id {dag_id!r} may only hold letters, digits, '_', '.' and '-'")
    per_task_retries = _retries_per_task(workflow, retries)
    task_ids = _task_ids(workflow)
    dag = DAG(
        dag_id=dag_id,
        description=f"recipe run {spec.recipe_run_id}: {workflow.reference} {workflow.version}",
        doc_md=_dag_doc(spec, workflow),
        schedule=None,
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,  # one recipe run's scratch is written by one DAG run at a time
        params={
            RUN_SPEC_PARAM: Param(
                spec.to_json(), type="string", description="the recipe run's spec (JSON)"
            ),
            RERUN_PARAM: Param(
                rerun,
                type="string",
                enum=[RERUN_CHANGED, RERUN_ALL],
                description="reuse unchanged tasks (changed) or run every task again (all)",
            ),
        },
        tags=[f"recipe_run:{spec.recipe_run_id}", f"workflow:{workflow.reference}"],
    )
    operators = {}
    for name in workflow.task_order:
        extra = {"pool": pool} if pool else {}
        operators[name] = PythonOperator(
            task_id=task_ids[name],
            python_callable=run_workflow_task,
            op_kwargs={"task_name": name, "workflow": spec.workflow},
            retries=per_task_retries[name],
            retry_delay=retry_delay,
            priority_weight=priority_weight,
            weight_rule="absolute",
            doc_md=workflow.node(name).task.documentation() or None,
            dag=dag,
            **extra,
        )
    for name in workflow.task_order:
        for upstream in workflow.node(name).upstreams:
            operators[upstream] >> operators[name]
    return dag


def _dag_doc(spec: RunSpec, workflow: Workflow) -> str:
    return (
        f"Recipe run **{spec.recipe_run_id}** of workflow `{workflow.reference}` "
        f"version {workflow.version}.\n\n{workflow.description}\n\n"
        f"Configuration as run:\n\n```json\n"
        f"{RunSpec.model_validate(spec).model_dump_json(include={'configuration'}, indent=2)}\n```\n"
    )


def register_dag(dag) -> None:
    """Write ``dag`` into Airflow's metadata database, as the DAG processor would.

    ``dag.test()`` creates its DAG run from the serialized DAG in the database;
    a DAG built in this process (not parsed from a DAG file) is written there
    first, in the first configured DAG bundle.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
        session.flush()
        bundle = next(iter(manager.get_all_dag_bundles()))
        update_dag_parsing_results_in_db(
            bundle.name,
            None,
            [LazyDeserializedDAG.from_dag(dag)],
            {},
            None,
            set(),
            session=session,
        )


def ensure_pool(name: str, slots: int, description: str = "") -> None:
    """Create the Airflow pool ``name`` with ``slots`` slots if it does not exist yet.

    An existing pool keeps the size an operator gave it.
    """
    from airflow.models.pool import Pool

    if not isinstance(slots, int) or slots < 1:
        raise ValueError(f"pool {name!r} needs a whole number of slots >= 1, got {slots!r}")
    if Pool.get_pool(name) is None:
        Pool.create_or_update_pool(
            name=name,
            slots=slots,
            description=description or f"dkist-processing resource pool {name}",
            include_deferred=False,
        )


# -- the executor -------------------------------------------------------------------------
class AirflowExecutor:
    """Run a recipe run as an Airflow DAG run, with ``dag.test()`` (no scheduler needed).

    ``dag.test()`` runs the DAG's tasks in this process, in dependency order,
    recording the DAG run and its task instances in Airflow's metadata
    database (SQLite or PostgreSQL, from Airflow's configuration), and applies
    Airflow's retries. Like the local executor it raises
    :class:`~dkist_processing_core.framework.executors.base.TaskFailed` naming
    the failed task, leaves the scratch as it was, and resumes: a second run
    of the same recipe run does not run completed tasks again.
    """

    name = "airflow"

    def __init__(
        self,
        *,
        pool: str | None = None,
        pool_slots: int = 1,
        priority_weight: int = 1,
        retries: int | Mapping[str, int] = 0,
        retry_delay: timedelta = timedelta(0),
    ):
        self.pool = pool
        self.pool_slots = pool_slots
        self.priority_weight = priority_weight
        self.retries = retries
        self.retry_delay = retry_delay

    def run(self, spec: RunSpec, *, rerun: str = RERUN_CHANGED) -> RunReport:
        with preserved_process_state():
            return self._run(spec, rerun=rerun)

    def _run(self, spec: RunSpec, *, rerun: str = RERUN_CHANGED) -> RunReport:
        start, started_at = time.perf_counter(), time.time()
        workflow = load_workflow(spec)
        logger = run_logger(spec.recipe_run_id)
        dag = workflow_dag(
            spec,
            pool=self.pool,
            priority_weight=self.priority_weight,
            retries=self.retries,
            retry_delay=self.retry_delay,
            rerun=rerun,
        )
        if self.pool:
            ensure_pool(self.pool, self.pool_slots)
        logger.info("running %s %s as Airflow DAG %s", workflow.reference, workflow.version, dag)
        register_dag(dag)
        dag_run = dag.test()
        states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
        records = _records_from_airflow(spec, workflow, states, started_at)
        report = build_report(spec, workflow, records, start)
        failed_in_airflow = [n for n, s in _states_by_name(workflow, states).items() if s == FAILED]
        if report.status == SUCCEEDED and (failed_in_airflow or dag_run.state != "success"):
            # Airflow failed a task before execute_task could record it (for example the
            # worker could not import the workflow): still a failed run, named by Airflow.
            name = failed_in_airflow[0] if failed_in_airflow else "?"
            report = report.model_copy(
                update={
                    "status": FAILED,
                    "failed_task": name,
                    "error": f"Airflow marked DAG run {dag_run.run_id} {dag_run.state}; "
                    f"task states {states}",
                }
            )
        logger.info("run %s in %.2f s", report.status, report.duration_s)
        return finish_run(spec, report)


def _states_by_name(workflow: Workflow, states: Mapping[str, Any]) -> dict[str, str]:
    ids = _task_ids(workflow)
    return {
        name: str(getattr(states.get(ids[name]), "value", states.get(ids[name]))) for name in ids
    }


def _records_from_airflow(
    spec: RunSpec, workflow: Workflow, states: Mapping[str, Any], started_at: float
) -> dict[str, TaskRecord]:
    """Each task's record from the run journal, as the Airflow task instances left it.

    A task that completed before this invocation started was resumed (not run
    again); a task Airflow did not run because an upstream failed is recorded
    as such in the journal.
    """
    by_name = _states_by_name(workflow, states)
    journal = RunJournal(spec.scratch_dir)
    try:
        records = {name: journal.record(name) for name in by_name}
    finally:
        journal.close()
    for name, record in records.items():
        if record.status == SUCCEEDED and record.ended is not None and record.ended < started_at:
            records[name] = record.model_copy(update={"resumed": True, "reason": REUSED})
    for name, state in by_name.items():
        if state == "upstream_failed":
            failed = sorted(u for u in workflow.ancestors(name) if by_name.get(u) == FAILED)
            records[name] = mark_upstream_failed(spec, name, failed)
    return records


# -- the data center's periodic pass as a scheduled DAG ------------------------------------
def resolve_callable(import_path: str) -> Callable[..., Any]:
    """The function named by ``"package.module:function"``."""
    module_name, sep, attribute = import_path.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"{import_path!r} must be an import path 'package.module:function'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import module {module_name!r} of {import_path!r}: {e}") from e
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not callable(target):
        raise ValueError(f"{import_path!r} is not callable but {type(target).__name__}")
    return target


def call_import_path(import_path: str, database_url: str | None = None, **_context: Any) -> Any:
    """Call the data-center function at ``import_path`` with ``database_url=``.

    What it returns is handed back to Airflow only if it is plain JSON
    (Airflow keeps it as the task's XCom value); anything else is summarised.
    """
    result = resolve_callable(import_path)(database_url=database_url)
    if result is None or isinstance(result, str | int | float | bool | list | dict):
        return result
    return repr(result)


def datacenter_schedule_dag(
    readiness: str,
    start_ready_runs: str,
    *,
    schedule: str | None = "*/5 * * * *",
    database_url: str | None = None,
    dag_id: str = "dkist_datacenter_schedule",
    start_date: datetime | None = None,
    retries: int = 0,
):
    """The data center's periodic pass ("cron") as an Airflow DAG.

    Two tasks, in order: ``readiness`` (marks processing candidates whose
    frames have all arrived, or whose back stop has passed, as ready) then
    ``start_ready_runs`` (creates and starts the recipe runs of ready
    candidates, by priority). Both are import paths ``"package.module:function"``
    of plain functions, each called with ``database_url=`` the metadata store.
    A pass never overlaps the previous one (``max_active_runs=1``) and missed
    intervals are not caught up: each pass looks at the whole store.
    """
    _require_airflow()
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    for path in (readiness, start_ready_runs):
        resolve_callable(path)  # fail when the DAG is built, naming the bad path
    dag = DAG(
        dag_id=dag_id,
        description="readiness pass, then start the recipe runs of ready processing candidates",
        schedule=schedule,
        start_date=start_date or datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=["dkist", "datacenter"],
    )
    common = {"retries": retries, "retry_delay": timedelta(minutes=1), "dag": dag}
    readiness_task = PythonOperator(
        task_id="readiness",
        python_callable=call_import_path,
        op_kwargs={"import_path": readiness, "database_url": database_url},
        **common,
    )
    start_task = PythonOperator(
        task_id="start_ready_runs",
        python_callable=call_import_path,
        op_kwargs={"import_path": start_ready_runs, "database_url": database_url},
        **common,
    )
    readiness_task >> start_task
    return dag


def datacenter_pass(readiness: str, start_ready_runs: str, *, database_url: str | None = None):
    """The same pass without Airflow (for a plain cron or the CLI): readiness, then start runs."""
    return (
        call_import_path(readiness, database_url=database_url),
        call_import_path(start_ready_runs, database_url=database_url),
    )
