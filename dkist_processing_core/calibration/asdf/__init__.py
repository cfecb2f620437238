"""The dataset ASDF file (asdf + gwcs through dkist-inventory): algorithm, spectral-axis fix, task."""
