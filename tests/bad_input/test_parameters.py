"""Bad parameter values are refused before anything runs, each naming the parameter and value.

Cases are made from the declarations of every default workflow's tasks, so a new declared
parameter gets its cases without a new test: a value of the wrong type, a value outside the
declared range, and no value at all. A wrong type or range is refused when the run is loaded
(nothing runs, nothing is written); a missing value is refused at the door by the parse task
(nothing is indexed). A retry with the value fixed goes through.
"""

from __future__ import annotations

import pytest

from dkist_processing_core.framework import LocalExecutor, ParameterValueError, resolve_workflow
from dkist_processing_core.framework.executors.base import load_workflow
from dkist_processing_core.framework.parameters import Parameter

WORKFLOWS = {"vbi": "vbi:l1_calibration", "visp": "visp:l1_calibration"}


def wrong_type(p: Parameter):
    """A value of another type than declared, and the words the refusal uses."""
    if p.type == "list[int]":
        return [4, 1.5], "is not a list of whole numbers"
    if p.type == "int":
        return 1.5, "is not a whole number"
    if p.type == "float":
        return "sixteen", "is not a finite number"
    if p.type == "str":
        return 3, "is not a string"
    if p.type == "bool":
        return "yes", "is not true or false"
    if p.type == "list[str]":
        return [1, 2], "is not a list of strings"
    if p.type == "dict[str, float]":
        return {"x12": "one"}, "is not a mapping of names to finite numbers"
    raise NotImplementedError(p.type)


def declared(kind: str) -> list[tuple[str, str, Parameter]]:
    return [
        (instrument, name, p)
        for instrument, workflow in WORKFLOWS.items()
        for name, p in sorted(resolve_workflow(workflow).parameter_declarations.items())
        if kind != "range" or p.minimum is not None or p.maximum is not None
    ]


def ids(cases):
    return [f"{instrument}-{name}" for instrument, name, _ in cases]


def refused_when_loaded(case, name: str, value, *parts: str) -> None:
    case.parameters[name] = value
    with pytest.raises(ParameterValueError) as info:
        LocalExecutor().run(case.spec())
    message = str(info.value)
    assert "parameter value(s) do not fit" in message
    for part in parts:
        assert part in message, f"{part!r} not in:\n{message}"
    assert not case.scratch_dir.exists() or not any(case.scratch_dir.iterdir())  # nothing ran


@pytest.fixture
def case(request):
    return request.getfixturevalue(f"{request.param}_case")


@pytest.mark.parametrize(
    ("case", "name", "p"), declared("type"), ids=ids(declared("type")), indirect=["case"]
)
def test_wrong_type(case, name, p):
    good = case.parameters[name]
    value, why = wrong_type(p)
    refused_when_loaded(case, name, value, f"parameter {name!r}: value ", why, p.expected())
    case.parameters[name] = good
    load_workflow(case.spec())  # the fixed run loads


@pytest.mark.parametrize(
    ("case", "name", "p"), declared("range"), ids=ids(declared("range")), indirect=["case"]
)
def test_out_of_range(case, name, p):
    good = case.parameters[name]
    if p.minimum is not None:
        low = p.minimum - 1 if p.type != "list[int]" else [int(p.minimum) - 1] * (p.length or 1)
        refused_when_loaded(case, name, low, f"is below the minimum {p.minimum:g}", p.expected())
    if p.maximum is not None:
        high = p.maximum + 1
        refused_when_loaded(case, name, high, f"is above the maximum {p.maximum:g}", p.expected())
    case.parameters[name] = good
    load_workflow(case.spec())


@pytest.mark.parametrize(
    ("case", "name", "p"), declared("missing"), ids=ids(declared("missing")), indirect=["case"]
)
def test_missing(case, name, p):
    good = case.parameters.pop(name)
    error = case.fail()
    assert f"run parameters: missing parameter: {name} = no value; expected a value" in error
    case.parameters[name] = good
    case.succeed()


def test_list_of_the_wrong_length(visp_case):
    refused_when_loaded(
        visp_case, "polcal_spatial_bins", [4], "value list [4] has 1 items", "of 2 items"
    )
