"""Server timestamps: naive ISO strings in the server's zone, turned timezone-aware.

The US server answers in America/Los_Angeles (PST/PDT), the EU server in GMT.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_SERVER_TIMEZONE = "America/Los_Angeles"

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?$")
_DATE_KEYS = re.compile(r"(_on|_date|_at|^date|_time)$")


def to_aware(value: str, zone: ZoneInfo) -> datetime:
    """Parse one server timestamp; a naive one is read in the server's zone.

    :param value: an ISO-8601 timestamp.
    :param zone: the server's time zone.
    """
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def convert_timestamps(data: Any, zone: ZoneInfo) -> Any:
    """Return ``data`` with every timestamp field (``created_on``, ``report_approved_date``...) aware.

    Only keys that name a time (ending in ``_on``, ``_date``, ``_at``...) and
    whose value looks like ISO-8601 are converted; everything else is kept.

    :param data: JSON data (dicts, lists, scalars).
    :param zone: the server's time zone.
    """
    if isinstance(data, dict):
        return {
            key: to_aware(value, zone)
            if isinstance(value, str) and _DATE_KEYS.search(key) and _ISO.match(value)
            else convert_timestamps(value, zone)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [convert_timestamps(item, zone) for item in data]
    return data
