"""Catalog: what happens to a dataset after a successful recipe run.

Library functions over a folder of Level 1 FITS frames, taking paths and plain
data and returning plain data (pydantic models, dataclasses, JSON-able dicts), so
the data center can store their results:

* :mod:`.checksums` - verify every frame's FITS CHECKSUM/DATASUM; sha256 of objects;
* :mod:`.inventory` - dataset inventory record, frame inventory, object inventory;
* :mod:`.asdf` - the dataset ASDF file (dkist-inventory) and its check with ``dkist``;
* :mod:`.quality` - quality metrics, their JSON and the PDF quality report;
* :mod:`.movie` - the browse movie (MP4) and its still preview (PNG);
* :mod:`.versions` - a dataset version derived from its provenance;
* :mod:`.package` - the distribution folder of one dataset version and its manifest;
* :mod:`.notify` - an email outbox telling the PI of the proposal about a new version;
* :mod:`.ingest` - all of the above for one dataset, all or nothing.
"""
