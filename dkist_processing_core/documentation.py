"""Documentation pages generated from the Tasks and Workflows themselves.

Each task class gets one page, built from its docstring (its algorithm
documentation), its declared reads, writes and parameters, and the list of
workflows that use it. Each workflow version gets one page with a drawing of
its graph whose nodes link to the task pages, so nothing about an algorithm is
written twice. The page paths come from :mod:`.framework.links`, the same
scheme the L1 headers' links use; the source address of a workflow version is
the one its instrument package names.

Shared task docstrings are written for a scientist, in reStructuredText, with
these sections (underlined with ``-``)::

    Algorithm   what it does, with the equations (``.. math::``)
    Inputs      what it reads
    Outputs     what it writes
    Parameters  the parameter values it uses (or "None.")
    Limitations what the method assumes, when it breaks, what DKIST's pipelines do instead
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections import defaultdict
from pathlib import Path

from .framework import Task, Workflow, instruments
from .framework.links import task_doc_path, workflow_doc_path, workflow_source_url

REQUIRED_SECTIONS = ("Algorithm", "Inputs", "Outputs", "Parameters", "Limitations")
SHARED_PACKAGE = "dkist_processing_core.calibration"


def docstring_sections(task: type[Task]) -> list[str]:
    """Titles of the ``-``-underlined sections in a task's docstring."""
    lines = task.documentation().splitlines()
    return [
        lines[i].strip()
        for i in range(len(lines) - 1)
        if lines[i].strip() and re.fullmatch(r"-{3,}", lines[i + 1].strip())
    ]


def missing_sections(task: type[Task]) -> list[str]:
    present = set(docstring_sections(task))
    return [s for s in REQUIRED_SECTIONS if s not in present]


def shared_tasks() -> list[type[Task]]:
    """Every Task class defined in the shared calibration package."""
    package = importlib.import_module(SHARED_PACKAGE)
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{SHARED_PACKAGE}."):
        importlib.import_module(info.name)
    found = {
        cls
        for cls in _all_subclasses(Task)
        if cls.__module__.startswith(SHARED_PACKAGE) and not cls.__name__.startswith("_")
    }
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out.add(sub)
        out |= _all_subclasses(sub)
    return out


def all_workflows() -> list[tuple[str, str, Workflow]]:
    """(instrument, instrument package version, workflow) for every installed workflow."""
    return [
        (inst.name, inst.version, wf)
        for inst in sorted(instruments().values(), key=lambda i: i.name)
        for wf in inst.workflows
    ]


def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


def _tags(queries) -> str:
    if not queries:
        return "none"
    return "; ".join("``" + " & ".join(q) + "``" for q in queries)


def _relative(from_page: str, to_page: str) -> str:
    """A link from one generated page to another, relative like Sphinx's HTML output."""
    depth = from_page.count("/")
    return "../" * depth + to_page + ".html"


def _task_page(task: type[Task], used_by: list[tuple[str, Workflow]], shared: bool) -> str:
    page = task_doc_path(task)
    out = [f".. _{page}:\n", _title(task.__name__)]
    out.append(f"``{task.__module__}.{task.__qualname__}``")
    out.append("(shared calibration task)\n" if shared else "(instrument task)\n")
    out.append(task.documentation() or "*No documentation.*")
    out.append("")
    out.append(_title("Declared connections", "-"))
    out.append(f"- Reads: {_tags(task.reads)}")
    out.append(f"- Writes: {_tags(task.writes)}")
    if task.parameters:
        out.append("- Parameter values: see the table below.\n")
        out.append(parameter_table(task))
    else:
        out.append("- Parameter values: none\n")
    out.append(_title("Used by", "-"))
    if used_by:
        for instrument, wf in used_by:
            target = workflow_doc_path(instrument, wf.name, wf.version)
            out.append(f"- :doc:`{instrument} {wf.name} {wf.version} </{target}>`")
    else:
        out.append("No installed workflow uses this task.")
    return "\n".join(out) + "\n"


def parameter_table(task: type[Task]) -> str:
    """The task's declared parameters as a table: name, type, default, unit, allowed values."""

    def allowed(p) -> str:
        parts = []
        if p.choices is not None:
            parts.append("one of " + ", ".join(f"``{c!r}``" for c in p.choices))
        if p.minimum is not None:
            parts.append(f"≥ {p.minimum:g}")
        if p.maximum is not None:
            parts.append(f"≤ {p.maximum:g}")
        if p.length is not None:
            parts.append(f"{p.length} items")
        if p.nullable:
            parts.append("or null")
        return ", ".join(parts) or "any"

    rows = [
        (
            f"``{p.name}``",
            p.type,
            f"``{p.describe_default()}``",
            p.unit or "-",
            allowed(p),
            p.description or "-",
        )
        for p in task.parameter_declarations.values()
    ]
    lines = [
        ".. list-table:: Declared parameters",
        "   :header-rows: 1",
        "",
        "   * - name",
        "     - type",
        "     - default",
        "     - unit",
        "     - allowed",
        "     - description",
    ]
    for row in rows:
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return "\n".join(lines) + "\n"


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def workflow_dot(wf: Workflow, links: dict[str, str]) -> str:
    """A Graphviz drawing of a workflow whose boxes link to the task pages.

    Graphviz renders to SVG when the site is built, so the drawing needs no
    JavaScript and no network when it is read (mermaid loads from a CDN).
    """
    lines = [
        f"digraph {_dot_string(wf.name)} {{",
        "  rankdir=TB;",
        '  graph [fontname="sans-serif", nodesep=0.25, ranksep=0.35];',
        '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=11];',
        '  edge [color="#555555"];',
    ]
    for n in wf.nodes:
        shared = n.task.__module__.startswith(SHARED_PACKAGE)
        attrs = {
            "label": n.name,
            "tooltip": n.task.summary() or n.name,
            "fillcolor": "#dbe9f6" if shared else "#fde3c8",
            "URL": links[n.name],
            "target": "_top",  # the SVG is an <object>: open the task page in the window
        }
        body = ", ".join(f"{k}={_dot_string(v)}" for k, v in attrs.items())
        lines.append(f"  {_dot_string(n.name)} [{body}];")
    for n in wf.nodes:
        for u in n.upstreams:
            lines.append(f"  {_dot_string(u)} -> {_dot_string(n.name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _workflow_page(instrument: str, package_version: str, wf: Workflow) -> str:
    page = workflow_doc_path(instrument, wf.name, wf.version)
    links = {n.name: _relative(page, task_doc_path(n.task)) for n in wf.nodes}
    out = [_title(f"{instrument} {wf.name} {wf.version}")]
    out.append(wf.description or "")
    out.append("")
    source = workflow_source_url(instrument, wf.version)
    out.append(
        f"Instrument package ``{instrument}`` version {package_version}; "
        + (f"source code of this version: {source}\n" if source else "source code not named.\n")
    )
    out.append(_title("Graph", "-"))
    out.append(
        "Each box is a task; click it for its algorithm. Blue boxes are shared calibration "
        "tasks, orange ones are this instrument's own.\n"
    )
    out.append(f".. graphviz::\n   :alt: task graph of {instrument} {wf.name} {wf.version}\n")
    out.extend("   " + line for line in workflow_dot(wf, links).splitlines())
    out.append("")
    out.append(_title("Task order", "-"))
    out.append("The order in which the tasks run; it is part of each dataset's provenance.\n")
    for i, name in enumerate(wf.task_order, 1):
        node = wf.node(name)
        after = f" (after {', '.join(node.upstreams)})" if node.upstreams else ""
        out.append(
            f"{i}. :doc:`{name} </{task_doc_path(node.task)}>`{after}: {node.task.summary()}"
        )
    return "\n".join(out) + "\n"


def generate_pages(outdir: Path | str) -> list[Path]:
    """Write the task and workflow pages (reStructuredText) under ``outdir``; return them."""
    outdir = Path(outdir)
    written: list[Path] = []

    def write(rel: str, text: str) -> None:
        path = outdir / f"{rel}.rst"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:  # keep Sphinx's rebuilds incremental
            path.write_text(text)
        written.append(path)

    workflows = all_workflows()
    shared = shared_tasks()
    used_by: dict[type[Task], list[tuple[str, Workflow]]] = defaultdict(list)
    for instrument, _, wf in workflows:
        for node in wf.nodes:
            if (instrument, wf) not in used_by[node.task]:
                used_by[node.task].append((instrument, wf))
    tasks = sorted(set(shared) | set(used_by), key=lambda c: (c.__module__, c.__qualname__))
    for task in tasks:
        write(task_doc_path(task), _task_page(task, used_by[task], task in shared))
    for instrument, version, wf in workflows:
        write(
            workflow_doc_path(instrument, wf.name, wf.version),
            _workflow_page(instrument, version, wf),
        )

    shared_set = set(shared)
    index = [_title("Algorithms (shared tasks)")]
    index.append("Each shared calibration task, documented once and linked from every workflow.\n")
    index.append(".. toctree::\n   :maxdepth: 1\n")
    index.extend(f"   /{task_doc_path(t)}" for t in tasks if t in shared_set)
    index.append("")
    index.append(_title("Instrument tasks", "-"))
    index.append(".. toctree::\n   :maxdepth: 1\n")
    index.extend(f"   /{task_doc_path(t)}" for t in tasks if t not in shared_set)
    write("tasks/index", "\n".join(index) + "\n")

    index = [_title("Instrument workflows")]
    index.append(".. toctree::\n   :maxdepth: 1\n")
    index.extend(f"   /{workflow_doc_path(i, wf.name, wf.version)}" for i, _, wf in workflows)
    write("workflows/index", "\n".join(index) + "\n")
    return written
