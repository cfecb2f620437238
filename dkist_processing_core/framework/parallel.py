"""Frames within a task in parallel chunks: in order in-process, or on the run's Dask cluster.

A task with many independent frames (calibrate each raw frame, write each
product) hands them to :func:`map_frames` with a *chunk function*: a
module-level generator function ``function(items, **arguments)`` that streams
the items of one chunk one at a time and yields one small, JSON-serialisable
result per item (typically the path it wrote), in order::

    def calibrate_frames(items, *, scratch_dir, writer, dark_path):
        scratch = Scratch(scratch_dir, writer=writer)
        dark = scratch.read_fits(dark_path)[0]  # read once per chunk
        for item in items:  # one frame in memory at a time
            ...
            yield str(scratch.write_fits(...))

    written = map_frames(self, calibrate_frames, frames, arguments={...})

Where the chunks run:

- **in this process, in order**, when the run is not on a Dask cluster (the
  local executor, Airflow): the same chunk function, one chunk after another;
- **on the Dask cluster the task itself runs on** (the Dask executor): one
  future per chunk with ``client.map``, submitted through
  :func:`distributed.worker_client`, which *secedes* the task's worker thread
  from the worker's pool while it waits (and rejoins afterwards), so a task
  waiting for its chunks never holds the slot a chunk needs: with one thread
  per worker, the chunks still run;
- **on the cluster at** ``configuration["dask_scheduler_address"]`` when the
  run's configuration names one and the task runs outside a worker.

Only plain text crosses to a worker: the chunk function's import path
(``"package.module:function"``), and the chunk's items and the arguments as
JSON; each chunk returns its results as JSON. Nothing of ours is pickled. A
chunk is one future of several frames (MEASUREMENTS.md: ~2 ms per Dask task,
and long lists of tiny tasks grow badly), so keep a chunk's work >= ~100 ms
with ``min_chunk_size``.

Memory: a chunk function streams its frames and returns only small results,
so the task's (and each worker's) peak memory is that of one frame per chunk
running at once, whatever the number of frames.

An error in a chunk fails the task with :class:`FrameError`, which names the
item (its ``"path"`` when the item is a mapping with one) and the error; the
other chunks are cancelled.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from .errors import is_expected

SCHEDULER_ADDRESS_KEY = "dask_scheduler_address"
CHUNK_SIZE_KEY = "frame_chunk_size"
CHUNKS_PER_WORKER = 4  # a few chunks per worker: balances uneven frames, keeps futures few
IN_FLIGHT_PER_WORKER = 2  # submitted but unfinished chunks per worker: one running, one queued


class FrameError(RuntimeError):
    """A frame (an item of :func:`map_frames`) failed; the message names it and the error.

    ``expected`` is true when the frame's own error was an expected failure (bad
    input, see :mod:`~dkist_processing_core.framework.errors`), so that the task's failure is reported as one.
    """

    def __init__(self, item: Any, error: str, task_name: str = "", *, expected: bool = False):
        self.item = item
        self.error = error
        self.expected = expected
        where = f"{task_name}: " if task_name else ""
        super().__init__(f"{where}frame {describe_item(item)} failed: {error}")


def describe_item(item: Any) -> str:
    """An item as a person would name it: its ``path`` when it has one, else its JSON text."""
    if isinstance(item, Mapping) and "path" in item:
        return str(item["path"])
    return json.dumps(item, default=str)


def function_path(function: Callable) -> str:
    """``"package.module:function"`` of a module-level function; anything else is refused."""
    module, qualname = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
    if not module or not qualname or "<" in qualname or "." in qualname:
        raise TypeError(
            f"a chunk function must be a module-level function (importable by a worker); "
            f"got {function!r}"
        )
    return f"{module}:{qualname}"


def _resolve(path: str) -> Callable:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def run_chunk(
    function: str, items_json: str, arguments_json: str, writer_json: str = "null"
) -> str:
    """Run one chunk (in this process or on a worker); never raises for an item's error.

    ``writer_json``, on a worker: ``{"scratch_dir": ..., "writer": ...}``, the task whose
    chunk it is; the temporary files of the chunk's atomic writes are recorded as that
    task's (:meth:`~.scratch.Scratch.record_temporary`), as in the task's own process.
    Returns JSON ``{"results": [...], "error": null}``, or, when an item fails,
    the results before it and ``"error": {"item": ..., "message": ..., "traceback": ...}``.
    """
    owner = json.loads(writer_json)
    if owner is None:
        return _run_chunk(function, items_json, arguments_json)
    from .atomic import temporaries_recorded_by
    from .scratch import Scratch

    with (
        Scratch(owner["scratch_dir"], writer=owner["writer"]) as scratch,
        temporaries_recorded_by(scratch.record_temporary),
    ):
        return _run_chunk(function, items_json, arguments_json)


def _run_chunk(function: str, items_json: str, arguments_json: str) -> str:
    items = json.loads(items_json)
    results: list[Any] = []
    try:
        chunk_function = _resolve(function)
        produced: Iterator[Any] = iter(chunk_function(items, **json.loads(arguments_json)))
        for result in produced:
            results.append(result)
        if len(results) != len(items):
            raise RuntimeError(
                f"chunk function {function} yielded {len(results)} results for {len(items)} items"
            )
        return json.dumps({"results": results, "error": None})
    except Exception as e:
        # The item being worked on is the one after the last result yielded.
        failed = items[min(len(results), len(items) - 1)] if items else None
        return json.dumps(
            {
                "results": results,
                "error": {
                    "item": failed,
                    "message": f"{type(e).__name__}: {e}",
                    "traceback": traceback.format_exc(),
                    "expected": is_expected(e),
                },
            },
            default=str,
        )


def chunked(items: Sequence[Any], chunk_size: int) -> list[list[Any]]:
    return [list(items[i : i + chunk_size]) for i in range(0, len(items), chunk_size)]


def _on_a_worker() -> bool:
    if "distributed" not in sys.modules:  # never imported: not on a worker (and no import)
        return False
    try:
        from distributed import get_worker
    except ImportError:
        return False
    try:
        get_worker()
    except ValueError:
        return False
    return True


def _chunk_size(configured, chunk_size, min_chunk_size: int, n_items: int, workers: int) -> int:
    size = configured if configured is not None else chunk_size
    if size is None:
        size = max(min_chunk_size, math.ceil(n_items / (workers * CHUNKS_PER_WORKER)))
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"{CHUNK_SIZE_KEY} must be a whole number >= 1, got {size!r}")
    return size


def map_frames(
    task,
    function: Callable[..., Iterator[Any]],
    items: Sequence[Any],
    *,
    arguments: Mapping[str, Any] | None = None,
    chunk_size: int | None = None,
    min_chunk_size: int = 1,
    description: str | None = None,
) -> list[Any]:
    """The results of ``function`` over ``items``, in the items' order, chunk by chunk.

    Parameters
    ----------
    task
        The running task (its configuration says where chunks run, its logger
        reports progress).
    function
        A module-level generator function ``function(items, **arguments)``
        yielding one JSON-serialisable result per item, in order.
    items
        JSON-serialisable items (paths, or mappings with a ``"path"``).
    arguments
        JSON-serialisable keyword arguments given to every chunk.
    chunk_size
        Items per chunk; the run's ``configuration["frame_chunk_size"]``
        overrides it. Default: a few chunks per worker, at least ``min_chunk_size``.
    min_chunk_size
        The fewest items that make a chunk worth a Dask task (>= ~100 ms of work).
    """
    items = list(items)
    path = function_path(function)
    arguments_json = json.dumps(dict(arguments or {}))
    json.dumps(items)  # refuse items that cannot cross as JSON before any work is done
    configured = task.configuration.get(CHUNK_SIZE_KEY)
    description = description or task.name
    if not items:
        return []
    address = task.configuration.get(SCHEDULER_ADDRESS_KEY)
    if _on_a_worker():
        from distributed import worker_client

        # Secede from the worker's thread pool while waiting, so the chunks can use its slot.
        with worker_client() as client:
            return _on_cluster(task, client, path, items, arguments_json, configured,
                               chunk_size, min_chunk_size, description)  # fmt: skip
    if address:
        from distributed import Client

        with Client(address) as client:
            return _on_cluster(task, client, path, items, arguments_json, configured,
                               chunk_size, min_chunk_size, description)  # fmt: skip
    size = _chunk_size(configured, chunk_size, min_chunk_size, len(items), 1)
    results: list[Any] = []
    for chunk in task.progress(chunked(items, size), description=f"{description} (chunks)"):
        results.extend(_outcome(task, run_chunk(path, json.dumps(chunk), arguments_json)))
    return results


def _outcome(task, payload: str) -> list[Any]:
    outcome = json.loads(payload)
    if outcome["error"] is not None:
        error = outcome["error"]
        expected = bool(error.get("expected"))
        detail = error["message"] if expected else error["traceback"]
        task.logger.error("frame %s failed:\n%s", describe_item(error["item"]), detail)
        raise FrameError(error["item"], error["message"], task.name, expected=expected)
    return outcome["results"]


def _on_cluster(
    task, client, path, items, arguments_json, configured, chunk_size, min_chunk_size, description
) -> list[Any]:
    """Chunks as futures, a few per worker in flight; on an error, no new chunk starts.

    Keeping only ``IN_FLIGHT_PER_WORKER`` chunks per worker submitted means a failure
    stops the task after the chunks already running finish (they cannot be
    interrupted), so none of them still writes into the scratch when the task is
    reported failed and a retry cleans up its partial outputs.
    """
    from distributed import as_completed

    workers = max(1, len(client.scheduler_info().get("workers", {})))
    size = _chunk_size(configured, chunk_size, min_chunk_size, len(items), workers)
    chunks = [json.dumps(c) for c in chunked(items, size)]
    token = uuid.uuid4().hex[:8]
    scratch = getattr(task, "scratch", None)
    writer_json = json.dumps(
        None if scratch is None else {"scratch_dir": str(scratch.root), "writer": scratch.writer}
    )
    task.logger.info(
        "%s: %d frames in %d chunks of %d on %d Dask workers",
        description, len(items), len(chunks), size, workers,
    )  # fmt: skip
    index: dict[str, int] = {}
    submitted: list = []

    def submit(i: int):
        future = client.submit(
            run_chunk, path, chunks[i], arguments_json, writer_json,
            key=f"{task.name}-chunk{i:05d}-{token}", pure=False, retries=0,
        )  # fmt: skip
        index[future.key] = i
        submitted.append(future)
        return future

    first = min(len(chunks), workers * IN_FLIGHT_PER_WORKER)
    running = as_completed([submit(i) for i in range(first)])
    next_chunk = first
    by_chunk: dict[int, list[Any]] = {}
    failure: FrameError | None = None
    try:
        for future in task.progress(
            running, description=f"{description} (chunks)", total=len(chunks)
        ):
            try:
                by_chunk[index[future.key]] = _outcome(task, future.result())
            except FrameError as e:
                failure = failure or e
            if failure is None and next_chunk < len(chunks):
                running.add(submit(next_chunk))
                next_chunk += 1
    except BaseException:
        client.cancel([f for f in submitted if not f.done()])
        raise
    if failure is not None:
        raise failure
    return [r for i in range(len(chunks)) for r in by_chunk[i]]
