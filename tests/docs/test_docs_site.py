"""The documentation site: built from the code, and the L1 headers' links resolve into it."""

import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest

from dkist_processing_core.documentation import (
    REQUIRED_SECTIONS,
    all_workflows,
    missing_sections,
    shared_tasks,
)
from dkist_processing_core.framework import Task, instruments
from dkist_processing_core.framework.links import (
    task_doc_path,
    workflow_doc_path,
    workflow_doc_url,
)

DOCS = Path(__file__).parents[2] / "docs"


@pytest.fixture(scope="module")
def built_site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(DOCS),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.mark.slow
def test_every_workflow_doc_url_points_at_a_built_page(built_site):
    workflows = all_workflows()
    for instrument, _, wf in workflows:
        url = workflow_doc_url(instrument, wf.name, wf.version)
        docs_url = instruments()[instrument].docs_url  # the site the instrument package names
        assert url.startswith(docs_url + "/")
        page = built_site / url[len(docs_url) + 1 :]
        assert page.is_file(), f"{url} has no page in the built site"
        html = page.read_text()
        assert wf.version in html
        for node in wf.nodes:  # each task is linked, not repeated
            assert f"{node.task.__module__}.{node.task.__qualname__}.html" in html


@pytest.mark.slow
def test_workflow_graph_drawing_links_every_task_to_its_built_page(built_site):
    """The drawing is an SVG made at build time (no CDN needed) whose boxes link to task pages."""
    for instrument, _, wf in all_workflows():
        page = built_site / f"{workflow_doc_path(instrument, wf.name, wf.version)}.html"
        drawings = re.findall(r'<object data="([^"]+\.svg)"', page.read_text())
        assert len(drawings) == 1, f"{page.name}: expected one graph drawing, found {drawings}"
        svg = (page.parent / drawings[0]).resolve()
        links = set(re.findall(r'href="([^"]+\.html)"', svg.read_text()))
        targets = {(svg.parent / link).resolve() for link in links}
        expected = {(built_site / f"{task_doc_path(n.task)}.html").resolve() for n in wf.nodes}
        assert targets == expected
        assert all(t.is_file() for t in targets)


@pytest.mark.slow
def test_task_pages_render_their_sections_and_equations(built_site):
    """Docstring sections become headings and equations become MathML (readable offline)."""
    for task in shared_tasks():
        html = (built_site / f"{task_doc_path(task)}.html").read_text()
        headings = re.findall(r"<h2>(.*?)<a", html)
        for section in REQUIRED_SECTIONS:
            assert section in headings, f"{task.__name__}: section {section} not rendered"
        if ":math:" in task.documentation() or ".. math::" in task.documentation():
            assert "<math" in html and "\\frac" not in html, f"{task.__name__}: raw LaTeX"


@pytest.mark.slow
def test_guides_and_api_reference_are_built(built_site):
    for page in ("guides/getting_started", "guides/operator", "guides/new_instrument", "scaling"):
        assert (built_site / f"{page}.html").is_file(), page
    for module in ("framework", "calibration", "simulate", "datacenter"):
        html = (built_site / "api" / f"{module}.html").read_text()
        assert f"dkist_processing_core.{module}" in html


@pytest.mark.slow
def test_shared_task_pages_list_the_workflows_that_use_them(built_site):
    for instrument, _, wf in all_workflows():
        for node in wf.nodes:
            if node.task in shared_tasks():
                page = (
                    built_site / "tasks" / f"{node.task.__module__}.{node.task.__qualname__}.html"
                )
                assert f"{instrument} {wf.name} {wf.version}" in page.read_text()


@pytest.mark.parametrize("task", shared_tasks(), ids=lambda t: t.__name__)
def test_shared_task_docstrings_have_every_section(task):
    assert missing_sections(task) == [], f"{task.__qualname__} docstring lacks sections"


def test_missing_sections_are_detected():
    class Undocumented(Task):
        """Does something.

        Algorithm
        ---------
        x = y
        """

    assert missing_sections(Undocumented) == [s for s in REQUIRED_SECTIONS if s != "Algorithm"]


def test_task_pages_give_a_table_of_their_declared_parameters(built_site):
    """Name, type, default, unit and allowed range, rendered from the task's declaration."""
    for task in shared_tasks():
        if not task.parameters:
            continue
        html = unescape((built_site / f"{task_doc_path(task)}.html").read_text())
        html = html.replace("\u2019", "'")  # Sphinx's smart quotes
        assert "Declared parameters" in html, task.__name__
        for declaration in task.parameter_declarations.values():
            assert declaration.name in html, (task.__name__, declaration.name)
            if declaration.unit:
                assert declaration.unit in html, (task.__name__, declaration.unit)


def test_names_in_the_guides_resolve():
    """Import paths and workflow names shown in the guides are real (no placeholders)."""
    import importlib

    from dkist_processing_core.framework import resolve_workflow

    problems = []
    for page in sorted(DOCS.rglob("*.md")):
        if "_build" in page.parts:
            continue
        text = page.read_text()
        for module, name in re.findall(r"\"(dkist_processing_core[\w.]*):(\w+)\"", text):
            try:
                getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError) as e:
                problems.append(f"{page.name}: {module}:{name}: {e}")
        for reference in re.findall(r"workflow=\"(\w+:\w+)\"", text):
            try:
                resolve_workflow(reference)
            except LookupError as e:
                problems.append(f"{page.name}: workflow {reference}: {e}")
        if re.search(r"<(module|readiness function|start ready runs function)>", text):
            problems.append(f"{page.name}: a placeholder")
    assert not problems, "\n".join(problems)
