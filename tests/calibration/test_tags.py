"""The tag vocabulary: tags are built and read back through it, and spelled nowhere else."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.framework import Scratch

ROOT = Path(__file__).resolve().parents[2]
VOCABULARY = ROOT / "dkist_processing_core" / "calibration" / "tags.py"
SCANNED = ("dkist_processing_core", "instruments", "examples")


def test_value_tags_round_trip_with_typed_values():
    assert t.ExposureTime(12.5) == "EXP_TIME_12.5" == t.exposure_time(12.5)
    assert t.ExposureTime.parse("EXP_TIME_12.5") == 12.5
    assert t.ExposureTime(3) == "EXP_TIME_3" and t.ExposureTime.parse("EXP_TIME_3") == 3.0
    assert t.ModulatorState.parse(t.modulator_state(2.0)) == 2
    assert t.SpatialStep.parse(t.spatial_step(7)) == 7
    assert t.Wavelength.parse(t.wavelength(656.28)) == 656.28
    assert t.Stokes.parse(t.stokes("Q")) == "Q"
    assert t.TaskKind.parse(t.task(t.DARK)) is t.Kind.DARK
    for kind in t.VALUE_TAGS:
        assert kind.prefix.endswith("_")
    with pytest.raises(ValueError, match="'STEP_3' is not a EXP_TIME_<value> tag"):
        t.ExposureTime.parse("STEP_3")


def test_reading_a_files_tags():
    tags = {t.INPUT, t.task(t.OBSERVE), t.spatial_step(3), t.stokes("V"), t.wavelength(854.2)}
    assert t.SpatialStep.of(tags) == 3
    assert t.Stokes.of(tags) == "V"
    assert t.Wavelength.tag_in(tags) == "WAVELENGTH_854.2"
    assert t.value_of(tags, t.SpatialStep) == "3"
    assert t.of_kinds(tags, t.SpatialStep, t.Stokes) == ["STEP_3", "STOKES_V"]
    with pytest.raises(KeyError, match="no MODSTATE_<value> tag among"):
        t.ModulatorState.of(tags)


def test_values_among_the_files_a_query_finds(tmp_path):
    with Scratch(tmp_path) as scratch:
        for i, ms in enumerate([10, 2, 2.5, 10]):
            scratch.write_json({}, [t.INPUT, t.task(t.DARK), t.exposure_time(ms)], f"d{i}")
        scratch.write_json({}, [t.INPUT, t.task(t.OBSERVE), t.exposure_time(40)], "o")
        # Typed and numerically sorted (the store's own strings would sort "10" before "2").
        assert t.ExposureTime.values(scratch, t.INPUT, t.task(t.DARK)) == [2.0, 2.5, 10.0]
        assert t.ExposureTime.values(scratch) == [2.0, 2.5, 10.0, 40.0]
        assert t.TaskKind.values(scratch, t.INPUT) == [t.DARK, t.OBSERVE]
        assert t.SpatialStep.values(scratch, t.INPUT) == []


def test_fixed_tags_read_as_plain_strings():
    assert t.INPUT == "INPUT" and f"{t.L1}" == "L1" and repr(t.OUTPUT) == "'OUTPUT'"
    assert str(sorted([t.OUTPUT, t.task(t.GAIN)])) == "['OUTPUT', 'TASK_GAIN']"


def test_every_tag_word_of_the_module_is_in_the_vocabulary():
    """A fixed tag added as a plain string (not to ``Tag`` or ``Kind``) escapes the scan below."""
    words = {
        name: value
        for name, value in vars(t).items()
        if name.isupper() and isinstance(value, str) and name != "V"
    }
    strays = {n: v for n, v in words.items() if not isinstance(v, t.Tag | t.Kind)}
    assert not strays, f"add these to tags.Tag (or tags.Kind) and alias them: {strays}"


def _tag_literals(path: Path) -> list[tuple[int, str]]:
    """``(line, literal)`` of string literals that are a fixed tag or start with a tag prefix.

    Only whole literals count (and the leading text of an f-string), so prose in
    docstrings and messages that mentions a tag is not a spelling of one.
    """
    fixed = {str(w) for w in t.Tag}
    prefixes = tuple(k.prefix for k in t.VALUE_TAGS)
    tree = ast.parse(path.read_text(), str(path))
    header_values = _header_card_values(tree)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        if node.value.startswith(prefixes) or (
            node.value in fixed and (node.lineno, node.col_offset) not in header_values
        ):
            found.append((node.lineno, node.value))
    return sorted(found)


def _header_card_values(tree: ast.AST) -> set[tuple[int, int]]:
    """Literals assigned to a FITS card (``header["PROCTYPE"] = "L1"``): header values, not tags."""
    return {
        (node.value.lineno, node.value.col_offset)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and all(isinstance(target, ast.Subscript) for target in node.targets)
    }


def test_no_tag_is_spelled_outside_the_vocabulary():
    sources = sorted(p for d in SCANNED for p in (ROOT / d).rglob("*.py") if p != VOCABULARY)
    assert len(sources) > 50  # the scan sees the package
    spelled = [
        f"{path.relative_to(ROOT)}:{line}: {literal!r}"
        for path in sources
        for line, literal in _tag_literals(path)
    ]
    assert not spelled, (
        "tags spelled outside dkist_processing_core/calibration/tags.py; build and read them "
        "with its vocabulary (tags.Tag, tags.ExposureTime(...), tags.SpatialStep.of(...)):\n"
        + "\n".join(spelled)
    )


def test_only_the_vocabulary_lists_tag_values_from_the_store():
    """``Scratch.values_of`` gives untyped strings; readers use ``<ValueTag>.values`` instead."""
    sources = sorted(p for d in SCANNED for p in (ROOT / d).rglob("*.py") if p != VOCABULARY)
    calls = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sources
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Attribute) and node.attr == "values_of"
    ]
    assert not calls, "use tags.<ValueTag>.values(scratch, ...):\n" + "\n".join(calls)


def test_the_scan_finds_a_spelled_tag(tmp_path):
    source = tmp_path / "spelled.py"
    source.write_text(
        '"""Tagged ``INPUT`` and ``STEP_<n>``: prose, not a spelling."""\n'
        'header["PROCTYPE"] = "L1"\n'
        'steps = scratch.values_of("STEP_", "CALIBRATED")\n'
        'gain = [f"WAVELENGTH_{wl}", "OUTPUT"]\n'
    )
    assert _tag_literals(source) == sorted(
        [(3, "STEP_"), (3, "CALIBRATED"), (4, "WAVELENGTH_"), (4, "OUTPUT")]
    )
