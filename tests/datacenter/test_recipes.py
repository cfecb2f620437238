"""Recipe management: create, update, list, retire, and validation that rejects what breaks a run."""

from datetime import UTC, datetime

import pytest

from dkist_processing_core.datacenter.planning import recipes
from dkist_processing_core.datacenter.planning.recipes import RecipeError

from .scenario import WORKFLOW_IMPORT_PATH, announce, set_up_recipe

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_create_list_update_retire(store, clock):
    set_up_recipe(store, clock)
    with store.session() as s:
        assert [r.name for r in recipes.list_recipes(s)] == ["calibrate"]
        recipe = recipes.update_recipe(s, "calibrate", is_manual=True, clock=clock)
        assert recipe.is_manual
        recipes.retire_recipe(s, "calibrate", clock=clock)
        assert recipes.list_recipes(s) == []
        assert [r.name for r in recipes.list_recipes(s, include_retired=True)] == ["calibrate"]
        with pytest.raises(RecipeError, match="is retired"):
            recipes.get_recipe(s, "calibrate")


def test_unresolvable_workflow_is_rejected(store, clock):
    set_up_recipe(store, clock)
    with store.session() as s, pytest.raises(RecipeError, match="cannot be resolved"):
        recipes.create_workflow_specification(
            s, "testinst", "calibrate", "2.0", import_path=WORKFLOW_IMPORT_PATH
        )
    with store.session() as s, pytest.raises(RecipeError, match="cannot be resolved"):
        recipes.create_workflow_specification(s, "testinst", "nonexistent", "1.0")


def test_recipe_must_list_the_parameters_its_workflow_uses(store, clock):
    set_up_recipe(store, clock)
    with store.session() as s, pytest.raises(RecipeError, match=r"\['threshold'\]"):
        recipes.create_recipe(s, "incomplete", "testinst", "calibrate", "1.0", parameters=[])


def test_default_configuration_must_be_a_json_object(store, clock):
    set_up_recipe(store, clock)
    with store.session() as s, pytest.raises(RecipeError, match="expected a JSON object"):
        recipes.create_recipe(
            s,
            "x",
            "testinst",
            "calibrate",
            "1.0",
            default_configuration=[1, 2],
            parameters=["threshold"],
        )


def test_parameter_values_are_typed_and_do_not_overlap(store, clock):
    set_up_recipe(store, clock)
    with store.session() as s:
        with pytest.raises(RecipeError, match="expected float"):
            recipes.add_parameter_value(s, "testinst", "threshold", "high", T0)
        with pytest.raises(RecipeError, match="overlaps value id"):
            recipes.add_parameter_value(
                s, "testinst", "threshold", 3.0, datetime(2025, 1, 1, tzinfo=UTC)
            )
        with pytest.raises(RecipeError, match="is not after"):
            recipes.add_parameter_value(s, "testinst", "threshold", 3.0, T0, T0)
        [old] = recipes.list_parameter_values(s, "testinst", "threshold")
        recipes.retire_parameter_value(s, old.id)
        recipes.add_parameter_value(
            s, "testinst", "threshold", 1.0, T0, datetime(2025, 1, 1, tzinfo=UTC)
        )
        recipes.add_parameter_value(
            s, "testinst", "threshold", 2.0, datetime(2025, 1, 1, tzinfo=UTC)
        )
        at = recipes.list_parameter_values(
            s, "testinst", "threshold", valid_at=datetime(2024, 6, 1)
        )
        assert [v.value for v in at] == [1.0]


def test_retiring_what_active_work_needs_is_rejected(store, clock):
    set_up_recipe(store, clock)
    announce(store, clock, "obs_1", {"obs_1": 1})
    with store.session() as s:
        with pytest.raises(RecipeError, match="1 processing candidates"):
            recipes.retire_recipe(s, "calibrate")
        with pytest.raises(RecipeError, match="used by active recipes"):
            recipes.retire_parameter(s, "testinst", "threshold")
        with pytest.raises(RecipeError, match="used by active recipes"):
            recipes.retire_workflow_specification(s, "testinst", "calibrate", "1.0")
        with pytest.raises(RecipeError, match="still has active recipes"):
            recipes.retire_instrument(s, "testinst")
        with pytest.raises(RecipeError, match="resource pool 'gpu' does not exist"):
            recipes.update_recipe(s, "calibrate", resource_pool="gpu")


def test_a_value_outside_a_tasks_declaration_is_refused(store, clock):
    """The data center checks values against the installed instrument's task declarations."""
    with store.session() as s:
        recipes.register_instrument_package(s, "vbi", valid_from=T0, clock=clock)
        parameter = recipes.get_parameter(s, "vbi", "l1_quantize_level")
        assert parameter.value_type == "float"
        assert parameter.description.startswith("RICE_1 quantisation")
        with pytest.raises(RecipeError, match=r"'l1_quantize_level'.*below the minimum 1"):
            recipes.add_parameter_value(
                s, "vbi", "l1_quantize_level", 0.5, datetime(2025, 1, 1, tzinfo=UTC), clock=clock
            )
