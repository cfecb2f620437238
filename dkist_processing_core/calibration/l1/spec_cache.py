"""A cache on disk of what is derived from the DKIST specifications, keyed by their version.

Expanding the SPEC-0214 level-0 schema of an instrument (``dkist-fits-specifications``)
takes seconds of pure computation on every process start, for a result that only
changes with that package's version. Such results are kept as JSON files in a user
cache folder:

- ``$DKIST_PROCESSING_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/dkist-processing-core``,
  else ``~/.cache/dkist-processing-core``;
- one file per name and ``dkist-fits-specifications`` version, so a new version of the
  specifications is never read from an old file;
- written beside and renamed (atomic): a concurrent reader sees the old file or the
  new one, never half of one. A file that cannot be read or written (read-only home,
  corrupt file) only costs the computation: the cache is never the source of truth.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE_DIR_ENV = "DKIST_PROCESSING_CACHE_DIR"
_logger = logging.getLogger(__name__)


def cache_dir() -> Path:
    """The folder of the cache (see the module's documentation)."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dkist-processing-core"


def _specifications_version() -> str:
    from importlib.metadata import version

    return version("dkist-fits-specifications")


def cached(name: str, build: Callable[[], Any]) -> Any:
    """The JSON value ``build()`` for this ``name`` and specifications version, from disk if there.

    ``name`` is a file-name-safe word (letters, digits, ``._-``).
    """
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise ValueError(f"cache name {name!r}: expected letters, digits, '.', '_' or '-'")
    path = cache_dir() / f"{name}-spec{_specifications_version()}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    value = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "w") as file:
                json.dump(value, file)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as error:
        _logger.debug("specification cache %s not written: %s", path, error)
    return value
