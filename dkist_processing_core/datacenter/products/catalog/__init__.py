"""Catalog: the file-level work of publishing a dataset version the workflow made.

Library functions over a run's L1 frames and dataset products (found by their
tags, :mod:`dkist_processing_core.calibration.outputs`), taking paths and plain
data and returning plain data (pydantic models, dataclasses, JSON-able dicts),
so the data center can store their results. It verifies, packages and
distributes; it computes no product (the inventories, the dataset ASDF, the
quality report and the browse movie are outputs of the workflow's tasks):

* :mod:`.checksums` - verify every frame's FITS CHECKSUM/DATASUM; sha256 of files;
* :mod:`.objects` - the object inventory: every stored file, its kind, size and sha256;
* :mod:`.package` - the distribution folder of one dataset version and its manifest;
* :mod:`.collect` - frames and products of one dataset into its package, all or nothing;
* :mod:`.notify` - an email outbox telling the PI of the proposal about a new version.

Dataset versions (:mod:`..versions`) and the registration in the store
(:mod:`..register`) live beside the catalog, in :mod:`dkist_processing_core.datacenter.products`.
"""
