"""Typed parameter declarations: a task says once what each of its parameters is.

A :class:`Parameter` gives a parameter's name, type, default, unit, allowed range or
choices and a one-line description. Declared once on the task (``Task.parameters``),
it drives everything else: the task page's parameter table, the instrument's default
values, the data center's stored value type, and the validation of a value, whose
error names the parameter, the value and what was expected.

.. code-block:: python

    class DarkCalibration(Task):
        parameters = (
            Parameter(
                "dark_rejection_sigma",
                "float",
                default=None,
                nullable=True,
                unit="standard deviations",
                minimum=0,
                description="reject pixels further than this from the median; None: no rejection",
            ),
        )

Types: ``float`` (an int is accepted), ``int``, ``str``, ``bool``, ``list[int]``,
``list[float]`` and ``json`` (any JSON value). ``nullable`` admits ``None``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

TYPES = (
    "float", "int", "str", "bool", "list[int]", "list[float]", "list[str]", "dict[str, float]",
    "json",
)  # fmt: skip
REQUIRED = object()  # no default: a run must give a value


class ParameterValueError(ValueError):
    """A parameter value that does not fit its declaration; the message says what was expected."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


@dataclass(frozen=True)
class Parameter:
    """One declared parameter of a task (see the module documentation)."""

    name: str
    type: str = "json"
    default: Any = REQUIRED
    unit: str = ""
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    nullable: bool = False
    length: int | None = None  # for list types: the exact number of items

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise TypeError(f"a parameter needs a name, got {self.name!r}")
        if self.type not in TYPES:
            raise TypeError(f"parameter {self.name!r}: type {self.type!r}, expected one of {TYPES}")
        if self.default is not REQUIRED:
            self.validate(self.default)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def value_type(self) -> str:
        """The metadata store's value type for this parameter (float, int, str, bool or json;
        json where null is allowed too, the declaration then checking the rest)."""
        plain_types = ("float", "int", "str", "bool")
        return self.type if self.type in plain_types and not self.nullable else "json"

    def expected(self) -> str:
        """What a valid value is, said for a person: ``a number >= 0 (standard deviations)``."""
        words = {
            "float": "a number",
            "int": "a whole number",
            "str": "a string",
            "bool": "true or false",
            "list[int]": "a list of whole numbers",
            "list[float]": "a list of numbers",
            "list[str]": "a list of strings",
            "dict[str, float]": "a mapping of names to numbers",
            "json": "a JSON value",
        }[self.type]
        if self.length is not None:
            words += f" of {self.length} items"
        if self.choices is not None and self.type == "list[str]":
            words += " among " + ", ".join(repr(c) for c in self.choices)
        elif self.choices is not None and self.type == "dict[str, float]":
            words += " with names among " + ", ".join(repr(c) for c in self.choices)
        elif self.choices is not None:
            words = "one of " + ", ".join(repr(c) for c in self.choices)
        bounds = []
        if self.minimum is not None:
            bounds.append(f">= {self.minimum:g}")
        if self.maximum is not None:
            bounds.append(f"<= {self.maximum:g}")
        if bounds:
            words += (" each " if self.type.startswith("list") else " ") + " and ".join(bounds)
        if self.unit:
            words += f" ({self.unit})"
        if self.nullable:
            words += ", or null"
        return words

    def _fail(self, value: Any, why: str = "") -> ParameterValueError:
        shown = json.dumps(value) if _jsonable(value) else repr(value)
        found = f"{type(value).__name__} {shown}"
        return ParameterValueError(
            f"parameter {self.name!r}: value {found} {why or 'is not valid'}; "
            f"expected {self.expected()}"
        )

    def validate(self, value: Any) -> Any:
        """``value`` if it fits the declaration (an int given for a float becomes a float)."""
        if value is None:
            if self.nullable:
                return None
            raise self._fail(value, "is missing")
        kind, original = self.type, value
        if kind == "float":
            if not _is_number(value):
                raise self._fail(value, "is not a finite number")
            value = float(value)
        elif kind == "int":
            if not _is_int(value):
                raise self._fail(value, "is not a whole number")
        elif kind == "str":
            if not isinstance(value, str):
                raise self._fail(value, "is not a string")
        elif kind == "bool":
            if not isinstance(value, bool):
                raise self._fail(value, "is not true or false")
        elif kind == "list[str]":
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise self._fail(value, "is not a list of strings")
            unknown = [v for v in value if self.choices is not None and v not in self.choices]
            if unknown:
                raise self._fail(value, f"names {unknown}, not among the choices")
            return list(value)
        elif kind == "dict[str, float]":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and _is_number(v) for k, v in value.items()
            ):
                raise self._fail(value, "is not a mapping of names to finite numbers")
            unknown = sorted(k for k in value if self.choices is not None and k not in self.choices)
            if unknown:
                raise self._fail(value, f"names {unknown}, not among the choices")
            return {k: float(v) for k, v in value.items()}
        elif kind.startswith("list["):
            item_ok = _is_int if kind == "list[int]" else _is_number
            if not isinstance(value, list | tuple) or not all(item_ok(v) for v in value):
                raise self._fail(value, "is not " + self.expected().split(" (")[0])
            if self.length is not None and len(value) != self.length:
                raise self._fail(value, f"has {len(value)} items")
            value = [float(v) if kind == "list[float]" else v for v in value]
        elif not _jsonable(value):
            raise self._fail(value, "is not JSON")
        numbers = value if isinstance(value, list) else [value] if _is_number(value) else []
        for v in numbers:
            if self.minimum is not None and v < self.minimum:
                raise self._fail(original, f"is below the minimum {self.minimum:g}")
            if self.maximum is not None and v > self.maximum:
                raise self._fail(original, f"is above the maximum {self.maximum:g}")
        if self.choices is not None and value not in self.choices:
            raise self._fail(original, "is not one of the choices")
        return value

    def describe_default(self) -> str:
        return "required" if self.required else json.dumps(self.default)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def untyped(name: str) -> Parameter:
    """The declaration of a parameter given by name only (any JSON value, required)."""
    return Parameter(name, "json")


def declarations_of(tasks) -> dict[str, Parameter]:
    """Every parameter the tasks declare, by name; one name must have one declaration."""
    found: dict[str, Parameter] = {}
    for task in tasks:
        for p in task.parameter_declarations.values():
            earlier = found.get(p.name)
            if earlier is not None and earlier != p and p.type != "json" and earlier.type != "json":
                raise TypeError(
                    f"parameter {p.name!r} is declared differently by two tasks: {earlier} and {p}"
                )
            if earlier is None or earlier.type == "json":
                found[p.name] = p
    return found
