"""Products: what happens to a dataset after a successful recipe run.

Dataset versions derived from provenance (:mod:`.versions`), registration of a
run's tagged products in the store (:mod:`.register`), publication (:mod:`.publish`:
catalog, package, PI notice), and discovery of datasets and frames by provenance
(:mod:`.discovery`). The data center moves, verifies, registers, packages
and distributes what a run produced; it never computes a product itself.
"""
