"""An injectable clock, so that time-dependent rules (the back stop, waiting time) can be tested.

Every service that asks "what time is it?" takes a clock; production uses
:class:`SystemClock`, scenario tests use :class:`FixedClock` and move it forward.
All times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The computer's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved: for tests and simulations."""

    def __init__(self, start: datetime):
        self._now = as_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = as_utc(when)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move the clock forward by ``delta`` (or ``timedelta(**kwargs)``); return the new time."""
        self._now = self._now + (delta if delta is not None else timedelta(**kwargs))
        return self._now


def as_utc(when: datetime) -> datetime:
    """``when`` as an aware UTC datetime; a naive datetime is taken to be UTC already."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)
