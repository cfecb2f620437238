"""The browse movie of a dataset."""
