"""``python -m dkist_processing_core.cli``: the same as ``dkist-processing``."""

from .main import app

app(prog_name="dkist-processing")
