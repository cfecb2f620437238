"""The tasks that make a dataset's products from its L1 frames, as a piece of a workflow.

After the L1 frames are written, four shared tasks make everything the data
center publishes besides the frames (see :mod:`.outputs` for the kinds and tags):

* :class:`~.quality.task.AssembleQualityReport`: quality data (JSON) and report (PDF);
* :class:`~.movie.task.MakeBrowseMovie`: browse movie (MP4) and preview (PNG);
* :class:`~.inventory.task.MakeDatasetInventory`: dataset and frame inventories
  (JSON), after the quality report, whose summary the dataset inventory carries;
* :class:`~.asdf.task.WriteDatasetAsdf`: the dataset ASDF, after the inventory,
  whose record it embeds.

An instrument's workflow adds them with :func:`add_dataset_product_tasks`;
:func:`dataset_products_workflow` runs them alone over L1 frames already in a
scratch (made elsewhere: a manual execution, a notebook, a test).
"""

from __future__ import annotations

from .. import __version__
from ..framework import Task, Workflow
from . import tags as t
from .asdf.task import WriteDatasetAsdf
from .inventory.task import MakeDatasetInventory
from .movie.task import MakeBrowseMovie
from .quality.task import AssembleQualityReport

__all__ = [
    "PRODUCT_TASKS",
    "add_dataset_product_tasks",
    "dataset_products_workflow",
    "load_l1_dataset",
]


def load_l1_dataset(scratch_dir):
    """The L1 dataset of a run as a ``dkist.Dataset`` (``TiledDataset`` for a mosaic), from
    the dataset ASDF its :class:`~.asdf.task.WriteDatasetAsdf` task wrote beside the frames."""
    import dkist

    from ..framework import Scratch

    with Scratch(scratch_dir) as scratch:
        path = scratch.find_one(t.OUTPUT, t.ASDF)
    return dkist.load_dataset(path)


#: The product tasks, in the order a workflow runs them.
PRODUCT_TASKS: tuple[type[Task], ...] = (
    AssembleQualityReport,
    MakeBrowseMovie,
    MakeDatasetInventory,
    WriteDatasetAsdf,
)


def add_dataset_product_tasks(workflow: Workflow, after: type[Task] | str | None) -> list[str]:
    """Add the product tasks to ``workflow`` after the task that writes the L1 frames.

    ``after`` is that task (or its name); ``None`` when the frames are in the scratch
    before the workflow starts (the workflow ``provides`` ``OUTPUT``, ``L1``).
    Returns the names of the added tasks.
    """
    upstream = [] if after is None else [after]
    workflow.dataset_loader = load_l1_dataset
    return [
        workflow.add(AssembleQualityReport, upstreams=upstream),
        workflow.add(MakeBrowseMovie, upstreams=upstream),
        workflow.add(MakeDatasetInventory, upstreams=[*upstream, AssembleQualityReport]),
        workflow.add(WriteDatasetAsdf, upstreams=[MakeDatasetInventory]),
    ]


def dataset_products_workflow() -> Workflow:
    """A workflow of the product tasks alone, over the L1 frames already in the scratch."""
    workflow = Workflow(
        "dataset_products",
        __version__,
        description="The dataset products of L1 frames already in the scratch: quality report, "
        "browse movie, dataset and frame inventories, dataset ASDF.",
        provides=[(t.OUTPUT, t.L1)],
    )
    add_dataset_product_tasks(workflow, after=None)
    return workflow
