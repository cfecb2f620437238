"""The end-to-end demo on the embedded defaults: everything it makes goes under one folder."""

from .run import run_demo

__all__ = ["run_demo"]
