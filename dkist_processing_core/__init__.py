"""Calibration framework and data-center services for DKIST Level 1 data."""

__version__ = "0.1.0"
