"""Calibration algorithms (pure array functions) and the tasks that wrap them."""
