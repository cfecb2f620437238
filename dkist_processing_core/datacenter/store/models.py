"""The metadata store's tables, as SQLAlchemy 2 typed ORM models.

The tables are created and changed by the Alembic migrations in
``datacenter/store/migrations`` only; a test checks that the migrations and these
models agree. Times are stored as naive UTC (see :class:`UTCDateTime`) so that
SQLite and PostgreSQL compare them the same way; Python sees aware UTC times.

Words follow the domain: a *processing candidate* is the set of OP run ids that
together calibrate one observe OP; a *transfer manifest* says how many frames
to expect per OP run id; a *frame count* row is one ingested frame.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Constraint names are fixed so that migrations can refer to them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A timestamp stored as naive UTC, returned as aware UTC.

    SQLite has no time zones and compares timestamps as text, so every value
    is normalised to UTC before it is stored.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # an aggregate over the column on SQLite
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), Any: JSON()}


# --- recipes ---------------------------------------------------------------------------------


class Instrument(Base):
    """A telescope instrument whose data the data center processes (for example ViSP)."""

    __tablename__ = "instrument"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class WorkflowSpecification(Base):
    """A workflow name and version that the library resolves to an instrument's workflow.

    The run names it ``"<instrument>:<name>"``; ``import_path``
    (``"package.module:attribute"``) names a workflow that no installed
    instrument registers, as in tests and notebooks.
    """

    __tablename__ = "workflow_specification"
    __table_args__ = (UniqueConstraint("instrument_id", "name", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instrument.id"))
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    import_path: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]

    instrument: Mapped[Instrument] = relationship()

    @property
    def reference(self) -> str:
        return self.import_path or f"{self.instrument.name}:{self.name}"


class Parameter(Base):
    """A named, typed quantity an algorithm needs (for example ``dark_rejection_sigma``)."""

    __tablename__ = "parameter"
    __table_args__ = (
        UniqueConstraint("instrument_id", "name"),
        CheckConstraint("value_type IN ('float', 'int', 'str', 'bool', 'json')", name="value_type"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instrument.id"))
    name: Mapped[str] = mapped_column(String(128))
    value_type: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]

    instrument: Mapped[Instrument] = relationship()


class ParameterValue(Base):
    """A value of a parameter, valid for observations from ``valid_from`` until ``valid_until``.

    ``valid_until`` is exclusive; None means "until further notice". The active
    values of one parameter never overlap in time.
    """

    __tablename__ = "parameter_value"
    id: Mapped[int] = mapped_column(primary_key=True)
    parameter_id: Mapped[int] = mapped_column(ForeignKey("parameter.id"), index=True)
    value: Mapped[Any] = mapped_column(JSON)
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]

    parameter: Mapped[Parameter] = relationship()


class ResourcePool(Base):
    """A named pool of execution slots (for example ``default`` and ``high-memory``)."""

    __tablename__ = "resource_pool"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    slots: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")


class Recipe(Base):
    """Which workflow, at which version, for which instrument, with which parameters.

    ``default_configuration`` is deep-merged under each run's own values when a
    recipe run is created; a recipe that ``is_manual`` is processed by hand
    (manual by definition) and gets a ticket instead of an automated run.
    """

    __tablename__ = "recipe"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instrument.id"))
    workflow_specification_id: Mapped[int] = mapped_column(ForeignKey("workflow_specification.id"))
    default_configuration: Mapped[dict[str, Any]] = mapped_column(JSON)
    is_manual: Mapped[bool] = mapped_column(Boolean, default=False)
    resource_pool: Mapped[str] = mapped_column(ForeignKey("resource_pool.name"))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]

    instrument: Mapped[Instrument] = relationship()
    workflow_specification: Mapped[WorkflowSpecification] = relationship()
    parameters: Mapped[list[Parameter]] = relationship(secondary="recipe_parameter")


class RecipeParameter(Base):
    """The parameters a recipe's workflow needs."""

    __tablename__ = "recipe_parameter"
    recipe_id: Mapped[int] = mapped_column(ForeignKey("recipe.id"), primary_key=True)
    parameter_id: Mapped[int] = mapped_column(ForeignKey("parameter.id"), primary_key=True)


# --- when to start processing ------------------------------------------------------------------


class Proposal(Base):
    """An observing proposal, its principal investigator (PI) and its scheduling priority."""

    __tablename__ = "proposal"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_investigator: Mapped[str] = mapped_column(String(256))
    principal_investigator_email: Mapped[str | None] = mapped_column(String(256))
    priority: Mapped[int] = mapped_column(Integer, default=0)


class ReadinessPass(Base):
    """One run of the periodic readiness pass: when it ran, how long it took, what it decided."""

    __tablename__ = "readiness_pass"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    started_at: Mapped[datetime]
    ready_count: Mapped[int] = mapped_column(Integer, default=0)
    back_stop_count: Mapped[int] = mapped_column(Integer, default=0)
    recipe_runs_created: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float | None] = mapped_column(Float)


class ProcessingCandidate(Base):
    """An observe OP run id and the calibration OP run ids that calibrate it.

    ``ready_at`` is set by the readiness pass that found every OP complete, or
    forced by the back stop (then ``ready_by_back_stop`` is true);
    ``readiness_pass_id`` names that pass, which alone plans its first run.
    """

    __tablename__ = "processing_candidate"
    id: Mapped[int] = mapped_column(primary_key=True)
    observe_op_run_id: Mapped[str] = mapped_column(String(64), unique=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposal.id"), index=True)
    recipe_id: Mapped[int] = mapped_column(ForeignKey("recipe.id"))
    observation_date: Mapped[datetime]
    run_configuration: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    ready_at: Mapped[datetime | None] = mapped_column(index=True)
    ready_by_back_stop: Mapped[bool] = mapped_column(Boolean, default=False)
    last_frame_at: Mapped[datetime | None]
    readiness_pass_id: Mapped[str | None] = mapped_column(
        ForeignKey("readiness_pass.id"), index=True
    )

    proposal: Mapped[Proposal] = relationship()
    recipe: Mapped[Recipe] = relationship()
    ops: Mapped[list[ProcessingCandidateOp]] = relationship(
        back_populates="processing_candidate", cascade="all, delete-orphan"
    )


class ProcessingCandidateOp(Base):
    """One OP run id of a processing candidate: the observe OP or one calibration OP."""

    __tablename__ = "processing_candidate_op"
    __table_args__ = (CheckConstraint("op_kind IN ('observe', 'calibration')", name="op_kind"),)
    processing_candidate_id: Mapped[int] = mapped_column(
        ForeignKey("processing_candidate.id"), primary_key=True
    )
    op_run_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    op_kind: Mapped[str] = mapped_column(String(16))

    processing_candidate: Mapped[ProcessingCandidate] = relationship(back_populates="ops")


class TransferManifest(Base):
    """How many frames the summit sends for one OP run id."""

    __tablename__ = "transfer_manifest"
    op_run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expected_frame_count: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime]


class FrameCount(Base):
    """One ingested frame, counted once: a second delivery of the same frame id is ignored.

    The index on (op_run_id, received_at) lets the readiness pass count frames
    and find the last arrival per OP from the index alone.
    """

    __tablename__ = "frame_count"
    __table_args__ = (Index("ix_frame_count_op_run_id_received_at", "op_run_id", "received_at"),)
    frame_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    op_run_id: Mapped[str] = mapped_column(String(64))
    frame_kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str | None] = mapped_column(String(1024))
    received_at: Mapped[datetime]


# --- input datasets ----------------------------------------------------------------------------


class InputDataset(Base):
    """The exact frames and parameter values a run uses; immutable once frozen by a run.

    ``automatic_for_candidate_id`` is set (uniquely) on the input dataset the
    readiness pass assembles for a candidate, so a candidate never gets two.
    An adjusted plan makes a new input dataset that ``supersedes`` the old one.
    """

    __tablename__ = "input_dataset"
    id: Mapped[int] = mapped_column(primary_key=True)
    processing_candidate_id: Mapped[int] = mapped_column(
        ForeignKey("processing_candidate.id"), index=True
    )
    observation_date: Mapped[datetime]
    created_at: Mapped[datetime]
    frozen_at: Mapped[datetime | None]
    automatic_for_candidate_id: Mapped[int | None] = mapped_column(
        ForeignKey("processing_candidate.id"), unique=True
    )
    supersedes_input_dataset_id: Mapped[int | None] = mapped_column(ForeignKey("input_dataset.id"))
    note: Mapped[str] = mapped_column(Text, default="")


class InputDatasetFrame(Base):
    """A frame in an input dataset, by OP run id and frame kind.

    ``input_dataset_id`` names an input dataset and ``frame_id`` a frame count,
    as foreign keys would, but the rule is held by triggers (migration 0007):
    on PostgreSQL one set-based check per statement instead of a lookup query
    per row, which made a readiness pass's assembly four times slower.
    """

    __tablename__ = "input_dataset_frame"
    input_dataset_id: Mapped[int] = mapped_column(primary_key=True)  # input_dataset.id
    frame_id: Mapped[str] = mapped_column(String(128), primary_key=True)  # frame_count.frame_id
    op_run_id: Mapped[str] = mapped_column(String(64))
    frame_kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str | None] = mapped_column(String(1024))


class InputDatasetParameterValue(Base):
    """A parameter value in an input dataset (valid at the observation date)."""

    __tablename__ = "input_dataset_parameter_value"
    input_dataset_id: Mapped[int] = mapped_column(ForeignKey("input_dataset.id"), primary_key=True)
    parameter_value_id: Mapped[int] = mapped_column(
        ForeignKey("parameter_value.id"), primary_key=True
    )


# --- recipe instances and runs -----------------------------------------------------------------


class RecipeInstance(Base):
    """A recipe applied to one input dataset of a processing candidate.

    ``automatic_for_candidate_id`` is unique: the readiness pass makes at most
    one automatic instance per candidate even when two passes run at once.
    """

    __tablename__ = "recipe_instance"
    id: Mapped[int] = mapped_column(primary_key=True)
    processing_candidate_id: Mapped[int] = mapped_column(
        ForeignKey("processing_candidate.id"), index=True
    )
    recipe_id: Mapped[int] = mapped_column(ForeignKey("recipe.id"))
    input_dataset_id: Mapped[int] = mapped_column(ForeignKey("input_dataset.id"))
    automatic_for_candidate_id: Mapped[int | None] = mapped_column(
        ForeignKey("processing_candidate.id"), unique=True
    )
    supersedes_recipe_instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("recipe_instance.id")
    )
    created_at: Mapped[datetime]

    recipe: Mapped[Recipe] = relationship()
    input_dataset: Mapped[InputDataset] = relationship()
    processing_candidate: Mapped[ProcessingCandidate] = relationship(
        foreign_keys=[processing_candidate_id]
    )


class RecipeRun(Base):
    """One execution (attempt) of a recipe instance, with its configuration as run.

    ``configuration`` is the recipe's defaults deep-merged with
    ``run_configuration`` (run values win), fixed when the run is created. The
    plan is recorded with it: the workflow specification, its name and version
    and the task order; execution, retries and provenance use these, never the
    recipe's current workflow. A ``running`` run holds a lease (``lease_owner``,
    ``lease_expires_at``) that the process executing it renews; a pass that finds
    it expired fails the run as interrupted.
    """

    __tablename__ = "recipe_run"
    __table_args__ = (
        UniqueConstraint("recipe_instance_id", "attempt"),
        CheckConstraint(
            "status IN ('created', 'running', 'succeeded', 'failed', 'manual', 'canceled')",
            name="status",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    recipe_instance_id: Mapped[int] = mapped_column(ForeignKey("recipe_instance.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    configuration: Mapped[dict[str, Any]] = mapped_column(JSON)
    run_configuration: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    resource_pool: Mapped[str] = mapped_column(ForeignKey("resource_pool.name"))
    priority_boost: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    failed_task: Mapped[str | None] = mapped_column(String(128))
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    manually_processed: Mapped[bool] = mapped_column(Boolean, default=False)
    retry_of_recipe_run_id: Mapped[int | None] = mapped_column(ForeignKey("recipe_run.id"))
    # The plan recorded when the run was created: later edits of the recipe never change it.
    workflow_specification_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflow_specification.id")
    )
    workflow_name: Mapped[str | None] = mapped_column(String(128))
    workflow_version: Mapped[str | None] = mapped_column(String(64))
    task_order: Mapped[Any | None] = mapped_column(JSON)
    # The lease of the process executing a running run, renewed while it works.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None]

    recipe_instance: Mapped[RecipeInstance] = relationship()


# --- tickets -----------------------------------------------------------------------------------


class Ticket(Base):
    """Work for a person: a run that is manual by definition, or one that failed.

    Resolved by a simple retry, by an adjusted plan and retry, or by a manual
    execution; ``follow_up_recipe_run_id`` is the run the resolution made.
    """

    __tablename__ = "ticket"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('manual_by_definition', 'manual_by_exception', 'publication', "
            "'notification')",
            name="kind",
        ),
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    # A run may have a processing ticket and later a publication or notification ticket.
    recipe_run_id: Mapped[int] = mapped_column(ForeignKey("recipe_run.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    failed_task: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(String(32))
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    follow_up_recipe_run_id: Mapped[int | None] = mapped_column(ForeignKey("recipe_run.id"))

    recipe_run: Mapped[RecipeRun] = relationship(foreign_keys=[recipe_run_id])


class ManualExecution(Base):
    """What a person did by hand for a run: who, what, why and which files (provenance)."""

    __tablename__ = "manual_execution"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    recipe_run_id: Mapped[int] = mapped_column(ForeignKey("recipe_run.id"), index=True)
    operator: Mapped[str] = mapped_column(String(128))
    actions: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    files: Mapped[Any] = mapped_column(JSON)
    performed_at: Mapped[datetime]


# --- publication and the PI's outbox -----------------------------------------------------------

#: A succeeded run's publication: pending (to do), publishing (claimed by a publisher),
#: published (its dataset version is registered and announced) or failed (a ticket is open).
PUBLICATION_STATUSES = ("pending", "publishing", "published", "failed")


class RecipeRunPublication(Base):
    """The publication step of a succeeded recipe run (one row per run, made when it succeeds).

    A succeeded run without a row is pending too (runs that succeeded before this table).
    ``attempts`` counts publication attempts; each attempt stages its package in
    ``<archive>/.staging/<run>-<attempt>``, which the next attempt removes first.
    """

    __tablename__ = "recipe_run_publication"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'publishing', 'published', 'failed')", name="status"
        ),
    )
    recipe_run_id: Mapped[int] = mapped_column(ForeignKey("recipe_run.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    scratch_dir: Mapped[str | None] = mapped_column(Text)
    version_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]


#: An outbox message: queued (to send when due), sending (claimed by one sender), sent,
#: refused (the server refused it for good, 5xx; a ticket is open) or abandoned (by an operator).
OUTBOX_STATUSES = ("queued", "sending", "sent", "refused", "abandoned")


class OutboxMessage(Base):
    """A notice to a PI, kept until the mail server accepted it (the store-backed outbox)."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'refused', 'abandoned')", name="status"
        ),
        Index("ix_outbox_message_due", "status", "next_attempt_at"),
    )
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(256))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    recipe_run_id: Mapped[int | None] = mapped_column(ForeignKey("recipe_run.id"), index=True)


# --- datasets and their versions ---------------------------------------------------------------

#: A dataset version's status: distributed unless discarded by a curator.
VERSION_STATUSES = ("available", "superseded_pending_curation", "discarded")
OBJECT_KINDS = (
    "frame",
    "asdf",
    "quality_report",
    "quality_data",
    "quality_report_data",
    "movie",
    "preview",
    "manifest",
    "parameter_values",
    "documentation",
    "provenance",
    "dataset_inventory",
    "frame_inventory",
    "other",
)
_KIND_CHECK = "kind IN (" + ", ".join(f"'{k}'" for k in OBJECT_KINDS) + ")"


class Dataset(Base):
    """The processed data of one processing candidate; it has one or more versions.

    ``dataset_id`` is the public identifier (``DSETID``); reprocessing the same
    candidate makes a new *version* of the same dataset.
    """

    __tablename__ = "dataset"
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(64), unique=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instrument.id"), index=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposal.id"), index=True)
    processing_candidate_id: Mapped[int] = mapped_column(
        ForeignKey("processing_candidate.id"), unique=True
    )
    created_at: Mapped[datetime]

    instrument: Mapped[Instrument] = relationship()


class DatasetVersion(Base):
    """One version of a dataset, identified by the hash of its provenance document.

    ``status`` is ``available`` (distributed), ``superseded_pending_curation``
    (a newer version supersedes it; still distributed until a curator decides)
    or ``discarded`` (removed from distribution; its provenance and
    inventories are kept). The columns discovery filters on (workflow name and
    version, manual influence, recipe run) are copied out of the provenance
    document; input frames, parameter values and code versions are link tables.
    """

    __tablename__ = "dataset_version"
    __table_args__ = (
        UniqueConstraint("dataset_pk", "sequence"),
        CheckConstraint(
            "status IN ('available', 'superseded_pending_curation', 'discarded')", name="status"
        ),
        CheckConstraint(
            "curation_decision IS NULL OR curation_decision IN ('keep_both', 'discard')",
            name="curation_decision",
        ),
        Index("ix_dataset_version_workflow", "workflow_name", "workflow_version"),
    )
    version_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dataset_pk: Mapped[int] = mapped_column(ForeignKey("dataset.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    recipe_run_id: Mapped[int] = mapped_column(ForeignKey("recipe_run.id"), index=True)
    input_dataset_id: Mapped[int] = mapped_column(ForeignKey("input_dataset.id"))
    workflow_name: Mapped[str] = mapped_column(String(128))
    workflow_version: Mapped[str] = mapped_column(String(64))
    manually_processed: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(32), index=True)
    supersedes_version_id: Mapped[str | None] = mapped_column(
        ForeignKey("dataset_version.version_id"), index=True
    )
    curation_decision: Mapped[str | None] = mapped_column(String(16))
    curated_by: Mapped[str | None] = mapped_column(String(128))
    curated_at: Mapped[datetime | None]
    curation_reason: Mapped[str | None] = mapped_column(Text)

    dataset: Mapped[Dataset] = relationship()


class DatasetVersionInputFrame(Base):
    """An input frame (by frame id) that a dataset version was made from."""

    __tablename__ = "dataset_version_input_frame"
    version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_version.version_id"), primary_key=True
    )
    frame_id: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)


class DatasetVersionParameterValue(Base):
    """A parameter value a dataset version used; the value as canonical JSON text for lookup."""

    __tablename__ = "dataset_version_parameter_value"
    __table_args__ = (
        Index("ix_dataset_version_parameter_value_name_value", "parameter_name", "value_json"),
    )
    version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_version.version_id"), primary_key=True
    )
    parameter_value_id: Mapped[int] = mapped_column(
        ForeignKey("parameter_value.id"), primary_key=True, index=True
    )
    parameter_name: Mapped[str] = mapped_column(String(128))
    value_json: Mapped[str] = mapped_column(String(1024))


class DatasetVersionCodeVersion(Base):
    """A package and its version that made a dataset version (for example the instrument's)."""

    __tablename__ = "dataset_version_code_version"
    __table_args__ = (
        Index("ix_dataset_version_code_version_package_version", "package", "version"),
    )
    version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_version.version_id"), primary_key=True
    )
    package: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))


class FrameInventory(Base):
    """One L1 frame of a dataset version, with the provenance keys of its header."""

    __tablename__ = "frame_inventory"
    __table_args__ = (UniqueConstraint("version_id", "object_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("dataset_version.version_id"), index=True)
    frame_file_name: Mapped[str] = mapped_column(String(256))
    object_key: Mapped[str] = mapped_column(String(1024))
    recipe_run_id: Mapped[int] = mapped_column(ForeignKey("recipe_run.id"))
    workflow_name: Mapped[str] = mapped_column(String(128))
    workflow_version: Mapped[str] = mapped_column(String(64))
    input_frame_ids: Mapped[Any] = mapped_column(JSON)
    parameter_value_ids: Mapped[Any] = mapped_column(JSON)
    code_versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    manually_processed: Mapped[bool] = mapped_column(Boolean, default=False)
    date_beg: Mapped[datetime | None] = mapped_column(index=True)
    stokes: Mapped[str | None] = mapped_column(String(8))
    wavelength_nm: Mapped[float | None] = mapped_column(Float)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    datasum: Mapped[str | None] = mapped_column(String(32))
    header: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ObjectInventory(Base):
    """One file of a dataset version: where it is, what it is, its size and SHA-256."""

    __tablename__ = "object_inventory"
    __table_args__ = (
        UniqueConstraint("version_id", "object_key"),
        CheckConstraint(_KIND_CHECK, name="kind"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("dataset_version.version_id"), index=True)
    object_key: Mapped[str] = mapped_column(String(1024))
    kind: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))


class DatasetInventory(Base):
    """A dataset version's extent in time, wavelength and space, its counts and quality summary."""

    __tablename__ = "dataset_inventory"
    version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_version.version_id"), primary_key=True
    )
    dataset_id: Mapped[str] = mapped_column(String(64), index=True)
    instrument: Mapped[str] = mapped_column(String(64))
    proposal_id: Mapped[str | None] = mapped_column(String(64))
    start_time: Mapped[datetime] = mapped_column(index=True)
    end_time: Mapped[datetime] = mapped_column(index=True)
    wavelength_min_nm: Mapped[float | None] = mapped_column(Float)
    wavelength_max_nm: Mapped[float | None] = mapped_column(Float)
    bounding_box_arcsec: Mapped[Any | None] = mapped_column(JSON)
    stokes_parameters: Mapped[Any | None] = mapped_column(JSON)
    frame_count: Mapped[int] = mapped_column(Integer)
    object_count: Mapped[int] = mapped_column(Integer)
    dataset_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    quality_summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CurationDecision(Base):
    """A curator's decision on a dataset version (the history; the version keeps the latest)."""

    __tablename__ = "curation_decision"
    __table_args__ = (CheckConstraint("decision IN ('keep_both', 'discard')", name="decision"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("dataset_version.version_id"), index=True)
    other_version_id: Mapped[str | None] = mapped_column(ForeignKey("dataset_version.version_id"))
    decision: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)


class Reprocessing(Base):
    """A recipe run made to reprocess a dataset version: the link from the new run to the old.

    ``batch`` groups the runs of one bulk reprocessing (shown by the status view).
    """

    __tablename__ = "reprocessing"
    id: Mapped[int] = mapped_column(primary_key=True)
    recipe_run_id: Mapped[int] = mapped_column(ForeignKey("recipe_run.id"), unique=True)
    reprocesses_recipe_run_id: Mapped[int] = mapped_column(ForeignKey("recipe_run.id"), index=True)
    supersedes_version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_version.version_id"), index=True
    )
    batch: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime]


# --- people who use the web pages --------------------------------------------------------------


class WebUser(Base):
    """A person who signs in to the status pages: a salted scrypt password hash and roles.

    ``roles`` is a space-separated subset of ``operator`` and ``curator``; a user
    without a role may sign in and read, but no action is allowed.
    """

    __tablename__ = "web_user"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    roles: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class ProposalLink(Base):
    """The unguessable token of a proposal's read-only page for its PI (revocable)."""

    __tablename__ = "proposal_link"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposal.id"), index=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
