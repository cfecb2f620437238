"""Gain (flat-field) calibration."""
