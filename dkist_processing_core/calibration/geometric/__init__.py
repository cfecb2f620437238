"""Geometric calibration of spectrograph frames."""
