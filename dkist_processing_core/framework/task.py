"""The Task: one unit of work in a workflow.

A Task subclass implements :meth:`Task.run`. Its class docstring is its algorithm
documentation (the documentation site is built from it). It declares, as class
attributes, the tags it reads and writes and the parameters it uses, so that a
workflow can be checked before anything runs:

.. code-block:: python

    class DarkCalibration(Task):
        \"\"\"Average dark frames per exposure time. ...\"\"\"

        reads = (("INPUT", "TASK_DARK"),)
        writes = (("INTERMEDIATE", "TASK_DARK"),)
        parameters = ("dark_rejection_sigma",)

        def run(self) -> None:
            for path in self.progress(self.scratch.find("INPUT", "TASK_DARK"), description="darks"):
                ...

``reads`` and ``writes`` are tuples of tag queries; each query is a tuple of
tags meaning "files that carry all of these". ``writes`` declares the static tags
of what the task writes; a written file may carry more, dynamic tags (an
exposure time, a modulator state). ``libraries`` names installed distributions
the task's code uses beyond what its own package requires (for example
``("dkist-inventory",)``), so that their versions are recorded with the run
(:mod:`.libraries`).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, TypeVar

from .context import ParameterError, RunContext
from .parameters import Parameter, ParameterValueError, untyped

T = TypeVar("T")
TagQuery = tuple[str, ...]


def _check_queries(cls: type, attr: str) -> tuple[TagQuery, ...]:
    value = getattr(cls, attr)
    if not isinstance(value, tuple | list) or not all(
        isinstance(q, tuple | list | frozenset) and q and all(isinstance(t, str) for t in q)
        for q in value
    ):
        raise TypeError(
            f"{cls.__name__}.{attr} must be a tuple of tag queries, each a non-empty tuple of "
            f"tag strings, e.g. (('INPUT', 'TASK_DARK'),); got {value!r}"
        )
    return tuple(tuple(q) for q in value)


class Task:
    """Base class of all tasks. Subclasses implement :meth:`run`."""

    reads: ClassVar[tuple[TagQuery, ...]] = ()
    writes: ClassVar[tuple[TagQuery, ...]] = ()
    # Declared parameters: Parameter declarations (or bare names, untyped). After class
    # creation ``parameters`` holds the names and ``parameter_declarations`` the declarations.
    parameters: ClassVar[tuple[str, ...]] = ()
    parameter_declarations: ClassVar[dict[str, Parameter]] = {}
    # Configuration options that change the task's outputs (part of its fingerprint, so a
    # rerun with another value runs it again); options that only steer execution are not.
    output_options: ClassVar[tuple[str, ...]] = ()
    # True for a task that records the value of every parameter of the run in its outputs
    # (provenance): each of them is then part of its fingerprint.
    records_all_parameters: ClassVar[bool] = False
    libraries: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.reads = _check_queries(cls, "reads")
        cls.writes = _check_queries(cls, "writes")
        if "parameters" in cls.__dict__:
            declared = cls.__dict__["parameters"]
            if not isinstance(declared, tuple | list) or not all(
                isinstance(p, str | Parameter) for p in declared
            ):
                raise TypeError(
                    f"{cls.__name__}.parameters must be a tuple of Parameter declarations "
                    f"(or parameter names); got {declared!r}"
                )
            decls = [p if isinstance(p, Parameter) else untyped(p) for p in declared]
            cls.parameter_declarations = {p.name: p for p in decls}
            cls.parameters = tuple(p.name for p in decls)
        if not isinstance(cls.output_options, tuple | list) or not all(
            isinstance(o, str) for o in cls.output_options
        ):
            raise TypeError(f"{cls.__name__}.output_options must be a tuple of option names")
        cls.output_options = tuple(cls.output_options)
        if not isinstance(cls.libraries, tuple | list) or not all(
            isinstance(p, str) for p in cls.libraries
        ):
            raise TypeError(f"{cls.__name__}.libraries must be a tuple of distribution names")
        cls.libraries = tuple(cls.libraries)

    def __init__(self, context: RunContext, name: str | None = None):
        self.context = context
        self.name = name or type(self).__name__

    # What a task reaches through its context.
    @property
    def scratch(self):
        return self.context.scratch

    @property
    def logger(self):
        return self.context.logger

    @property
    def configuration(self) -> dict[str, Any]:
        return self.context.configuration

    @property
    def recipe_run_id(self) -> int:
        return self.context.recipe_run_id

    def parameter(self, name: str) -> Any:
        """The value of a declared parameter; using an undeclared one is an error."""
        if name not in self.parameters:
            raise KeyError(
                f"{type(self).__name__} uses parameter {name!r} but does not declare it in "
                f"`parameters` {self.parameters}"
            )
        value = self.context.parameters[name]
        try:
            return self.parameter_declarations[name].validate(value)
        except ParameterValueError as e:
            raise ParameterError(f"{type(self).__name__}: {e}") from None

    def progress(
        self, items: Iterable[T], *, description: str | None = None, total: int | None = None
    ) -> Iterator[T]:
        from .progress import report_progress

        return report_progress(
            items, description=description or self.name, logger=self.logger, total=total
        )

    def run(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement run()")

    @classmethod
    def documentation(cls) -> str:
        """The algorithm documentation: the class docstring, dedented."""
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        doc = cls.documentation()
        return doc.splitlines()[0] if doc else ""
