"""Sphinx configuration. Task and workflow pages are generated from the code at build time.

The site reads well offline: equations are MathML written at build time
(``_ext/mathml.py``) and drawings are Graphviz SVG (``dot``, installed by
``.ci/ensure-services``), so no page needs JavaScript from a CDN.
"""

import shutil
import sys
from pathlib import Path

import dkist_processing_core
from dkist_processing_core.documentation import generate_pages

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

project = "dkist-processing-core"
author = "dkist-processing-core developers"
copyright = "the dkist-processing-core developers"
release = version = dkist_processing_core.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.graphviz",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_nb",
    "mathml",
    "layers",
]
html_math_renderer = "mathml"
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
exclude_patterns = ["_build", "_ext"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
# Guides written as MyST notebooks are executed by every build: a cell that fails breaks it,
# and the outputs and figures shown are the real ones.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 900
nb_merge_streams = True
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Inherited docstrings (SQLAlchemy's, pydantic's) refer to labels of sites that are not ours.
autodoc_inherit_docstrings = False
napoleon_numpy_docstring = True
napoleon_google_docstring = True
graphviz_output_format = "svg"
graphviz_dot = shutil.which("dot") or "dot"
html_theme = "alabaster"
html_title = f"{project} {release}"
html_theme_options = {"page_width": "1100px", "sidebar_width": "240px"}
nitpicky = False

# Generated pages live at the paths the L1 headers' documentation links point to.
generate_pages(HERE)


def _link_task_classes(app, env, node, contnode):
    """A cross-reference to a Task class (``:class:`...DarkCalibration```) links its task page.

    Task classes are documented once, on their generated pages, not in the API reference.
    """
    import importlib

    from sphinx.util.nodes import make_refnode

    from dkist_processing_core.framework import Task
    from dkist_processing_core.framework.links import task_doc_path

    if node.get("refdomain") != "py":
        return None
    module, _, name = node.get("reftarget", "").rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        return None
    page = task_doc_path(cls)
    if page not in env.found_docs:
        return None
    return make_refnode(app.builder, node["refdoc"], page, None, contnode, cls.__name__)


def setup(app):
    app.connect("missing-reference", _link_task_classes)
