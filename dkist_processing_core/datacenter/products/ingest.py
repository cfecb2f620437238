"""Deprecated: registration in the store is :mod:`dkist_processing_core.datacenter.products.register`.

This module re-exports it for one release.
"""

import warnings

from dkist_processing_core.datacenter.products.register import (  # noqa: F401
    IngestError,
    RegisteredVersion,
    manually_processed,
    register_dataset_version,
)

warnings.warn(
    "dkist_processing_core.datacenter.products.ingest is deprecated; "
    "use dkist_processing_core.datacenter.products.register",
    DeprecationWarning,
    stacklevel=2,
)
