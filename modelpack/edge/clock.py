"""The one time format of records and reports: UTC, ISO 8601, to the second."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["now"]


def now() -> str:
    """The current time as records store it (`started_at`, history entries, pushes)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
