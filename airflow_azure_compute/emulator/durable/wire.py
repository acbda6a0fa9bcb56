"""Wire formats of the Durable HTTP API: runtime statuses, times, instance ids, query values."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from enum import Enum
from typing import Final


class RuntimeStatus(str, Enum):
    """``runtimeStatus`` values, PascalCase as on the wire (the Python enum lookup is case-sensitive)."""

    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    FAILED = "Failed"
    CANCELED = "Canceled"
    TERMINATED = "Terminated"
    SUSPENDED = "Suspended"


TERMINAL: Final = frozenset(
    {RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED, RuntimeStatus.CANCELED}
)
#: States in which an existing instance blocks a new start with the same id (409).
NOT_OVERRIDABLE: Final = frozenset(
    {RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.CONTINUED_AS_NEW}
)

MAX_INSTANCE_ID_LENGTH: Final = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_time(value: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ssZ`` as in status bodies."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_event_time(value: datetime) -> str:
    """History timestamps, with sub-second precision (the SDK parses them with dateutil)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    """An ISO 8601 time from a query string; naive times are UTC. Raises ``ValueError``."""
    from dateutil.parser import isoparse

    parsed = isoparse(value.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def new_instance_id() -> str:
    """Generated ids are ``Guid.ToString("N")``: 32 lowercase hex digits."""
    return uuid.uuid4().hex


def instance_id_error(instance_id: str) -> str | None:
    """Why ``instance_id`` is not a valid instance id, or ``None`` when it is."""
    if not instance_id:
        return "Instance ID must not be empty."
    if len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        return f"Instance ID lengths must not exceed {MAX_INSTANCE_ID_LENGTH} characters."
    if instance_id.startswith("@"):
        return "Orchestration instance ids must not start with @."
    if any(c in instance_id for c in "/\\#?"):
        return "Instance ID must not contain /, \\, #, ? or control characters."
    if _CONTROL.search(instance_id):
        return "Instance ID must not contain /, \\, #, ? or control characters."
    return None


def query_bool(value: str | None, default: bool) -> bool:
    """Booleans in query strings, case-insensitive (the Python client sends ``True``)."""
    if value is None or value == "":
        return default
    return value.strip().lower() == "true"
