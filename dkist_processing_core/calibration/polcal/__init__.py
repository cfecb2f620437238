"""Polarimetric calibration: modulation and demodulation matrices."""
