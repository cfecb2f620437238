"""The Workflow: an instrument's graph of tasks, with a name and a version.

A workflow is checked before any run (:meth:`Workflow.validate`): cycles,
duplicate task names, upstreams that do not exist, and tasks that read tags no
upstream writes are all reported together, each with a message that names the
tasks involved. Its task order is part of a dataset's provenance, and it draws
itself (Graphviz dot or Mermaid) for the documentation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .parameters import Parameter, ParameterValueError, declarations_of
from .task import TagQuery, Task


class WorkflowValidationError(ValueError):
    """A workflow that cannot run; ``problems`` lists every reason."""

    def __init__(self, workflow: str, problems: Sequence[str]):
        self.workflow = workflow
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"workflow {workflow!r} is not valid:\n{lines}")


@dataclass(frozen=True)
class Node:
    """A task in a workflow: its unique name, its Task class and its upstream task names."""

    name: str
    task: type[Task]
    upstreams: tuple[str, ...]


class Workflow:
    """An ordered graph of tasks.

    ``provides`` declares the tag queries available before the first task runs
    (for example input frames already in the scratch); usually a workflow's
    first task brings its inputs in and declares them as its ``writes``.

    ``dataset_loader``, when set, opens the dataset a run of this workflow made, from
    the run's scratch folder, in the community's types (for DKIST workflows a
    ``dkist.Dataset``); :meth:`RunReport.dataset` calls it.
    """

    def __init__(
        self,
        name: str,
        version: str,
        *,
        instrument: str | None = None,
        description: str = "",
        provides: Iterable[TagQuery] = (),
        dataset_loader: Callable[[Path], Any] | None = None,
    ):
        self.name = name
        self.dataset_loader = dataset_loader
        self.version = version
        self.instrument = instrument
        self.description = description
        self.provides = tuple(tuple(q) for q in provides)
        self._nodes: list[Node] = []
        self._checked_order: list[str] | None = None  # cached until the graph changes

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, version={self.version!r}, tasks={len(self._nodes)})"

    @property
    def reference(self) -> str:
        """``"<instrument>:<name>"``, how a recipe run names this workflow."""
        return f"{self.instrument}:{self.name}" if self.instrument else self.name

    def add(
        self,
        task: type[Task],
        *,
        upstreams: Iterable[type[Task] | str] | type[Task] | str = (),
        name: str | None = None,
    ) -> str:
        """Add ``task`` after ``upstreams`` (task classes or task names); return its name."""
        if isinstance(upstreams, str | type):
            upstreams = [upstreams]
        up = tuple(u if isinstance(u, str) else u.__name__ for u in upstreams)
        node_name = name or getattr(task, "__name__", repr(task))
        self._nodes.append(Node(node_name, task, up))
        self._checked_order = None
        return node_name

    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes)

    def node(self, name: str) -> Node:
        for n in self._nodes:  # small graphs; validated lookups go through task_order's cache
            if n.name == name:
                return n
        raise KeyError(f"workflow {self.name!r} has no task {name!r}; it has {self.task_names}")

    @property
    def declared_parameters(self) -> tuple[str, ...]:
        """Every parameter a task of this workflow declares, sorted."""
        return tuple(sorted({p for n in self._nodes for p in n.task.parameters}))

    @property
    def parameter_declarations(self) -> dict[str, Parameter]:
        """Every parameter a task of this workflow declares: name -> its declaration."""
        return declarations_of(n.task for n in self._nodes)

    def default_parameter_values(self) -> dict[str, Any]:
        """The declared default of every parameter that has one (a notebook's starting point)."""
        return {
            name: p.default
            for name, p in sorted(self.parameter_declarations.items())
            if not p.required
        }

    def parameter_value_problems(self, values: Mapping[str, Any]) -> list[str]:
        """What is wrong with the given parameter values, each naming the parameter."""
        problems = []
        declarations = self.parameter_declarations
        for name, value in values.items():
            if name in declarations:
                try:
                    declarations[name].validate(value)
                except ParameterValueError as e:
                    problems.append(str(e))
        return problems

    @property
    def task_names(self) -> list[str]:
        return [n.name for n in self._nodes]

    # -- validation -----------------------------------------------------------
    def problems(self) -> list[str]:
        problems: list[str] = []
        names = [n.name for n in self._nodes]
        seen: set[str] = set()
        for n in names:
            if n in seen:
                problems.append(f"task name {n!r} is used more than once; give each a unique name")
            seen.add(n)
        for n in self._nodes:
            if not (isinstance(n.task, type) and issubclass(n.task, Task)):
                problems.append(f"{n.name!r} is not a Task subclass: {n.task!r}")
            for u in n.upstreams:
                if u not in seen:
                    problems.append(
                        f"task {n.name!r} has upstream {u!r}, which is not in the workflow"
                    )
                if u == n.name:
                    problems.append(f"task {n.name!r} lists itself as its own upstream")
        cycle = self._find_cycle()
        if cycle:
            problems.append("cycle: " + " -> ".join(cycle))
        if not problems:
            problems.extend(self._unsatisfied_reads())
        return problems

    def validate(self) -> Workflow:
        if self._checked_order is None:
            problems = self.problems()
            if problems:
                raise WorkflowValidationError(self.name, problems)
            self._checked_order = self._topological_order()
        return self

    def _upstream_map(self) -> dict[str, tuple[str, ...]]:
        return {n.name: n.upstreams for n in self._nodes}

    def _find_cycle(self) -> list[str] | None:
        ups = self._upstream_map()
        state: dict[str, int] = {}  # 1 visiting, 2 done
        stack: list[str] = []

        def visit(name: str) -> list[str] | None:
            state[name] = 1
            stack.append(name)
            for u in ups.get(name, ()):
                if u not in ups:
                    continue
                if state.get(u) == 1:
                    return [*stack[stack.index(u) :], u][::-1]
                if state.get(u) is None:
                    found = visit(u)
                    if found:
                        return found
            stack.pop()
            state[name] = 2
            return None

        for n in ups:
            if state.get(n) is None:
                found = visit(n)
                if found:
                    return found
        return None

    def ancestors(self, name: str) -> set[str]:
        ups = self._upstream_map()
        out: set[str] = set()
        todo = list(ups[name])
        while todo:
            u = todo.pop()
            if u not in out:
                out.add(u)
                todo.extend(ups.get(u, ()))
        return out

    def _unsatisfied_reads(self) -> list[str]:
        problems = []
        by_name = {n.name: n for n in self._nodes}
        for n in self._nodes:
            available = list(self.provides)
            for a in self.ancestors(n.name):
                available.extend(by_name[a].task.writes)
            for query in n.task.reads:
                # A written file carries at least its declared tags, so a read is
                # satisfied when some declared write contains every tag it asks for.
                if not any(set(query) <= set(w) for w in available):
                    problems.append(
                        f"task {n.name!r} reads tags {list(query)} that no upstream task writes"
                    )
        return problems

    # -- order and drawing ----------------------------------------------------
    @property
    def task_order(self) -> list[str]:
        """A topological order; ties keep the order in which tasks were added."""
        self.validate()
        return list(self._checked_order)

    def _topological_order(self) -> list[str]:
        ups = self._upstream_map()
        done: list[str] = []
        remaining = [n.name for n in self._nodes]
        while remaining:
            for name in remaining:
                if all(u in done for u in ups[name]):
                    done.append(name)
                    remaining.remove(name)
                    break
        return done

    def downstreams(self, name: str) -> list[str]:
        return [n.name for n in self._nodes if name in n.upstreams]

    def to_dot(self) -> str:
        lines = [f'digraph "{self.name}" {{', "  rankdir=LR;", "  node [shape=box];"]
        for n in self._nodes:
            lines.append(f'  "{n.name}" [tooltip="{n.task.summary()}"];')
        for n in self._nodes:
            for u in n.upstreams:
                lines.append(f'  "{u}" -> "{n.name}";')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_mermaid(self, *, links: dict[str, str] | None = None) -> str:
        """Mermaid flowchart; ``links`` maps task names to URLs made clickable."""
        lines = ["flowchart LR"]
        for n in self._nodes:
            lines.append(f'  {_mermaid_id(n.name)}["{n.name}"]')
        for n in self._nodes:
            for u in n.upstreams:
                lines.append(f"  {_mermaid_id(u)} --> {_mermaid_id(n.name)}")
        for name, url in (links or {}).items():
            lines.append(f'  click {_mermaid_id(name)} "{url}"')
        return "\n".join(lines) + "\n"


def _mermaid_id(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)
