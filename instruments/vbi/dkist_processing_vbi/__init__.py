"""A filter imager modelled on VBI (the Visible Broadband Imager).

Registered with dkist-processing-core through the ``dkist_processing_core.instruments``
entry point (see this package's ``setup.cfg``), exactly as an instrument package
from elsewhere would be.
"""

__version__ = "1.0.0"

from dkist_processing_core.framework import Instrument

from .workflows import DEFAULT_PARAMETER_VALUES, l1_calibration

#: The documentation site with this package's workflow pages (INFO_URL of its L1 frames).
DOCS_URL = "https://dkist-processing-core.readthedocs.io/en/latest"
#: This package's source code at a release, tagged ``vbi-v<version>`` (CAL_URL of its L1 frames).
SOURCE_URL = "https://github.com/DKISTDC/dkist-processing-core/tree/vbi-v{version}/instruments/vbi"

INSTRUMENT = Instrument(
    name="vbi",
    version=__version__,
    workflows=[l1_calibration()],
    description=__doc__.splitlines()[0],
    default_parameter_values=DEFAULT_PARAMETER_VALUES,
    package="dkist-processing-vbi",
    docs_url=DOCS_URL,
    source_url=SOURCE_URL,
)

__all__ = ["DEFAULT_PARAMETER_VALUES", "INSTRUMENT", "l1_calibration"]
