"""``dkist-processing recipes``: instruments, workflows, parameters, parameter values, recipes."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from .common import CommandGroup, DatabaseUrl, Workdir, console, json_option, store, table

app = CommandGroup(help="Instruments, workflows, parameters and recipes.")


@app.command("add-instrument")
def add_instrument(
    name: str, description: str = "", database_url: str = DatabaseUrl, workdir: Path = Workdir
) -> None:
    from ..datacenter.planning import recipes

    with store(database_url, workdir).session() as s:
        recipes.create_instrument(s, name, description)
    console.print(f"instrument {name} added")


@app.command("add-workflow")
def add_workflow(
    instrument: str,
    name: str,
    version: str,
    import_path: str = typer.Option(None, help="package.module:attribute"),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Register a workflow name and version the library resolves."""
    from ..datacenter.planning import recipes

    with store(database_url, workdir).session() as s:
        recipes.create_workflow_specification(s, instrument, name, version, import_path=import_path)
    console.print(f"workflow {instrument}:{name} {version} added")


@app.command("add-parameter")
def add_parameter(
    instrument: str,
    name: str,
    value_type: str,
    description: str = "",
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    from ..datacenter.planning import recipes

    with store(database_url, workdir).session() as s:
        recipes.create_parameter(s, instrument, name, value_type, description)
    console.print(f"parameter {name} ({value_type}) added")


@app.command("add-value")
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
    from ..datacenter.planning import recipes

    parsed = json_option(value, f"value of parameter {parameter}")
    with store(database_url, workdir).session() as s:
        row = recipes.add_parameter_value(s, instrument, parameter, parsed, valid_from, valid_until)
        console.print(f"parameter value {row.id} added")


@app.command("import-instrument")
def import_instrument(
    instrument: str = typer.Argument(..., help="An installed instrument package, e.g. visp."),
    valid_from: datetime = typer.Option(..., help="Default parameter values valid from (UTC)."),
    pool: str = typer.Option("default", help="Resource pool of its recipes."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Register an installed instrument package: workflows, parameters, a recipe per workflow."""
    from ..datacenter.planning import recipes

    with store(database_url, workdir).session() as s:
        names = recipes.register_instrument_package(
            s, instrument, valid_from=valid_from, resource_pool=pool
        )
    console.print(f"recipes: {', '.join(names)}")


@app.command("retire-value")
def retire_value(
    parameter_value_id: int, database_url: str = DatabaseUrl, workdir: Path = Workdir
) -> None:
    from ..datacenter.planning import recipes

    with store(database_url, workdir).session() as s:
        recipes.retire_parameter_value(s, parameter_value_id)
    console.print(f"parameter value {parameter_value_id} retired")


@app.command("set-pool")
def set_pool(
    name: str, slots: int, database_url: str = DatabaseUrl, workdir: Path = Workdir
) -> None:
    """Create or resize a resource pool."""
    from ..datacenter.planning import recipes

    with store(database_url, workdir).session() as s:
        recipes.set_resource_pool(s, name, slots)
    console.print(f"resource pool {name}: {slots} slots")


@app.command("add")
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
    from ..datacenter.planning import recipes

    default_configuration = json_option(defaults, "--defaults")
    with store(database_url, workdir).session() as s:
        recipes.create_recipe(
            s,
            name,
            instrument,
            workflow,
            version,
            parameters=parameter,
            default_configuration=default_configuration,
            is_manual=manual,
            resource_pool=pool,
        )
    console.print(f"recipe {name} added")


@app.command("update")
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
    from ..datacenter.planning import recipes

    default_configuration = json_option(defaults, "--defaults")
    with store(database_url, workdir).session() as s:
        recipes.update_recipe(
            s,
            name,
            default_configuration=default_configuration,
            is_manual=manual,
            workflow_version=version,
            resource_pool=pool,
        )
    console.print(f"recipe {name} updated")


@app.command("retire")
def retire(name: str, database_url: str = DatabaseUrl, workdir: Path = Workdir) -> None:
    from ..datacenter.planning import recipes

    with store(database_url, workdir).session() as s:
        recipes.retire_recipe(s, name)
    console.print(f"recipe {name} retired")


@app.command("list")
def list_all(
    include_retired: bool = False, database_url: str = DatabaseUrl, workdir: Path = Workdir
) -> None:
    """Recipes, parameter values and resource pools."""
    from ..datacenter.planning import recipes

    with store(database_url, workdir, read_only=True).session() as s:
        table(
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
        table(
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
        table(
            "resource pools",
            ["name", "slots"],
            [(p.name, p.slots) for p in recipes.list_resource_pools(s)],
        )
