"""Email the PI of a proposal when a dataset version becomes available.

An outbox: :meth:`Outbox.queue_version_available` records one message per
dataset version under an idempotency key (``dataset-version:<dataset>:<version>``);
queuing the same version again does nothing. :meth:`Outbox.send_pending` sends the
messages that are due through SMTP (``smtplib``) and marks each one sent only
after the server accepted it; a failed send (server unreachable, refused, a 4xx
or 5xx reply) stays in the outbox with the error and is retried later with an
exponential back-off (``retry_base_s * 2**(attempts-1)``, at most
``retry_max_s``). Nothing is lost, and a message the server accepted is never
sent again. The ``Message-ID`` is derived from the idempotency key, so even in
the one window we cannot close (the process dies between the server's
acceptance and recording it) a repeat is recognisable as the same message.

Sending *claims* each message first (:meth:`OutboxStore.claim`, a compare-and-set
on its status), so two senders working at once never both send it. A permanent
refusal (a 5xx reply) is not retried: the message becomes ``refused`` and the
outbox's ``on_refused`` callback is told (the data center opens a ticket). Without
an SMTP server (``smtp_host=None``) the outbox only queues.

Storage is a small interface (:class:`OutboxStore`); :class:`SQLiteOutboxStore`
keeps the outbox in a SQLite file in a given folder; the data center keeps it in its
metadata store (:class:`dkist_processing_core.datacenter.products.outbox.StoreOutbox`).
"""

from __future__ import annotations

import smtplib
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

__all__ = [
    "Outbox",
    "OutboxMessage",
    "OutboxStore",
    "SQLiteOutboxStore",
    "SendReport",
    "permanent_refusal",
]


@dataclass(frozen=True)
class OutboxMessage:
    key: str
    recipient: str
    subject: str
    body: str
    status: str  # "pending" (SQLite) / "queued" (store) | "sending" | "sent" | "refused" | ...
    attempts: int
    next_attempt_at: float
    last_error: str | None
    sent_at: float | None


class OutboxStore(Protocol):
    """Where the outbox keeps its messages."""

    def add(self, key: str, recipient: str, subject: str, body: str, now: float, **about) -> bool:
        """Add a pending message; False if the key exists already (nothing changes)."""

    def claim(self, key: str, now: float) -> bool:
        """Take a due message for sending; False if another sender has it (or it is not due)."""

    def mark_refused(self, key: str, error: str, now: float) -> None:
        """The server refused the message for good: never retried automatically."""

    def due(self, now: float) -> list[OutboxMessage]:
        """Pending messages whose next attempt is due, oldest first."""

    def mark_sent(self, key: str, now: float) -> None: ...

    def mark_failed(self, key: str, error: str, next_attempt_at: float) -> None: ...

    def get(self, key: str) -> OutboxMessage | None: ...

    def all(self) -> list[OutboxMessage]: ...


class SQLiteOutboxStore:
    """The outbox as one SQLite table in ``folder/outbox.sqlite``."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / "outbox.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS outbox ("
                " key TEXT PRIMARY KEY, recipient TEXT NOT NULL, subject TEXT NOT NULL,"
                " body TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',"
                " attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,"
                " last_error TEXT, sent_at REAL, created_at REAL NOT NULL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at)")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    _COLUMNS = (
        "key, recipient, subject, body, status, attempts, next_attempt_at, last_error, sent_at"
    )

    def add(self, key, recipient, subject, body, now, **about) -> bool:
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO outbox (key, recipient, subject, body, next_attempt_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key, recipient, subject, body, now, now),
            )
            return cursor.rowcount == 1

    def due(self, now) -> list[OutboxMessage]:
        with closing(self._connect()) as db:
            rows = db.execute(
                f"SELECT {self._COLUMNS} FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
                " ORDER BY created_at, key",
                (now,),
            ).fetchall()
        return [OutboxMessage(*r) for r in rows]

    def claim(self, key, now) -> bool:
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                "UPDATE outbox SET status = 'sending' WHERE key = ? AND status = 'pending'"
                " AND next_attempt_at <= ?",
                (key, now),
            )
            return cursor.rowcount == 1

    def mark_sent(self, key, now) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
                " last_error = NULL WHERE key = ? AND status IN ('pending', 'sending')",
                (now, key),
            )

    def mark_failed(self, key, error, next_attempt_at) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "UPDATE outbox SET status = 'pending', attempts = attempts + 1, last_error = ?,"
                " next_attempt_at = ? WHERE key = ? AND status IN ('pending', 'sending')",
                (error, next_attempt_at, key),
            )

    def mark_refused(self, key, error, now) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "UPDATE outbox SET status = 'refused', attempts = attempts + 1, last_error = ?"
                " WHERE key = ? AND status IN ('pending', 'sending')",
                (error, key),
            )

    def get(self, key) -> OutboxMessage | None:
        with closing(self._connect()) as db:
            row = db.execute(f"SELECT {self._COLUMNS} FROM outbox WHERE key = ?", (key,)).fetchone()
        return OutboxMessage(*row) if row else None

    def all(self) -> list[OutboxMessage]:
        with closing(self._connect()) as db:
            rows = db.execute(
                f"SELECT {self._COLUMNS} FROM outbox ORDER BY created_at, key"
            ).fetchall()
        return [OutboxMessage(*r) for r in rows]


@dataclass(frozen=True)
class SendReport:
    sent: list[str]
    failed: dict[str, str]
    refused: dict[str, str] = None  # type: ignore[assignment]

    def __post_init__(self):
        if self.refused is None:
            object.__setattr__(self, "refused", {})


def permanent_refusal(error: Exception) -> bool:
    """True for an SMTP reply that says "never" (5xx), not "later" (4xx, no connection)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    code = getattr(error, "smtp_code", None)
    return isinstance(code, int) and 500 <= code < 600


class Outbox:
    """Queue and send dataset-version notices (see module docstring)."""

    def __init__(
        self,
        store: OutboxStore,
        *,
        smtp_host: str | None = None,
        smtp_port: int = 25,
        sender: str = "DKIST Data Center <noreply@dkist.example>",
        timeout_s: float = 10.0,
        retry_base_s: float = 60.0,
        retry_max_s: float = 6 * 3600.0,
        on_refused: Callable[[OutboxMessage, str], None] | None = None,
    ):
        self.store = store
        self.smtp_host, self.smtp_port = smtp_host, smtp_port
        self.sender, self.timeout_s = sender, timeout_s
        self.retry_base_s, self.retry_max_s = retry_base_s, retry_max_s
        self.on_refused = on_refused

    @staticmethod
    def version_key(dataset_id: str, version: str) -> str:
        return f"dataset-version:{dataset_id}:{version}"

    def queue_version_available(
        self,
        *,
        pi_email: str,
        dataset_id: str,
        version: str,
        proposal_id: str,
        where: str,
        summary: str = "",
        now: float | None = None,
        recipe_run_id: int | None = None,
    ) -> tuple[str, bool]:
        """Queue the notice for one dataset version; returns (key, newly queued)."""
        if "@" not in pi_email:
            raise ValueError(
                f"PI email address {pi_email!r} for proposal {proposal_id} is not an address"
            )
        key = self.version_key(dataset_id, version)
        subject = f"DKIST dataset {dataset_id} version {version} is available"
        body = (
            f"Dear PI of proposal {proposal_id},\n\n"
            f"Dataset {dataset_id}, version {version}, has been processed and is available at:\n"
            f"  {where}\n\n"
            + (f"{summary}\n\n" if summary else "")
            + "The package contains the Level 1 frames, the dataset ASDF file, the quality report,\n"
            "the browse movie, the parameter values used and a SHA256SUMS manifest.\n\n"
            "DKIST Data Center\n"
        )
        about = {} if recipe_run_id is None else {"recipe_run_id": recipe_run_id}
        added = self.store.add(
            key, pi_email, subject, body, time.time() if now is None else now, **about
        )
        return key, added

    def _message(self, m: OutboxMessage) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = m.recipient
        msg["Subject"] = m.subject
        # Stable across retries: the idempotency key makes the Message-ID.
        msg["Message-ID"] = f"<{m.key.replace(':', '.')}@dkist.outbox>"
        msg["X-Idempotency-Key"] = m.key
        msg.set_content(m.body)
        return msg

    def send_pending(self, *, now: float | None = None) -> SendReport:
        """Send every due message once; failures are rescheduled (see module docstring).

        Each message is claimed before it is sent; one another sender claimed is skipped.
        Without an SMTP server nothing is sent (the messages wait, queued).
        """
        now = time.time() if now is None else now
        sent, failed, refused = [], {}, {}
        if self.smtp_host is None:
            return SendReport(sent=sent, failed=failed, refused=refused)
        for m in self.store.due(now):
            if not self.store.claim(m.key, now):
                continue  # another sender has it
            try:
                with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout_s) as smtp:
                    smtp.send_message(self._message(m))
            except (OSError, smtplib.SMTPException) as e:
                error = f"{type(e).__name__}: {e}"
                if permanent_refusal(e):
                    self.store.mark_refused(m.key, error, now)
                    refused[m.key] = error
                    if self.on_refused is not None:
                        self.on_refused(m, error)
                    continue
                delay = min(self.retry_max_s, self.retry_base_s * 2**m.attempts)
                self.store.mark_failed(m.key, error, now + delay)
                failed[m.key] = error
                continue
            self.store.mark_sent(m.key, now)
            sent.append(m.key)
        return SendReport(sent=sent, failed=failed, refused=refused)
