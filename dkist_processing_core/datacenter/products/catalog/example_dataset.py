"""Deprecated: the simulated L1 dataset is :mod:`dkist_processing_core.simulate.l1_dataset`.

This module re-exports it for one release.
"""

import warnings

from dkist_processing_core.simulate.l1_dataset import (  # noqa: F401
    SimulatedL1Dataset,
    SimulatedL1Truth,
    write_simulated_l1_dataset,
)

warnings.warn(
    "dkist_processing_core.datacenter.products.catalog.example_dataset is deprecated; "
    "use dkist_processing_core.simulate.l1_dataset",
    DeprecationWarning,
    stacklevel=2,
)
