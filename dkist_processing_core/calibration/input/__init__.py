"""Bringing an input dataset's raw frames into a run: reading, checking and tagging them."""
