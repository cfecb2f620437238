"""Data-center commands: thin wrappers over ``dkist_processing_core.datacenter``.

``register(app)`` adds the command groups ``db``, ``recipes``, ``candidates``,
``readiness``, ``runs``, ``tickets``, ``datasets``, ``reprocess`` and ``status``. Every command takes
``--database-url`` (default: the ``DKIST_PROCESSING_DATABASE_URL`` environment
variable, else a SQLite file in ``--workdir``).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from dkist_processing_core.datacenter.operations import resolutions, tickets
from dkist_processing_core.datacenter.operations.status import processing_status
from dkist_processing_core.datacenter.planning import readiness, recipe_runs, recipes

from ..datacenter.store import open_store

console = Console(width=None if sys.stdout.isatty() else 160)  # wide tables in logs too

DatabaseUrl = typer.Option(
    None, "--database-url", help="Database URL (default: env var or --workdir)."
)
Workdir = typer.Option(Path("."), "--workdir", help="Where the embedded SQLite file lives.")


def _store(database_url: str | None, workdir: Path):
    return open_store(database_url, workdir)


def _fail(error: Exception) -> None:
    console.print(f"[red]error:[/red] {error}")
    raise typer.Exit(1)


def _table(title: str, columns: list[str], rows) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)


def _json_option(text: str | None, what: str) -> dict | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"{what}: not JSON: {error}") from None
    return value


db_app = typer.Typer(help="The metadata store.", no_args_is_help=True)
recipes_app = typer.Typer(
    help="Instruments, workflows, parameters and recipes.", no_args_is_help=True
)
candidates_app = typer.Typer(
    help="Processing candidates, transfer manifests and frame counts.", no_args_is_help=True
)
readiness_app = typer.Typer(help="The periodic readiness pass.", no_args_is_help=True)
runs_app = typer.Typer(help="Recipe runs and the scheduler.", no_args_is_help=True)
tickets_app = typer.Typer(help="Tickets for manual processing.", no_args_is_help=True)
datasets_app = typer.Typer(
    help="Dataset versions: list, show, find by provenance.", no_args_is_help=True
)
reprocess_app = typer.Typer(
    help="Reprocessing: find outdated versions, run them again, curate.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the data-center command groups to ``app``."""
    app.add_typer(db_app, name="db")
    app.add_typer(recipes_app, name="recipes")
    app.add_typer(candidates_app, name="candidates")
    app.add_typer(readiness_app, name="readiness")
    app.add_typer(runs_app, name="runs")
    app.add_typer(tickets_app, name="tickets")
    app.add_typer(datasets_app, name="datasets")
    app.add_typer(reprocess_app, name="reprocess")
    app.command("status")(status)
    app.command("cron")(cron)


# --- db -----------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(database_url: str = DatabaseUrl, workdir: Path = Workdir) -> None:
    """Create or migrate the tables to the newest schema."""
    store = _store(database_url, workdir)
    console.print(f"schema up to date: {store.engine.url.render_as_string(hide_password=True)}")


# --- recipes ------------------------------------------------------------------------------------


@recipes_app.command("add-instrument")
def add_instrument(
    name: str, description: str = "", database_url: str = DatabaseUrl, workdir: Path = Workdir
) -> None:
    try:
        with _store(database_url, workdir).session() as s:
            recipes.create_instrument(s, name, description)
    except recipes.RecipeError as e:
        _fail(e)
    console.print(f"instrument {name} added")


@recipes_app.command("add-workflow")
def add_workflow(
    instrument: str,
    name: str,
    version: str,
    import_path: str = typer.Option(None, help="package.module:attribute"),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Register a workflow name and version the library resolves."""
    try:
        with _store(database_url, workdir).session() as s:
            recipes.create_workflow_specification(
                s, instrument, name, version, import_path=import_path
            )
    except recipes.RecipeError as e:
        _fail(e)
    console.print(f"workflow {instrument}:{name} {version} added")


@recipes_app.command("add-parameter")
def add_parameter(
    instrument: str,
    name: str,
    value_type: str,
    description: str = "",
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    try:
        with _store(database_url, workdir).session() as s:
            recipes.create_parameter(s, instrument, name, value_type, description)
    except recipes.RecipeError as e:
        _fail(e)
    console.print(f"parameter {name} ({value_type}) added")


@recipes_app.command("add-value")
def add_value(
    instrument: str,
    parameter: str,
    value: str = typer.Argument(..., help='The value as JSON (e.g. 2.5, "text").'),
    valid_from: datetime = typer.Option(..., help="Valid for observations from (UTC)."),
    valid_until: datetime = typer.Option(None, help="Until (exclusive, UTC)."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Add a parameter value with the date range in which it is valid."""
    try:
        with _store(database_url, workdir).session() as s:
            row = recipes.add_parameter_value(
                s, instrument, parameter, _json_option(value, "value"), valid_from, valid_until
            )
            console.print(f"parameter value {row.id} added")
    except recipes.RecipeError as e:
        _fail(e)


@recipes_app.command("import-instrument")
def import_instrument(
    instrument: str = typer.Argument(..., help="An installed instrument package, e.g. visp."),
    valid_from: datetime = typer.Option(..., help="Default parameter values valid from (UTC)."),
    pool: str = typer.Option("default", help="Resource pool of its recipes."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Register an installed instrument package: workflows, parameters, a recipe per workflow."""
    try:
        with _store(database_url, workdir).session() as s:
            names = recipes.register_instrument_package(
                s, instrument, valid_from=valid_from, resource_pool=pool
            )
        console.print(f"recipes: {', '.join(names)}")
    except recipes.RecipeError as e:
        _fail(e)


@recipes_app.command("retire-value")
def retire_value(
    parameter_value_id: int, database_url: str = DatabaseUrl, workdir: Path = Workdir
) -> None:
    try:
        with _store(database_url, workdir).session() as s:
            recipes.retire_parameter_value(s, parameter_value_id)
    except recipes.RecipeError as e:
        _fail(e)
    console.print(f"parameter value {parameter_value_id} retired")


@recipes_app.command("set-pool")
def set_pool(
    name: str, slots: int, database_url: str = DatabaseUrl, workdir: Path = Workdir
) -> None:
    """Create or resize a resource pool."""
    try:
        with _store(database_url, workdir).session() as s:
            recipes.set_resource_pool(s, name, slots)
    except recipes.RecipeError as e:
        _fail(e)
    console.print(f"resource pool {name}: {slots} slots")


@recipes_app.command("add")
def add_recipe(
    name: str,
    instrument: str,
    workflow: str,
    version: str,
    parameter: list[str] = typer.Option([], "--parameter", "-p"),
    defaults: str = typer.Option("{}", help="Default configuration (JSON object)."),
    manual: bool = typer.Option(False, help="Manual by definition."),
    pool: str = typer.Option("default", help="Resource pool."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Create a recipe."""
    try:
        with _store(database_url, workdir).session() as s:
            recipes.create_recipe(
                s,
                name,
                instrument,
                workflow,
                version,
                parameters=parameter,
                default_configuration=_json_option(defaults, "--defaults"),
                is_manual=manual,
                resource_pool=pool,
            )
    except recipes.RecipeError as e:
        _fail(e)
    console.print(f"recipe {name} added")


@recipes_app.command("update")
def update(
    name: str,
    defaults: str = typer.Option(None, help="New default configuration."),
    manual: bool = typer.Option(None, "--manual/--automatic"),
    version: str = typer.Option(None, help="New workflow version."),
    pool: str = typer.Option(None),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Change a recipe (existing runs keep their configuration as run)."""
    try:
        with _store(database_url, workdir).session() as s:
            recipes.update_recipe(
                s,
                name,
                default_configuration=_json_option(defaults, "--defaults"),
                is_manual=manual,
                workflow_version=version,
                resource_pool=pool,
            )
    except recipes.RecipeError as e:
        _fail(e)
    console.print(f"recipe {name} updated")


@recipes_app.command("retire")
def retire(name: str, database_url: str = DatabaseUrl, workdir: Path = Workdir) -> None:
    try:
        with _store(database_url, workdir).session() as s:
            recipes.retire_recipe(s, name)
    except recipes.RecipeError as e:
        _fail(e)
    console.print(f"recipe {name} retired")


@recipes_app.command("list")
def list_all(
    include_retired: bool = False, database_url: str = DatabaseUrl, workdir: Path = Workdir
) -> None:
    """Recipes, parameter values and resource pools."""
    with _store(database_url, workdir).session() as s:
        _table(
            "recipes",
            [
                "name",
                "instrument",
                "workflow",
                "version",
                "manual",
                "pool",
                "parameters",
                "defaults",
                "retired",
            ],
            [
                (
                    r.name,
                    r.instrument.name,
                    r.workflow_specification.name,
                    r.workflow_specification.version,
                    r.is_manual,
                    r.resource_pool,
                    ",".join(p.name for p in r.parameters),
                    json.dumps(r.default_configuration),
                    r.retired_at,
                )
                for r in recipes.list_recipes(s, include_retired=include_retired)
            ],
        )
        _table(
            "parameter values",
            [
                "id",
                "instrument",
                "parameter",
                "type",
                "value",
                "valid from",
                "valid until",
                "retired",
            ],
            [
                (
                    v.id,
                    v.parameter.instrument.name,
                    v.parameter.name,
                    v.parameter.value_type,
                    json.dumps(v.value),
                    v.valid_from,
                    v.valid_until,
                    v.retired_at,
                )
                for v in recipes.list_parameter_values(s, include_retired=include_retired)
            ],
        )
        _table(
            "resource pools",
            ["name", "slots"],
            [(p.name, p.slots) for p in recipes.list_resource_pools(s)],
        )


# --- candidates ---------------------------------------------------------------------------------


@candidates_app.command("add")
def add_candidate(
    observe_op: str,
    recipe: str,
    proposal: str,
    pi: str,
    observation_date: datetime,
    calibration_op: list[str] = typer.Option([], "--calibration-op", "-c"),
    priority: int = typer.Option(None),
    run_configuration: str = typer.Option(None, help="Run-specific values (JSON)."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Register a processing candidate."""
    try:
        with _store(database_url, workdir).session() as s:
            c = readiness.register_processing_candidate(
                s,
                observe_op,
                calibration_op,
                proposal_id=proposal,
                principal_investigator=pi,
                recipe=recipe,
                observation_date=observation_date,
                proposal_priority=priority,
                run_configuration=_json_option(run_configuration, "--run-configuration"),
            )
            console.print(f"processing candidate {c.id} ({observe_op}) added")
    except (readiness.ReadinessError, recipes.RecipeError) as e:
        _fail(e)


@candidates_app.command("manifest")
def manifest(
    op_run_id: str, expected_frames: int, database_url: str = DatabaseUrl, workdir: Path = Workdir
) -> None:
    """Record a transfer manifest: how many frames OP ``op_run_id`` sends."""
    try:
        with _store(database_url, workdir).session() as s:
            readiness.record_transfer_manifest(s, op_run_id, expected_frames)
    except readiness.ReadinessError as e:
        _fail(e)
    console.print(f"manifest {op_run_id}: {expected_frames} frames")


@candidates_app.command("frames")
def frames(
    arrivals: Path = typer.Argument(
        ..., exists=True, help="JSON list of {frame_id, op_run_id, frame_kind, path}."
    ),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Count ingested frames (each frame id once)."""
    rows = json.loads(arrivals.read_text())
    try:
        with _store(database_url, workdir).session() as s:
            new = readiness.record_frames(s, [readiness.FrameArrival(**r) for r in rows])
    except (readiness.ReadinessError, TypeError) as e:
        _fail(e)
    console.print(f"{new} new frames counted ({len(rows) - new} already known)")


# --- readiness ----------------------------------------------------------------------------------


@readiness_app.command("run")
def run_pass(
    back_stop_days: float = typer.Option(
        13.0, help="Force readiness this long after the last frame."
    ),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Run one readiness pass (from cron, or by hand)."""
    report = readiness.run_readiness_pass(
        _store(database_url, workdir), back_stop=timedelta(days=back_stop_days)
    )
    console.print(
        f"{report.ready} candidates ready ({report.ready_by_back_stop} by the back "
        f"stop), {report.recipe_runs_created} recipe runs created"
    )


# --- runs ---------------------------------------------------------------------------------------


@runs_app.command("list")
def list_runs(
    status_filter: str = typer.Option(None, "--status"),
    limit: int = 100,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    with _store(database_url, workdir).session() as s:
        _table(
            "recipe runs",
            [
                "id",
                "instance",
                "attempt",
                "status",
                "pool",
                "boost",
                "failed task",
                "manual",
                "created",
            ],
            [
                (
                    r.id,
                    r.recipe_instance_id,
                    r.attempt,
                    r.status,
                    r.resource_pool,
                    r.priority_boost,
                    r.failed_task,
                    r.manually_processed,
                    r.created_at,
                )
                for r in recipe_runs.list_recipe_runs(s, status=status_filter, limit=limit)
            ],
        )


@runs_app.command("boost")
def boost(
    recipe_run_id: int, boost: int, database_url: str = DatabaseUrl, workdir: Path = Workdir
) -> None:
    """Set the operator's priority boost of a run."""
    try:
        with _store(database_url, workdir).session() as s:
            recipe_runs.boost_priority(s, recipe_run_id, boost)
    except recipe_runs.RecipeRunError as e:
        _fail(e)
    console.print(f"recipe run {recipe_run_id}: boost {boost}")


@runs_app.command("schedule")
def schedule(
    scratch_root: Path = typer.Option(..., help="Scratch directories go here."),
    until_idle: bool = typer.Option(False, help="Repeat until nothing fits."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Start the highest-priority runs that fit the free slots and record the outcomes."""
    from dkist_processing_core.datacenter.operations.scheduling import Scheduler

    scheduler = Scheduler(_store(database_url, workdir), scratch_root)
    outcomes = scheduler.run_until_idle() if until_idle else scheduler.run_once()
    _table(
        "outcomes",
        ["run", "status", "failed task", "ticket"],
        [(o.recipe_run_id, o.status, o.failed_task, o.ticket_id) for o in outcomes],
    )


def cron(
    smtp: str = typer.Option(None, help="SMTP server host:port for the PI notices."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """The periodic pass for a plain cron: readiness, then run and publish what is ready."""
    from dkist_processing_core.datacenter.operations import periodic

    console.print(periodic.readiness_pass(database_url=database_url, workdir=workdir))
    outcomes = periodic.start_ready_runs(database_url=database_url, workdir=workdir, smtp=smtp)
    _table(
        "outcomes",
        ["run", "status", "failed task", "ticket"],
        [(o["recipe_run_id"], o["status"], o["failed_task"], o["ticket_id"]) for o in outcomes],
    )


# --- tickets ------------------------------------------------------------------------------------


@tickets_app.command("list")
def list_open_tickets(
    all_tickets: bool = typer.Option(False, "--all"),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    with _store(database_url, workdir).session() as s:
        _table(
            "tickets",
            [
                "id",
                "run",
                "kind",
                "status",
                "failed task",
                "error",
                "resolution",
                "by",
                "follow-up run",
            ],
            [
                (
                    t.id,
                    t.recipe_run_id,
                    t.kind,
                    t.status,
                    t.failed_task,
                    (t.error or "")[:80],
                    t.resolution,
                    t.resolved_by,
                    t.follow_up_recipe_run_id,
                )
                for t in tickets.list_tickets(s, status=None if all_tickets else "open")
            ],
        )


@tickets_app.command("retry")
def retry(
    ticket_id: int,
    operator: str = typer.Option(...),
    note: str = "",
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Resolve by a simple retry."""
    try:
        with _store(database_url, workdir).session() as s:
            run = resolutions.resolve_by_retry(s, ticket_id, operator, note)
            console.print(f"ticket {ticket_id} resolved: retry is recipe run {run.id}")
    except tickets.TicketError as e:
        _fail(e)


@tickets_app.command("adjust")
def adjust(
    ticket_id: int,
    operator: str = typer.Option(...),
    note: str = "",
    run_configuration: str = typer.Option(None, help="Changed values (JSON object)."),
    frame: list[str] = typer.Option(None, "--frame", help="Exact frame ids to use."),
    reassemble: bool = typer.Option(False, help="Re-assemble the input dataset."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Resolve by an adjusted plan (new input dataset and/or configuration) and a retry."""
    try:
        with _store(database_url, workdir).session() as s:
            run = resolutions.resolve_by_adjusted_plan(
                s,
                ticket_id,
                operator,
                note,
                run_configuration=_json_option(run_configuration, "--run-configuration"),
                frame_ids=frame or None,
                reassemble_input_dataset=reassemble,
            )
            console.print(f"ticket {ticket_id} resolved: adjusted run is recipe run {run.id}")
    except tickets.TicketError as e:
        _fail(e)


@tickets_app.command("manual")
def manual(
    ticket_id: int,
    operator: str = typer.Option(...),
    actions: str = typer.Option(...),
    reason: str = typer.Option(...),
    file: list[str] = typer.Option([], "--file"),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Resolve by a manual execution; who, what, why and which files are recorded."""
    try:
        with _store(database_url, workdir).session() as s:
            done = resolutions.resolve_by_manual_execution(
                s, ticket_id, operator, actions, reason, file
            )
            console.print(f"ticket {ticket_id} resolved by manual execution {done.id}")
    except tickets.TicketError as e:
        _fail(e)


# --- status -------------------------------------------------------------------------------------


def status(
    proposal: str = typer.Option(None, help="Only this proposal."),
    limit: int = typer.Option(None, help="At most this many candidates."),
    as_json: bool = typer.Option(False, "--json", help="Plain data instead of a table."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Work on data that has arrived from the summit, per proposal and candidate."""
    with _store(database_url, workdir).session() as s:
        data = processing_status(s, proposal_id=proposal, limit=limit)
    if as_json:
        console.print_json(json.dumps(data))
        return
    console.print(status_table(data))


def status_table(data: list[dict]) -> Table:
    """The status view as a table: one row per processing candidate."""
    table = Table(title="processing status")
    for column in (
        "proposal",
        "PI",
        "observe OP",
        "frames",
        "ready",
        "status",
        "runs",
        "open tickets",
    ):
        table.add_column(column)
    for p in data:
        for c in p["candidates"]:
            expected = c["frames_expected"] if c["frames_expected"] is not None else "?"
            ready = ("back stop" if c["ready_by_back_stop"] else "yes") if c["ready"] else "no"
            runs = " ".join(
                f"{r['recipe_run_id']}:{r['status']}"
                + (
                    f"[reprocessing {r['reprocessing_of_version']}]"
                    if r.get("reprocessing_of_version")
                    else ""
                )
                for r in c["runs"]
            )
            table.add_row(
                p["proposal_id"],
                p["principal_investigator"],
                c["observe_op_run_id"],
                f"{c['frames_received']}/{expected}",
                ready,
                c["status"],
                runs,
                " ".join(map(str, c["open_tickets"])),
            )
    return table


# --- datasets -----------------------------------------------------------------------------------


def _parameter_criterion(text: str | None) -> dict:
    """``--parameter-value 12`` (an id) or ``--parameter-value name=JSON`` (a name and value)."""
    if text is None:
        return {}
    if text.strip().isdigit():
        return {"parameter_value_id": int(text)}
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise typer.BadParameter(
            f"--parameter-value {text!r}: expected an id (12) or NAME=JSON (threshold=2.5)"
        )
    return {"parameter": (name.strip(), _json_option(value, "--parameter-value"))}


def _version_rows(versions) -> list[tuple]:
    return [
        (
            v["dataset_id"],
            v["version_id"],
            v["sequence"],
            v["status"],
            f"{v['workflow_name']} {v['workflow_version']}",
            v["recipe_run_id"],
            v["supersedes_version_id"],
            v["manually_processed"],
            "; ".join(v.get("reasons", [])),
            "" if not v["curation"] else f"{v['curation']['decision']} by {v['curation']['by']}",
        )
        for v in versions
    ]


VERSION_COLUMNS = [
    "dataset",
    "version",
    "#",
    "status",
    "workflow",
    "run",
    "supersedes",
    "manual",
    "why",
    "curation",
]


def _print_versions(title: str, versions, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(versions))
    else:
        _table(title, VERSION_COLUMNS, _version_rows(versions))


AsJson = typer.Option(False, "--json", help="Plain data instead of a table.")


@datasets_app.command("list")
def datasets_list(
    include_discarded: bool = typer.Option(False, "--include-discarded"),
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Every dataset version (distributed ones; discarded ones when asked)."""
    from dkist_processing_core.datacenter.products.discovery import find_versions

    with _store(database_url, workdir).session() as s:
        versions = find_versions(s, include_discarded=include_discarded)
    _print_versions("dataset versions", versions, as_json)


@datasets_app.command("show")
def datasets_show(
    name: str = typer.Argument(..., help="A dataset id, or a version id (or its prefix)."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """A dataset with all its versions, or one version in full (provenance, inventories)."""
    from dkist_processing_core.datacenter.products.discovery import (
        DiscoveryError,
        show_dataset,
        show_version,
    )

    with _store(database_url, workdir).session() as s:
        try:
            data = show_dataset(s, name)
        except DiscoveryError:
            try:
                data = show_version(s, name)
            except DiscoveryError as e:
                _fail(e)
    console.print_json(json.dumps(data))


@datasets_app.command("find")
def datasets_find(
    input_frame: str = typer.Option(None, "--input-frame", help="An input frame id."),
    parameter_value: str = typer.Option(
        None, "--parameter-value", help="A parameter value id, or NAME=JSON."
    ),
    workflow: str = typer.Option(None, "--workflow", help="NAME or NAME==VERSION."),
    older_than_workflow: str = typer.Option(
        None, "--older-than-workflow", help="NAME==VERSION (PEP 440 order)."
    ),
    code_version: str = typer.Option(None, "--code-version", help="PACKAGE or PACKAGE==VERSION."),
    recipe_run: int = typer.Option(None, "--recipe-run"),
    manual: bool = typer.Option(False, "--manual", help="Only manually influenced versions."),
    manual_by: str = typer.Option(None, "--manual-by", help="Manual execution by this operator."),
    frames: bool = typer.Option(False, "--frames", help="List the L1 frames instead."),
    include_discarded: bool = typer.Option(False, "--include-discarded"),
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Dataset versions (or their frames) matching every criterion given, with why."""
    from dkist_processing_core.datacenter.products.discovery import (
        DiscoveryError,
        find_frames,
        find_versions,
    )

    criteria = dict(
        input_frame_id=input_frame,
        workflow=workflow,
        older_than_workflow=older_than_workflow,
        code_version=code_version,
        recipe_run_id=recipe_run,
        manual=manual_by or (True if manual else None),
        **_parameter_criterion(parameter_value),
    )
    with _store(database_url, workdir).session() as s:
        try:
            if frames:
                found = find_frames(s, include_discarded=include_discarded, **criteria)
            else:
                found = find_versions(s, include_discarded=include_discarded, **criteria)
        except DiscoveryError as e:
            _fail(e)
    if frames:
        if as_json:
            console.print_json(json.dumps(found))
        else:
            _table(
                "frames",
                ["dataset", "version", "frame", "date-beg", "stokes", "workflow", "run"],
                [
                    (
                        f["dataset_id"],
                        f["version_id"],
                        f["frame_file_name"],
                        f["date_beg"],
                        f["stokes"],
                        f"{f['workflow_name']} {f['workflow_version']}",
                        f["recipe_run_id"],
                    )
                    for f in found
                ],
            )
        return
    _print_versions("dataset versions found", found, as_json)


# --- reprocess ----------------------------------------------------------------------------------


@reprocess_app.command("find")
def reprocess_find(
    older_than_workflow: str = typer.Option(
        None, "--older-than-workflow", help="NAME==VERSION: made by an older version."
    ),
    parameter_value: str = typer.Option(
        None, "--parameter-value", help="A parameter value id, or NAME=JSON."
    ),
    input_frame: str = typer.Option(None, "--input-frame"),
    code_version: str = typer.Option(None, "--code-version", help="PACKAGE==VERSION."),
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Distributed versions that need reprocessing (matching any criterion), with why."""
    from dkist_processing_core.datacenter.products.discovery import DiscoveryError

    from ..datacenter.reprocessing import ReprocessingError, find_reprocessing_candidates

    with _store(database_url, workdir).session() as s:
        try:
            found = find_reprocessing_candidates(
                s,
                older_than_workflow=older_than_workflow,
                input_frame_id=input_frame,
                code_version=code_version,
                **_parameter_criterion(parameter_value),
            )
        except (DiscoveryError, ReprocessingError) as e:
            _fail(e)
    _print_versions("to reprocess", found, as_json)


@reprocess_app.command("run")
def reprocess_run(
    version: list[str] = typer.Option(..., "--version", "-v", help="Dataset version(s)."),
    requested_by: str = typer.Option(..., "--by"),
    why: str = typer.Option(..., "--why"),
    workflow_version: str = typer.Option(None, "--workflow-version"),
    replace_value: list[str] = typer.Option(
        [], "--replace-value", help="OLD_ID=NEW_ID parameter value."
    ),
    replace_frame: list[str] = typer.Option([], "--replace-frame", help="OLD=NEW frame id."),
    reassemble: bool = typer.Option(False, help="Input frames and values as valid now."),
    run_configuration: str = typer.Option(None, help="Changed values (JSON object)."),
    boost: int = typer.Option(None, help="Priority boost (default: the old run's)."),
    batch: str = typer.Option(None, help="Name of this (bulk) reprocessing."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Harvest each version's plan, update it, and queue a run for the scheduler."""
    from ..datacenter.reprocessing import ReprocessingError, reprocess

    def pairs(items: list[str], what: str, convert):
        out = {}
        for item in items:
            old, sep, new = item.partition("=")
            if not sep:
                raise typer.BadParameter(f"{what} {item!r}: expected OLD=NEW")
            out[convert(old)] = convert(new)
        return out

    try:
        with _store(database_url, workdir).session() as s:
            planned = reprocess(
                s,
                version,
                requested_by=requested_by,
                reason=why,
                workflow_version=workflow_version,
                replace_parameter_values=pairs(replace_value, "--replace-value", int) or None,
                replace_frames=pairs(replace_frame, "--replace-frame", str) or None,
                reassemble_input_dataset=reassemble,
                run_configuration=_json_option(run_configuration, "--run-configuration"),
                priority_boost=boost,
                batch=batch,
            )
    except (ReprocessingError, recipes.RecipeError) as e:
        _fail(e)
    _table(
        f"reprocessing batch {planned[0]['batch']}",
        ["dataset", "version", "new run", "status", "recipe", "changes"],
        [
            (
                p["dataset_id"],
                p["version_id"],
                p["recipe_run_id"],
                p["status"],
                p["recipe"],
                json.dumps(p["changes"]),
            )
            for p in planned
        ],
    )


@reprocess_app.command("curate")
def reprocess_curate(
    decision: str = typer.Argument(..., help="KEEP_BOTH or DISCARD"),
    version: str = typer.Option(..., "--version"),
    by: str = typer.Option(..., "--by"),
    why: str = typer.Option(..., "--why"),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """A curator's decision: keep both versions, or discard this one (recorded: who, when, why)."""
    from ..datacenter.reprocessing import ReprocessingError, curate

    try:
        with _store(database_url, workdir).session() as s:
            result = curate(s, version, decision, by=by, why=why)
    except ReprocessingError as e:
        _fail(e)
    console.print(f"version {result['version_id']}: {result['status']} ({decision.lower()})")


@reprocess_app.command("pending")
def reprocess_pending(database_url: str = DatabaseUrl, workdir: Path = Workdir) -> None:
    """Versions awaiting a curator: each new version and the one it would supersede."""
    from ..datacenter.reprocessing import pending_curation

    with _store(database_url, workdir).session() as s:
        pairs = pending_curation(s)
    _table(
        "awaiting curation",
        ["dataset", "new version", "workflow", "supersedes", "workflow (old)"],
        [
            (
                p["version"]["dataset_id"],
                p["version"]["version_id"],
                f"{p['version']['workflow_name']} {p['version']['workflow_version']}",
                p["supersedes"]["version_id"],
                f"{p['supersedes']['workflow_name']} {p['supersedes']['workflow_version']}",
            )
            for p in pairs
        ],
    )


@reprocess_app.command("status")
def reprocess_status(
    batch: str = typer.Option(None),
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Progress of each (bulk) reprocessing: runs by status, versions, awaiting curation."""
    from ..datacenter.reprocessing import reprocessing_status

    with _store(database_url, workdir).session() as s:
        data = reprocessing_status(s, batch=batch)
    if as_json:
        console.print_json(json.dumps(data))
        return
    _table(
        "reprocessing",
        ["batch", "by", "why", "runs", "by status", "versions", "awaiting curation"],
        [
            (
                b["batch"],
                b["requested_by"],
                b["reason"],
                b["runs"],
                " ".join(f"{k}:{v}" for k, v in sorted(b["runs_by_status"].items())),
                b["versions_registered"],
                b["awaiting_curation"],
            )
            for b in data
        ],
    )
