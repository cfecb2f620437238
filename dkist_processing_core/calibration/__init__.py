"""Calibration algorithms (pure array functions) and the tasks that wrap them."""

# The dataset ASDF opens as an xarray view through RunReport.dataset (a registration, no heavy
# import: dkist and xarray load only when a view is asked for).
from . import xarray_views as _xarray_views  # noqa: F401
