"""Deprecated: canceling and requeueing a recipe run are in
:mod:`dkist_processing_core.datacenter.planning.recipe_runs`.

:func:`~dkist_processing_core.datacenter.planning.recipe_runs.cancel_recipe_run` cancels a
waiting, running (its lease is taken away) or manual run;
:func:`~dkist_processing_core.datacenter.planning.recipe_runs.requeue_recipe_run` puts a
failed run back to wait with its recorded plan and resolves its ticket. They are what
``dkist-processing runs cancel/requeue`` and the run page call. This module re-exports them
for one release and warns when imported.
"""

from __future__ import annotations

import warnings

from dkist_processing_core.datacenter.planning.recipe_runs import (
    cancel_recipe_run,
    requeue_recipe_run,
)

__all__ = ["cancel_recipe_run", "requeue_recipe_run"]

warnings.warn(
    "dkist_processing_core.datacenter.operations.interventions is deprecated: import "
    "cancel_recipe_run and requeue_recipe_run from "
    "dkist_processing_core.datacenter.planning.recipe_runs",
    DeprecationWarning,
    stacklevel=2,
)
