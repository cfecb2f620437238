"""Render math as MathML at build time, so pages show equations with no JavaScript.

MathJax loads from a CDN, which an offline reader (or a data center without
internet access) cannot reach. Browsers render MathML natively, and docutils
already converts LaTeX to MathML, so the equations are written into the HTML
when the site is built. An equation docutils cannot convert is a build warning
(an error under ``-W``) naming the document and the LaTeX, never a silent gap.
"""

from __future__ import annotations

from docutils import nodes
from docutils.utils.math.latex2mathml import tex2mathml
from sphinx.util import logging
from sphinx.util.math import get_node_equation_number

logger = logging.getLogger(__name__)


def _convert(translator, node, tex: str, block: bool) -> str:
    try:
        return tex2mathml(tex, as_block=block)
    except Exception as err:  # docutils raises several kinds for unsupported LaTeX
        logger.warning("cannot render math %r as MathML: %s", tex, err, location=node)
        return translator.encode(tex)


def visit_math(self, node: nodes.math) -> None:
    self.body.append(self.starttag(node, "span", "", CLASS="math"))
    self.body.append(_convert(self, node, node.astext(), block=False))
    self.body.append("</span>")
    raise nodes.SkipNode


def visit_math_block(self, node: nodes.math_block) -> None:
    self.body.append(self.starttag(node, "div", CLASS="math"))
    if node["number"]:
        number = get_node_equation_number(self, node)
        self.body.append(f'<span class="eqno">({number})</span>')
    # Like Sphinx's MathJax renderer: blank-line separated parts are aligned equations.
    parts = [p.strip() for p in node.astext().split("\n\n") if p.strip()]
    tex = parts[0] if len(parts) == 1 and r"\\" not in parts[0] else None
    if tex is None:
        tex = r"\begin{aligned}" + r" \\ ".join(parts) + r"\end{aligned}"
    self.body.append(_convert(self, node, tex, block=True))
    self.body.append("</div>\n")
    raise nodes.SkipNode


def setup(app):
    app.add_html_math_renderer("mathml", (visit_math, None), (visit_math_block, None))
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
