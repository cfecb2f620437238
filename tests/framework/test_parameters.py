"""Typed parameter declarations: one declaration drives defaults, validation and the docs."""

from __future__ import annotations

import math

import pytest

from dkist_processing_core.framework import (
    LocalExecutor,
    Parameter,
    ParameterValue,
    ParameterValueError,
    RunSpec,
    Task,
    resolve_workflow,
)


def test_a_value_is_checked_against_type_range_and_length():
    sigma = Parameter(
        "dark_rejection_sigma",
        "float",
        default=None,
        nullable=True,
        minimum=1.0,
        unit="standard deviations",
    )
    assert sigma.validate(3) == 3.0 and isinstance(sigma.validate(3), float)
    assert sigma.validate(None) is None
    with pytest.raises(ParameterValueError) as info:
        sigma.validate("abc")
    message = str(info.value)
    assert "'dark_rejection_sigma'" in message and '"abc"' in message
    assert "expected a number >= 1 (standard deviations), or null" in message
    with pytest.raises(ParameterValueError, match="below the minimum 1"):
        sigma.validate(0.2)
    with pytest.raises(ParameterValueError, match="not a finite number"):
        sigma.validate(math.nan)
    with pytest.raises(ParameterValueError, match="not a finite number"):
        sigma.validate(True)

    bins = Parameter("polcal_spatial_bins", "list[int]", default=[4, 1], length=2, minimum=1)
    assert bins.validate([2, 3]) == [2, 3]
    with pytest.raises(ParameterValueError, match="has 3 items"):
        bins.validate([1, 2, 3])
    with pytest.raises(ParameterValueError, match="not a list of whole numbers"):
        bins.validate([1.5, 2])
    with pytest.raises(ParameterValueError, match="below the minimum"):
        bins.validate([0, 2])

    mode = Parameter("mode", "str", default="fast", choices=("fast", "exact"))
    with pytest.raises(ParameterValueError, match="expected one of 'fast', 'exact'"):
        mode.validate("slow")
    assert Parameter("n", "int", default=3).validate(3) == 3
    with pytest.raises(ParameterValueError, match="not a whole number"):
        Parameter("n", "int").validate(3.0)


def test_a_default_outside_the_declaration_is_refused_when_the_task_is_defined():
    with pytest.raises(ParameterValueError, match="'q'"):
        Parameter("q", "float", default=-1.0, minimum=0)
    with pytest.raises(TypeError, match="type 'number'"):
        Parameter("q", "number")


def test_tasks_declare_once_and_subclasses_inherit():
    class Base(Task):
        parameters = (Parameter("q", "float", default=16.0, unit="levels"), "untyped")

    class Child(Base):
        pass

    assert Base.parameters == ("q", "untyped") and Child.parameters == ("q", "untyped")
    assert Child.parameter_declarations["q"].unit == "levels"
    assert Child.parameter_declarations["untyped"].type == "json"
    with pytest.raises(TypeError, match="Parameter declarations"):

        class Bad(Task):
            parameters = (3,)


def test_instrument_defaults_come_from_the_declarations():
    from dkist_processing_vbi import DEFAULT_PARAMETER_VALUES

    workflow = resolve_workflow("vbi:l1_calibration")
    declared = workflow.parameter_declarations
    assert {n: p.default for n, p in declared.items()} == DEFAULT_PARAMETER_VALUES
    assert declared["l1_quantize_level"].unit == "levels per noise standard deviation"


def test_a_run_with_an_ill_typed_value_fails_before_anything_runs(tmp_path):
    spec = RunSpec(
        recipe_run_id=3,
        workflow="vbi:l1_calibration",
        scratch_dir=tmp_path / "scratch",
        parameters=[
            ParameterValue(id=1, name="l1_quantize_level", value="abc"),
            ParameterValue(id=2, name="dark_rejection_sigma", value=-2),
        ],
    )
    with pytest.raises(ParameterValueError) as info:
        LocalExecutor().run(spec)
    message = str(info.value)
    assert "2 parameter value(s)" in message
    assert "'l1_quantize_level': value str \"abc\" is not a finite number" in message
    assert "'dark_rejection_sigma': value int -2 is below the minimum 1" in message
    assert not (tmp_path / "scratch" / ".run-journal.sqlite").exists()  # nothing ran
