import pytest

from dkist_processing_core.catalog.versions import Provenance, dataset_version

BASE = dict(
    dataset_id="SIMDS",
    input_frame_ids=["f3", "f1", "f2"],
    parameter_values=[
        {"id": 2, "name": "gain_sigma", "value": 3.0},
        {"id": 1, "name": "dark_n", "value": [1, 2]},
    ],
    task_order=["dark", "gain", "science", "write_l1"],
    code_versions={"dkist-processing-core": "0.1.0", "visp": "1.0"},
    manual_influence=[],
)


def test_equal_provenance_gives_equal_version():
    reordered = dict(
        BASE,
        input_frame_ids=["f1", "f2", "f3", "f1"],
        parameter_values=BASE["parameter_values"][::-1],
    )
    v = dataset_version(BASE)
    assert v == dataset_version(Provenance(**BASE)) == dataset_version(reordered)
    assert v.startswith("v") and len(v) == 21


@pytest.mark.parametrize(
    "change",
    [
        {"input_frame_ids": ["f1", "f2", "f4"]},
        {
            "parameter_values": [
                {"id": 2, "name": "gain_sigma", "value": 3.5},
                BASE["parameter_values"][1],
            ]
        },
        {
            "parameter_values": [
                {"id": 9, "name": "gain_sigma", "value": 3.0},
                BASE["parameter_values"][1],
            ]
        },
        {"task_order": ["gain", "dark", "science", "write_l1"]},
        {"code_versions": {"dkist-processing-core": "0.1.1", "visp": "1.0"}},
        {"manual_influence": [{"ticket": 17, "action": "adjusted plan", "by": "operator"}]},
    ],
    ids=[
        "input frames",
        "parameter value",
        "parameter value id",
        "task order",
        "code version",
        "manual influence",
    ],
)
def test_each_kind_of_change_gives_a_new_version(change):
    assert dataset_version(dict(BASE, **change)) != dataset_version(BASE)


def test_non_finite_parameter_is_refused():
    with pytest.raises(ValueError, match="no canonical JSON"):
        dataset_version(
            dict(BASE, parameter_values=[{"id": 1, "name": "x", "value": float("nan")}])
        )
