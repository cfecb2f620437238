"""Set-up shared by the whole suite.

Tests start the command line and workers as subprocesses (``dkist-processing ...``, Dask
workers, the status server); some of their workflows live in this ``tests`` package. An
installed script does not put the current folder on its path, so the repository root is put
on ``PYTHONPATH`` for every subprocess the tests start, as it is for the test process itself.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(_paths))
