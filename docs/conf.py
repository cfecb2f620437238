"""Sphinx configuration. Task and workflow pages are generated from the code at build time."""

from pathlib import Path

import dkist_processing_core
from dkist_processing_core.documentation import generate_pages

project = "dkist-processing-core"
author = "dkist-processing-core developers"
release = version = dkist_processing_core.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinxcontrib.mermaid",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_fence_as_directive = ["mermaid"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "alabaster"
html_title = f"{project} {release}"
nitpicky = False

# Generated pages live at the paths the L1 headers' documentation links point to.
generate_pages(Path(__file__).parent)
