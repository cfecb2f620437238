"""The error of every part of the Level 1 header (translation, statistics, assembly)."""

from __future__ import annotations

from dkist_processing_core.framework.errors import ExpectedError


class L1HeaderError(ValueError, ExpectedError):
    """A raw header or calibration input cannot give a valid SPEC-0214 L1 header."""
