"""The typed run contract (run spec, input dataset, provenance) and an instrument's addresses."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from dkist_processing_core.framework import (
    InputDataset,
    InputFrame,
    Instrument,
    ParameterValue,
    RunContext,
    RunProvenance,
    RunSpec,
    Scratch,
    instruments,
)
from dkist_processing_core.framework.links import (
    docs_base_url,
    workflow_doc_path,
    workflow_doc_url,
    workflow_source_url,
)


def full_spec(tmp_path) -> RunSpec:
    values = [ParameterValue(id=7, name="threshold", value={"sigma": 2.5, "bands": [1, 2]})]
    return RunSpec(
        recipe_run_id=12,
        workflow="tests.framework.workflows_for_tests:diamond",
        workflow_version="1.0",
        scratch_dir=tmp_path / "scratch",
        configuration={"l1_write_processes": 2},
        parameters=values,
        input_dataset=InputDataset(
            input_dataset_id=5,
            frames=[
                InputFrame(frame_id="op1/f0", op_run_id="op1", frame_kind="observe", path="/a"),
                InputFrame(frame_id="op2/f0", op_run_id="op2", frame_kind="calibration"),
            ],
            parameter_values=values,
        ),
        provenance=RunProvenance(
            recipe_id=3,
            recipe_instance_id=4,
            input_dataset_observe_id=5,
            input_dataset_calibration_id=5,
            input_dataset_parameters_id=5,
            proposal_id="pid_1_1",
            dataset_id="DS1",
            product_id="L1-DS1",
            manual_processing=True,
        ),
    )


def test_run_spec_round_trips_through_json(tmp_path):
    spec = full_spec(tmp_path)
    again = RunSpec.from_json(spec.to_json())
    assert again == spec
    assert isinstance(again.input_dataset, InputDataset)
    assert isinstance(again.input_dataset.frames[1], InputFrame)
    assert again.input_dataset.frames[1].path is None
    assert isinstance(again.provenance, RunProvenance)
    assert again.provenance.manual_processing is True
    assert InputDataset.from_json(spec.input_dataset.to_json()) == spec.input_dataset
    assert RunProvenance.from_json(spec.provenance.to_json()) == spec.provenance


def test_a_spec_without_input_dataset_or_provenance_has_empty_typed_ones(tmp_path):
    spec = RunSpec(recipe_run_id=1, workflow="visp:l1_calibration", scratch_dir=tmp_path)
    again = RunSpec.from_json(spec.to_json())
    assert again.input_dataset == InputDataset() and again.input_dataset.frames == []
    assert again.provenance == RunProvenance()
    assert all(value in (None, False) for _, value in again.provenance)


@pytest.mark.parametrize(
    ("part", "key"),
    [("provenance", "instrument_package"), ("input_dataset", "observe_op_id")],
)
def test_an_unknown_key_is_refused_by_name(tmp_path, part, key):
    """A key no one reads is not silently carried (or silently defaulted) any more."""
    document = json.loads(full_spec(tmp_path).to_json())
    document[part][key] = "x"
    with pytest.raises(ValidationError, match=key):
        RunSpec.model_validate_json(json.dumps(document))


def test_a_task_reads_the_contract_as_typed_attributes(tmp_path):
    spec = full_spec(tmp_path)
    with Scratch(spec.scratch_dir) as scratch:
        context = RunContext(
            spec=spec,
            scratch=scratch,
            logger=logging.getLogger("test"),
            workflow_name="diamond",
            workflow_version="1.0",
            task_order=[],
        )
        assert context.input_dataset.frames[0].path == "/a"
        assert context.input_dataset.input_dataset_id == 5
        assert context.provenance.recipe_instance_id == 4
        assert context.provenance.product_id == "L1-DS1"


def test_an_instrument_names_its_documentation_and_source():
    instrument = Instrument(
        name="myinst",
        version="2.1.0",
        docs_url="https://docs.example.org/myinst/",
        source_url="https://code.example.org/{name}/tree/release-{version}",
    )
    path = workflow_doc_path("myinst", "l1", "2.1.0")
    assert (
        instrument.workflow_doc_url("l1", "2.1.0") == f"https://docs.example.org/myinst/{path}.html"
    )
    assert instrument.source_url_at("2.1.0") == "https://code.example.org/myinst/tree/release-2.1.0"


def test_links_are_those_of_the_installed_instrument_of_that_name():
    installed = instruments()
    if not installed:
        pytest.skip("no instrument package is installed")
    for name, instrument in installed.items():
        for wf in instrument.workflows:
            assert workflow_doc_url(name, wf.name, wf.version) == instrument.workflow_doc_url(
                wf.name, wf.version
            )
            assert workflow_source_url(name, wf.version) == instrument.source_url_at(wf.version)


def test_a_source_address_may_be_a_function_of_the_version():
    instrument = Instrument(
        name="myinst", version="1", source_url=lambda v: f"https://code.example.org/v{v}"
    )
    assert instrument.source_url_at("3.0") == "https://code.example.org/v3.0"


def test_an_instrument_that_names_no_addresses():
    """Its workflow pages are on this library's site (which builds them); no source is made up."""
    instrument = Instrument(name="bare", version="1")
    path = workflow_doc_path("bare", "l1", "1")
    assert instrument.workflow_doc_url("l1", "1") == f"{docs_base_url()}/{path}.html"
    assert instrument.source_url_at("1") is None
    assert workflow_source_url("not-installed", "1") is None


def test_a_source_template_with_an_unknown_field_is_refused():
    with pytest.raises(ValueError, match=r"\{tag\}|'tag'"):
        Instrument(name="myinst", version="1", source_url="https://code.example.org/{tag}")
