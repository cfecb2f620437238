"""What determines a task's outputs, so that a rerun knows what changed.

When a task succeeds, the run journal records its *fingerprint*: everything that
determines its outputs.

* ``code``: the task class, the version of the package that provides it, and a
  hash of the class's source (so a class edited in a notebook counts as changed);
* ``workflow_version``: the version of the workflow the run executes;
* ``parameters``: the values of the parameters the task declares (of every parameter of
  the run for a task that records them all in its outputs,
  ``Task.records_all_parameters``);
* ``options``: the configuration options the task declares as changing its outputs
  (``Task.output_options``); options that only steer execution (processes, chunk
  sizes) are not part of it;
* ``input_dataset``: a hash of the run's input dataset's frames, when the task read it
  (its parameter values are covered by ``parameters``);
* ``inputs``: the content hash (sha256) of every file the task looked up in the
  scratch (or indexed from outside it), other than its own outputs.

On a rerun into the same scratch a task whose fingerprint is unchanged is reused;
one whose fingerprint differs runs again, and the differences are the reason the
run report gives. A task downstream of one that ran again sees new inputs only if
the upstream's outputs changed, so it runs again exactly when its own inputs did.

Content hashes are cached by (path, size, modification time) in the journal, so
each file is hashed once, not once per task that reads it.

Limitations: the code identity covers the task class and its package's version,
not every function the class calls; a scientist who edits an algorithm module in
place without changing the package version should force a rerun
(``LocalExecutor().run(spec, rerun="all")``).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from .libraries import NOT_INSTALLED, distribution_version, distributions_of

_CHUNK = 8 << 20


class Fingerprint(BaseModel):
    """Everything that determines a task's outputs (see the module documentation)."""

    code: str
    workflow_version: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    input_dataset: str | None = None
    inputs: dict[str, str] = Field(default_factory=dict)


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@functools.cache
def _distribution_version(top_level_module: str) -> str:
    """``distribution==version`` of the package providing a module (found as the run report
    finds it, :mod:`.libraries`), else the module's own ``__version__``."""
    for name in distributions_of(top_level_module):
        installed = distribution_version(name)
        if installed != NOT_INSTALLED:
            return f"{name}=={installed}"
    module = __import__(top_level_module)
    return f"{top_level_module}=={getattr(module, '__version__', 'unversioned')}"


def code_identity(task_class: type) -> str:
    """``module.Class@distribution==version#source-hash`` of a task class."""
    top = task_class.__module__.split(".")[0]
    try:
        version = _distribution_version(top)
    except ImportError:  # a class defined in __main__ or a notebook
        version = "unversioned"
    try:
        source = inspect.getsource(task_class)
    except (OSError, TypeError):
        source = ""
    source_hash = hashlib.sha256(source.encode()).hexdigest()[:16]
    return f"{task_class.__module__}.{task_class.__qualname__}@{version}#{source_hash}"


def json_hash(value: Any) -> str:
    if isinstance(value, BaseModel):
        text = value.model_dump_json()
    else:
        text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def plain(value: Any) -> Any:
    """A JSON-comparable copy of a parameter or option value."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def input_hashes(
    paths: Iterable[str], absolute: Callable[[str], Path], cached: Callable[[str, Path], str]
) -> dict[str, str]:
    """Content hash of each stored path (``"missing"`` for a file that is gone)."""
    hashes = {}
    for stored in sorted(set(paths)):
        path = absolute(stored)
        hashes[stored] = cached(stored, path) if path.exists() else "missing"
    return hashes


def differences(old: Fingerprint, new: Fingerprint) -> list[str]:
    """Why a task must run again: each thing that differs, said for a person."""
    reasons = []
    if old.code != new.code:
        reasons.append(f"code changed ({old.code} -> {new.code})")
    if old.workflow_version != new.workflow_version:
        reasons.append(
            f"workflow version changed ({old.workflow_version} -> {new.workflow_version})"
        )
    for kind, before, after in (
        ("parameter", old.parameters, new.parameters),
        ("option", old.options, new.options),
    ):
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                reasons.append(
                    f"{kind} {name} changed ({before.get(name)!r} -> {after.get(name)!r})"
                )
    if old.input_dataset != new.input_dataset:
        reasons.append("input dataset changed")
    changed = sorted(
        p for p in set(old.inputs) | set(new.inputs) if old.inputs.get(p) != new.inputs.get(p)
    )
    if changed:
        shown = ", ".join(os.path.basename(p) for p in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        reasons.append(f"inputs changed: {shown}{more}")
    return reasons
