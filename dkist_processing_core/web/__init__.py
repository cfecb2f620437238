"""The status web pages for operators, curators and PIs (``dkist-processing serve``).

A thin adapter: every page and action calls a library function of
:mod:`dkist_processing_core.datacenter`, as the CLI does.
"""

from .app import WebConfig, create_app
from .server import load_or_create_secret, serve

__all__ = ["WebConfig", "create_app", "load_or_create_secret", "serve"]
