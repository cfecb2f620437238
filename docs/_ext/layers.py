"""``.. layer-diagram::`` and ``.. layer-contracts::``: the architecture page drawn from the code.

The diagram is the import graph between the project's rooms, as grimp (import-linter's
graph builder) reads it from the source at build time, so it can never disagree with the
code. The table lists the contracts of ``pyproject.toml`` that ``make test`` enforces.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.ext.graphviz import graphviz

ROOT = Path(__file__).resolve().parents[2]

# The rooms drawn, most specific first; a module belongs to the first that prefixes it.
ROOMS = [
    ("dkist_processing_core.cli", "cli", "command line (typer, rich)"),
    ("dkist_processing_core.web", "web", "status pages (Starlette)"),
    ("dkist_processing_core.demo", "demo", "end-to-end demo"),
    ("dkist_processing_core.documentation", "documentation", "docs pages from the code"),
    ("dkist_processing_core.datacenter.store", "datacenter.store", "models, migrations"),
    ("dkist_processing_core.datacenter.planning", "datacenter.planning", "recipes, readiness"),
    ("dkist_processing_core.datacenter.operations", "datacenter.operations", "scheduling, tickets"),
    ("dkist_processing_core.datacenter.products", "datacenter.products", "versions, publish"),
    ("dkist_processing_core.datacenter", "datacenter", "reprocessing, clock"),
    ("dkist_processing_visp", "instruments/visp", "ViSP-like workflows"),
    ("dkist_processing_vbi", "instruments/vbi", "VBI-like workflows"),
    ("dkist_processing_core.calibration", "calibration", "algorithms and tasks"),
    ("dkist_processing_core.simulate", "simulate", "raw frames from a known truth"),
    ("dkist_processing_core.framework", "framework", "Task, Workflow, scratch, executors"),
]
CLUSTERS = {"datacenter": "data center"}


def room_of(module: str) -> str | None:
    for prefix, name, _ in ROOMS:
        if module == prefix or module.startswith(prefix + "."):
            return name
    return None


def room_edges() -> Counter:
    import grimp

    graph = grimp.build_graph(
        "dkist_processing_core", "dkist_processing_visp", "dkist_processing_vbi", cache_dir=None
    )
    edges: Counter = Counter()
    for importer in graph.modules:
        source = room_of(importer)
        for imported in graph.find_modules_directly_imported_by(importer):
            target = room_of(imported)
            if source and target and source != target:
                edges[(source, target)] += 1
    return edges


def dot_source() -> str:
    edges = room_edges()
    lines = [
        "digraph layers {",
        '  rankdir=TB; node [shape=box, style="rounded,filled", fillcolor="#f4f4f4", '
        'fontname="Helvetica", fontsize=11]; edge [color="#555555"];',
    ]
    datacenter = [r for _, r, _ in ROOMS if r.startswith("datacenter")]
    lines.append('  subgraph cluster_datacenter { label="datacenter"; style=dashed;')
    for _, name, what in ROOMS:
        if name in datacenter:
            lines.append(f'    "{name}" [label="{name.split(".")[-1]}\\n{what}"];')
    lines.append("  }")
    for _, name, what in ROOMS:
        if name not in datacenter:
            lines.append(f'  "{name}" [label="{name}\\n{what}"];')
    for (source, target), count in sorted(edges.items()):
        lines.append(f'  "{source}" -> "{target}" [tooltip="{count} imports"];')
    lines.append("}")
    return "\n".join(lines)


class LayerDiagram(Directive):
    def run(self):
        node = graphviz()
        node["code"] = dot_source()
        node["options"] = {}
        node["alt"] = "import graph between the project's rooms"
        return [node]


class LayerContracts(Directive):
    def run(self):
        config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
        table = nodes.table()
        group = nodes.tgroup(cols=3)
        table += group
        for width in (30, 30, 40):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        body = nodes.tbody()
        group += body

        def row(cells, parent):
            r = nodes.row()
            for text in cells:
                entry = nodes.entry()
                entry += nodes.paragraph(text=text)
                r += entry
            parent += r

        row(["contract", "these modules", "may not import"], head)
        for contract in config["contracts"]:
            forbidden = ", ".join(contract["forbidden_modules"])
            if contract.get("allow_indirect_imports"):
                forbidden += " (directly)"
            row([contract["name"], ", ".join(contract["source_modules"]), forbidden], body)
        return [table]


def setup(app):
    app.add_directive("layer-diagram", LayerDiagram)
    app.add_directive("layer-contracts", LayerContracts)
    return {"parallel_read_safe": True}
