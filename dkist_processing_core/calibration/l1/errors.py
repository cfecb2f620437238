"""The error of every part of the Level 1 header (translation, statistics, assembly)."""

from __future__ import annotations


class L1HeaderError(ValueError):
    """A raw header or calibration input cannot give a valid SPEC-0214 L1 header."""
