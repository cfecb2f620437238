"""Deprecated: the data-center commands moved to one module per command group.

``register`` is :func:`dkist_processing_core.cli.main.register_datacenter`;
``status_table`` gave way to
:func:`dkist_processing_core.datacenter.operations.status.status_rows`. This
module goes away in the next release.
"""

from __future__ import annotations

import warnings

from rich.table import Table

from ..datacenter.operations.status import STATUS_COLUMNS, status_rows
from .main import register_datacenter

warnings.warn(
    "dkist_processing_core.cli.datacenter is deprecated: use "
    "dkist_processing_core.cli.main (register_datacenter, app) and "
    "dkist_processing_core.datacenter.operations.status.status_rows",
    DeprecationWarning,
    stacklevel=2,
)

register = register_datacenter


def status_table(data: list[dict]) -> Table:
    """The status view as a table (deprecated: draw :func:`status_rows` yourself)."""
    table = Table(title="processing status")
    for column in STATUS_COLUMNS:
        table.add_column(column)
    for row in status_rows(data):
        table.add_row(*row)
    return table
