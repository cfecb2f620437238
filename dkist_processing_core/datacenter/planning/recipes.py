"""Managing recipes: instruments, workflow specifications, parameters, parameter values, recipes.

Each is created, updated, listed and retired here (the CLI calls these
functions). Nothing is deleted: retiring keeps the row for provenance and
removes it from what new runs may use. Validation rejects what would break a
run: a workflow the library cannot resolve, a recipe without a parameter its
workflow's tasks use, a parameter value of the wrong type, two values of one
parameter valid at the same time, a default configuration that is not a JSON
object, or retiring something that active work still needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.clock import Clock, SystemClock, as_utc
from dkist_processing_core.datacenter.store.models import (
    Instrument,
    Parameter,
    ParameterValue,
    ProcessingCandidate,
    Recipe,
    RecipeParameter,
    ResourcePool,
    WorkflowSpecification,
)

VALUE_TYPES = ("float", "int", "str", "bool", "json")
DEFAULT_POOL = "default"


class RecipeError(ValueError):
    """A recipe, parameter or workflow specification that would break a run."""


# --- instruments -------------------------------------------------------------------------------


def create_instrument(
    session: Session, name: str, description: str = "", *, clock: Clock | None = None
) -> Instrument:
    if not name or not name.strip():
        raise RecipeError("instrument name: expected a non-empty name")
    if session.scalar(select(Instrument).where(Instrument.name == name)):
        raise RecipeError(f"instrument {name!r} already exists")
    instrument = Instrument(
        name=name, description=description, created_at=(clock or SystemClock()).now()
    )
    session.add(instrument)
    session.flush()
    return instrument


def get_instrument(session: Session, name: str, *, active: bool = True) -> Instrument:
    instrument = session.scalar(select(Instrument).where(Instrument.name == name))
    if instrument is None:
        raise RecipeError(f"instrument {name!r} does not exist")
    if active and instrument.retired_at is not None:
        raise RecipeError(f"instrument {name!r} is retired")
    return instrument


def list_instruments(session: Session, *, include_retired: bool = False) -> list[Instrument]:
    query = select(Instrument).order_by(Instrument.name)
    if not include_retired:
        query = query.where(Instrument.retired_at.is_(None))
    return list(session.scalars(query))


def retire_instrument(session: Session, name: str, *, clock: Clock | None = None) -> Instrument:
    instrument = get_instrument(session, name)
    active = session.scalars(
        select(Recipe.name).where(
            Recipe.instrument_id == instrument.id, Recipe.retired_at.is_(None)
        )
    ).all()
    if active:
        raise RecipeError(f"instrument {name!r} still has active recipes {sorted(active)}")
    instrument.retired_at = (clock or SystemClock()).now()
    return instrument


# --- workflow specifications -------------------------------------------------------------------


def resolve_workflow_specification(spec: WorkflowSpecification):
    """The framework's Workflow this specification names (raises RecipeError if it cannot)."""
    from dkist_processing_core.framework import resolve_workflow

    try:
        return resolve_workflow(spec.reference, spec.version)
    except Exception as error:  # WorkflowNotFound, import errors in the workflow's module
        raise RecipeError(
            f"workflow {spec.reference!r} version {spec.version!r} cannot be resolved: {error}"
        ) from error


def workflow_parameter_names(workflow) -> set[str]:
    """Every parameter name that a task of ``workflow`` declares in its ``parameters``."""
    return {name for node in workflow.nodes for name in getattr(node.task, "parameters", ())}


def create_workflow_specification(
    session: Session,
    instrument: str,
    name: str,
    version: str,
    *,
    import_path: str | None = None,
    validate: bool = True,
    clock: Clock | None = None,
) -> WorkflowSpecification:
    """Register workflow ``name`` at ``version`` for ``instrument``.

    With ``validate`` (the default) the library must resolve it at exactly that
    version, so a recipe never names a workflow that cannot run.
    """
    owner = get_instrument(session, instrument)
    if not name or not version:
        raise RecipeError("workflow specification: expected a workflow name and a version")
    if import_path is not None and ":" not in import_path:
        raise RecipeError(f"import_path {import_path!r}: expected 'package.module:attribute'")
    exists = session.scalar(
        select(WorkflowSpecification).where(
            WorkflowSpecification.instrument_id == owner.id,
            WorkflowSpecification.name == name,
            WorkflowSpecification.version == version,
        )
    )
    if exists is not None:
        raise RecipeError(f"workflow {instrument}:{name} version {version} is already registered")
    spec = WorkflowSpecification(
        instrument=owner,
        name=name,
        version=version,
        import_path=import_path,
        created_at=(clock or SystemClock()).now(),
    )
    if validate:
        resolve_workflow_specification(spec)
    session.add(spec)
    session.flush()
    return spec


def get_workflow_specification(
    session: Session, instrument: str, name: str, version: str
) -> WorkflowSpecification:
    spec = session.scalar(
        select(WorkflowSpecification)
        .join(Instrument)
        .where(
            Instrument.name == instrument,
            WorkflowSpecification.name == name,
            WorkflowSpecification.version == version,
        )
    )
    if spec is None:
        raise RecipeError(f"workflow {instrument}:{name} version {version} is not registered")
    if spec.retired_at is not None:
        raise RecipeError(f"workflow {instrument}:{name} version {version} is retired")
    return spec


def list_workflow_specifications(
    session: Session, *, include_retired: bool = False
) -> list[WorkflowSpecification]:
    query = select(WorkflowSpecification).order_by(
        WorkflowSpecification.instrument_id, WorkflowSpecification.name, WorkflowSpecification.id
    )
    if not include_retired:
        query = query.where(WorkflowSpecification.retired_at.is_(None))
    return list(session.scalars(query))


def retire_workflow_specification(
    session: Session, instrument: str, name: str, version: str, *, clock: Clock | None = None
) -> WorkflowSpecification:
    spec = get_workflow_specification(session, instrument, name, version)
    users = session.scalars(
        select(Recipe.name).where(
            Recipe.workflow_specification_id == spec.id, Recipe.retired_at.is_(None)
        )
    ).all()
    if users:
        raise RecipeError(
            f"workflow {instrument}:{name} version {version} is used by active recipes "
            f"{sorted(users)}"
        )
    spec.retired_at = (clock or SystemClock()).now()
    return spec


# --- parameters and parameter values -----------------------------------------------------------


def create_parameter(
    session: Session,
    instrument: str,
    name: str,
    value_type: str,
    description: str = "",
    *,
    clock: Clock | None = None,
) -> Parameter:
    owner = get_instrument(session, instrument)
    if value_type not in VALUE_TYPES:
        raise RecipeError(
            f"parameter {name!r}: value type {value_type!r}, expected one of {VALUE_TYPES}"
        )
    if not name:
        raise RecipeError("parameter: expected a non-empty name")
    if session.scalar(
        select(Parameter).where(Parameter.instrument_id == owner.id, Parameter.name == name)
    ):
        raise RecipeError(f"parameter {name!r} of {instrument} already exists")
    parameter = Parameter(
        instrument=owner,
        name=name,
        value_type=value_type,
        description=description,
        created_at=(clock or SystemClock()).now(),
    )
    session.add(parameter)
    session.flush()
    return parameter


def get_parameter(
    session: Session, instrument: str, name: str, *, active: bool = True
) -> Parameter:
    parameter = session.scalar(
        select(Parameter)
        .join(Instrument)
        .where(Instrument.name == instrument, Parameter.name == name)
    )
    if parameter is None:
        raise RecipeError(f"parameter {name!r} of instrument {instrument!r} does not exist")
    if active and parameter.retired_at is not None:
        raise RecipeError(f"parameter {name!r} of instrument {instrument!r} is retired")
    return parameter


def list_parameters(
    session: Session, instrument: str | None = None, *, include_retired: bool = False
) -> list[Parameter]:
    query = select(Parameter).join(Instrument).order_by(Instrument.name, Parameter.name)
    if instrument:
        query = query.where(Instrument.name == instrument)
    if not include_retired:
        query = query.where(Parameter.retired_at.is_(None))
    return list(session.scalars(query))


def retire_parameter(
    session: Session, instrument: str, name: str, *, clock: Clock | None = None
) -> Parameter:
    parameter = get_parameter(session, instrument, name)
    users = session.scalars(
        select(Recipe.name)
        .join(RecipeParameter, RecipeParameter.recipe_id == Recipe.id)
        .where(RecipeParameter.parameter_id == parameter.id, Recipe.retired_at.is_(None))
    ).all()
    if users:
        raise RecipeError(f"parameter {name!r} is used by active recipes {sorted(users)}")
    parameter.retired_at = (clock or SystemClock()).now()
    return parameter


def check_value_type(parameter_name: str, value_type: str, value: Any) -> None:
    """Raise RecipeError unless ``value`` is of the parameter's declared type."""
    ok = {
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "json": True,
    }[value_type]
    if not ok:
        raise RecipeError(
            f"parameter {parameter_name!r}: value {value!r} is a {type(value).__name__}, "
            f"expected {value_type}"
        )
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise RecipeError(
            f"parameter {parameter_name!r}: value {value!r} is not JSON: {error}"
        ) from None


def declared_parameters(instrument: str) -> dict:
    """The parameter declarations of an installed instrument's workflows, by name (empty if
    the instrument package is not installed here)."""
    from dkist_processing_core.framework import instruments as installed

    package = installed().get(instrument)
    found: dict = {}
    for workflow in package.workflows if package else ():
        found.update(workflow.parameter_declarations)
    return found


def check_declared_value(instrument: str, parameter_name: str, value: Any) -> None:
    """Raise RecipeError when the instrument's tasks declare the parameter and the value does
    not fit the declaration (type, range, choices), naming what was expected."""
    from dkist_processing_core.framework import ParameterValueError

    declaration = declared_parameters(instrument).get(parameter_name)
    if declaration is not None:
        try:
            declaration.validate(value)
        except ParameterValueError as e:
            raise RecipeError(str(e)) from None


def add_parameter_value(
    session: Session,
    instrument: str,
    parameter: str,
    value: Any,
    valid_from: datetime,
    valid_until: datetime | None = None,
    *,
    clock: Clock | None = None,
) -> ParameterValue:
    """Add a value of ``parameter`` valid for observations in [valid_from, valid_until).

    Rejected if its type is wrong or it overlaps the validity of another active
    value of the same parameter (a run would not know which to use).
    """
    owner = get_parameter(session, instrument, parameter)
    check_value_type(parameter, owner.value_type, value)
    check_declared_value(instrument, parameter, value)
    valid_from = as_utc(valid_from)
    valid_until = as_utc(valid_until) if valid_until is not None else None
    if valid_until is not None and valid_until <= valid_from:
        raise RecipeError(
            f"parameter {parameter!r}: valid_until {valid_until.isoformat()} is not after "
            f"valid_from {valid_from.isoformat()}"
        )
    overlap_conditions = [
        ParameterValue.parameter_id == owner.id,
        ParameterValue.retired_at.is_(None),
        or_(ParameterValue.valid_until.is_(None), ParameterValue.valid_until > valid_from),
    ]
    if valid_until is not None:
        overlap_conditions.append(ParameterValue.valid_from < valid_until)
    clash = session.scalar(select(ParameterValue).where(and_(*overlap_conditions)).limit(1))
    if clash is not None:
        until = clash.valid_until.isoformat() if clash.valid_until else "open end"
        raise RecipeError(
            f"parameter {parameter!r}: the new value's validity overlaps value id {clash.id} "
            f"(valid {clash.valid_from.isoformat()} to {until}); retire it or end its validity"
        )
    row = ParameterValue(
        parameter=owner,
        value=value,
        valid_from=valid_from,
        valid_until=valid_until,
        created_at=(clock or SystemClock()).now(),
    )
    session.add(row)
    session.flush()
    return row


def list_parameter_values(
    session: Session,
    instrument: str | None = None,
    parameter: str | None = None,
    *,
    valid_at: datetime | None = None,
    include_retired: bool = False,
) -> list[ParameterValue]:
    query = (
        select(ParameterValue)
        .join(Parameter)
        .join(Instrument)
        .order_by(Instrument.name, Parameter.name, ParameterValue.valid_from)
    )
    if instrument:
        query = query.where(Instrument.name == instrument)
    if parameter:
        query = query.where(Parameter.name == parameter)
    if valid_at is not None:
        query = query.where(*valid_at_conditions(as_utc(valid_at)))
    if not include_retired:
        query = query.where(ParameterValue.retired_at.is_(None))
    return list(session.scalars(query))


def valid_at_conditions(when):
    """SQL conditions: a parameter value is active and valid at ``when`` (a value or column)."""
    return (
        ParameterValue.retired_at.is_(None),
        ParameterValue.valid_from <= when,
        or_(ParameterValue.valid_until.is_(None), ParameterValue.valid_until > when),
    )


def retire_parameter_value(
    session: Session, parameter_value_id: int, *, clock: Clock | None = None
) -> ParameterValue:
    """Retire a value: new input datasets stop using it; those that used it keep it."""
    row = session.get(ParameterValue, parameter_value_id)
    if row is None:
        raise RecipeError(f"parameter value id {parameter_value_id} does not exist")
    if row.retired_at is not None:
        raise RecipeError(f"parameter value id {parameter_value_id} is already retired")
    row.retired_at = (clock or SystemClock()).now()
    return row


# --- resource pools ----------------------------------------------------------------------------


def set_resource_pool(
    session: Session, name: str, slots: int, description: str = ""
) -> ResourcePool:
    """Create or resize the resource pool ``name`` with ``slots`` execution slots."""
    if not isinstance(slots, int) or slots < 0:
        raise RecipeError(f"resource pool {name!r}: slots {slots!r}, expected an integer >= 0")
    pool = session.get(ResourcePool, name)
    if pool is None:
        pool = ResourcePool(name=name, slots=slots, description=description)
        session.add(pool)
    else:
        pool.slots = slots
        if description:
            pool.description = description
    session.flush()
    return pool


def list_resource_pools(session: Session) -> list[ResourcePool]:
    return list(session.scalars(select(ResourcePool).order_by(ResourcePool.name)))


# --- recipes -----------------------------------------------------------------------------------


def check_configuration(recipe: str, configuration: Any) -> dict[str, Any]:
    if not isinstance(configuration, dict):
        raise RecipeError(
            f"recipe {recipe!r}: default configuration is a {type(configuration).__name__}, "
            "expected a JSON object (dict)"
        )
    try:
        return json.loads(json.dumps(configuration, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise RecipeError(
            f"recipe {recipe!r}: default configuration is not JSON: {error}"
        ) from None


def _check_parameters_cover_workflow(
    recipe: str, spec: WorkflowSpecification, parameters: list[Parameter], validate: bool
) -> None:
    if not validate:
        return
    needed = workflow_parameter_names(resolve_workflow_specification(spec))
    missing = needed - {p.name for p in parameters}
    if missing:
        raise RecipeError(
            f"recipe {recipe!r}: workflow {spec.reference} version {spec.version} uses "
            f"parameters {sorted(missing)} that the recipe does not list"
        )


def create_recipe(
    session: Session,
    name: str,
    instrument: str,
    workflow_name: str,
    workflow_version: str,
    *,
    default_configuration: dict[str, Any] | None = None,
    parameters: Iterable[str] = (),
    is_manual: bool = False,
    resource_pool: str = DEFAULT_POOL,
    description: str = "",
    validate_workflow: bool = True,
    clock: Clock | None = None,
) -> Recipe:
    """Create a recipe: which workflow at which version, for which instrument, with which parameters.

    A recipe that ``is_manual`` is manual by definition: its runs become tickets.
    """
    if not name:
        raise RecipeError("recipe: expected a non-empty name")
    if session.scalar(select(Recipe).where(Recipe.name == name)):
        raise RecipeError(f"recipe {name!r} already exists")
    owner = get_instrument(session, instrument)
    spec = get_workflow_specification(session, instrument, workflow_name, workflow_version)
    configuration = check_configuration(name, default_configuration or {})
    parameter_rows = [get_parameter(session, instrument, p) for p in dict.fromkeys(parameters)]
    _check_parameters_cover_workflow(
        name, spec, parameter_rows, validate_workflow and not is_manual
    )
    pool = session.get(ResourcePool, resource_pool)
    if pool is None:
        if resource_pool != DEFAULT_POOL:
            raise RecipeError(f"recipe {name!r}: resource pool {resource_pool!r} does not exist")
        set_resource_pool(session, DEFAULT_POOL, 1, "made with the first recipe")
    now = (clock or SystemClock()).now()
    recipe = Recipe(
        name=name,
        instrument=owner,
        workflow_specification=spec,
        default_configuration=configuration,
        is_manual=is_manual,
        resource_pool=resource_pool,
        description=description,
        created_at=now,
        updated_at=now,
        parameters=parameter_rows,
    )
    session.add(recipe)
    session.flush()
    return recipe


def get_recipe(session: Session, name: str, *, active: bool = True) -> Recipe:
    recipe = session.scalar(select(Recipe).where(Recipe.name == name))
    if recipe is None:
        raise RecipeError(f"recipe {name!r} does not exist")
    if active and recipe.retired_at is not None:
        raise RecipeError(f"recipe {name!r} is retired")
    return recipe


def update_recipe(
    session: Session,
    name: str,
    *,
    default_configuration: dict[str, Any] | None = None,
    parameters: Iterable[str] | None = None,
    is_manual: bool | None = None,
    resource_pool: str | None = None,
    workflow_version: str | None = None,
    description: str | None = None,
    validate_workflow: bool = True,
    clock: Clock | None = None,
) -> Recipe:
    """Change a recipe; runs that already exist keep their configuration as run."""
    recipe = get_recipe(session, name)
    instrument = recipe.instrument.name
    if default_configuration is not None:
        recipe.default_configuration = check_configuration(name, default_configuration)
    if parameters is not None:
        recipe.parameters = [
            get_parameter(session, instrument, p) for p in dict.fromkeys(parameters)
        ]
    if is_manual is not None:
        recipe.is_manual = is_manual
    if resource_pool is not None:
        if session.get(ResourcePool, resource_pool) is None:
            raise RecipeError(f"recipe {name!r}: resource pool {resource_pool!r} does not exist")
        recipe.resource_pool = resource_pool
    if workflow_version is not None:
        recipe.workflow_specification = get_workflow_specification(
            session, instrument, recipe.workflow_specification.name, workflow_version
        )
    if description is not None:
        recipe.description = description
    _check_parameters_cover_workflow(
        name,
        recipe.workflow_specification,
        recipe.parameters,
        validate_workflow and not recipe.is_manual,
    )
    recipe.updated_at = (clock or SystemClock()).now()
    session.flush()
    return recipe


def list_recipes(session: Session, *, include_retired: bool = False) -> list[Recipe]:
    query = select(Recipe).order_by(Recipe.name)
    if not include_retired:
        query = query.where(Recipe.retired_at.is_(None))
    return list(session.scalars(query))


def retire_recipe(session: Session, name: str, *, clock: Clock | None = None) -> Recipe:
    """Retire a recipe; rejected while processing candidates still wait to be run with it."""
    recipe = get_recipe(session, name)
    waiting = session.scalar(
        select(func.count())
        .select_from(ProcessingCandidate)
        .where(ProcessingCandidate.recipe_id == recipe.id, ProcessingCandidate.ready_at.is_(None))
    )
    if waiting:
        raise RecipeError(
            f"recipe {name!r} is needed by {waiting} processing candidates that are not yet ready"
        )
    recipe.retired_at = (clock or SystemClock()).now()
    return recipe


def parameter_type_of(value: Any) -> str:
    """The parameter value type a default value implies (``json`` for lists and null)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "json"


def register_instrument_package(
    session: Session,
    instrument: str,
    *,
    valid_from: datetime,
    resource_pool: str = DEFAULT_POOL,
    clock: Clock | None = None,
) -> list[str]:
    """Register an installed instrument package: its workflows, parameters and a recipe each.

    Parameters get the package's default values, valid from ``valid_from``; each
    workflow gets a recipe named ``<instrument>_<workflow>`` (not manual). What is
    already registered is left as it is, so calling this again changes nothing.
    Returns the recipe names.
    """
    from dkist_processing_core.framework import instruments as installed

    package = installed().get(instrument)
    if package is None:
        raise RecipeError(
            f"instrument {instrument!r} is not installed; installed: {sorted(installed())}"
        )
    if not session.scalar(select(Instrument).where(Instrument.name == instrument)):
        create_instrument(session, instrument, package.description, clock=clock)
    declarations = declared_parameters(instrument)
    for name, value in package.default_parameter_values.items():
        exists = session.scalar(
            select(Parameter)
            .join(Instrument)
            .where(Instrument.name == instrument, Parameter.name == name)
        )
        if exists is None:
            declared = declarations.get(name)
            create_parameter(
                session,
                instrument,
                name,
                declared.value_type if declared else parameter_type_of(value),
                declared.description if declared else "",
                clock=clock,
            )
            add_parameter_value(session, instrument, name, value, valid_from, clock=clock)
    if session.get(ResourcePool, resource_pool) is None:
        set_resource_pool(session, resource_pool, 1)
    names = []
    for workflow in package.workflows:
        spec = session.scalar(
            select(WorkflowSpecification)
            .join(Instrument)
            .where(
                Instrument.name == instrument,
                WorkflowSpecification.name == workflow.name,
                WorkflowSpecification.version == workflow.version,
            )
        )
        if spec is None:
            create_workflow_specification(
                session, instrument, workflow.name, workflow.version, clock=clock
            )
        name = f"{instrument}_{workflow.name}"
        if not session.scalar(select(Recipe).where(Recipe.name == name)):
            create_recipe(
                session,
                name,
                instrument,
                workflow.name,
                workflow.version,
                parameters=sorted(workflow.declared_parameters),
                resource_pool=resource_pool,
                description=workflow.description,
                clock=clock,
            )
        names.append(name)
    return names
