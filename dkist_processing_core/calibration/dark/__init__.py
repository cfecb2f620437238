"""Dark calibration."""
