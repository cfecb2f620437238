"""The dataset inventory and frame inventory of an L1 dataset, read from its headers."""
