"""Makes the instrument test folders importable under distinct names (pytest rootdir)."""
