"""Products: what happens to a dataset after a successful recipe run.

Dataset versions derived from provenance, ingest of a run's tagged products into
the store, publication (catalog, package, PI notice), and discovery of datasets
and frames by provenance. The data center moves, verifies, registers, packages
and distributes what a run produced; it never computes a product itself.
"""
