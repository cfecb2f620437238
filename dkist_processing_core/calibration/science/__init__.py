"""Science calibration: dark, gain and demodulation of observe frames."""
