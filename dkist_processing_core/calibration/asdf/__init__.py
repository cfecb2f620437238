"""The dataset ASDF file (asdf + gwcs through dkist-inventory)."""
