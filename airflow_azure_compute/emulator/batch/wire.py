"""Wire helpers of the Batch emulator: error bodies, timestamps, ISO 8601 durations, ids, ETags."""

from __future__ import annotations

import itertools
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

from aiohttp import web

API_VERSION = "2025-06-01"
ODATA_JSON = "application/json; odata=minimalmetadata"
#: How Batch reports an unlimited duration.
UNLIMITED = "P10675199DT2H48M5.4775807S"
MAX_ID_LENGTH = 64
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DURATION_RE = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_etag_counter = itertools.count(0x8D000000000000)


class BatchError(Exception):
    """An error answered in the Batch format: ``{"code", "message": {"lang", "value"}, "values"}``."""

    def __init__(self, status: int, code: str, message: str, values: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.values = values or {}

    def body(self) -> dict[str, Any]:
        values = [{"key": "RequestId", "value": str(uuid.uuid4())}]
        values += [{"key": k, "value": v} for k, v in self.values.items()]
        return {"code": self.code, "message": {"lang": "en-US", "value": self.message}, "values": values}

    def response(self, *, head: bool = False, metadata: str | None = None) -> web.Response:
        """The error answer; ``metadata`` is the ``odata.metadata`` URL Azure puts first in it."""
        if head:
            return web.Response(status=self.status)
        body = {"odata.metadata": metadata, **self.body()} if metadata else self.body()
        return json_response(body, status=self.status)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        headers={"Content-Type": ODATA_JSON, **(headers or {})},
    )


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    """RFC 3339 UTC with a ``Z`` suffix, as Batch sends it."""
    if value is None:
        return None
    if value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    # isoformat is several times faster than strftime (a 10,000-task fan-out formats 10,000 of these)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(timezone.utc), usegmt=True)


def new_etag() -> str:
    return f"0x{next(_etag_counter):X}"


def parse_duration(text: str | None) -> timedelta | None:
    """An ISO 8601 duration (``PT5M``, ``P1DT2H``, ``PT0.5S``) as a timedelta; None when absent.

    Raises ValueError on anything else. The Batch "unlimited" value parses to None as well.
    """
    if text is None or text == UNLIMITED:
        return None
    match = _DURATION_RE.match(text)
    if not match or text in ("P", "PT"):
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    seconds = (
        parts.get("w", 0) * 604800
        + parts.get("d", 0) * 86400
        + parts.get("h", 0) * 3600
        + parts.get("m", 0) * 60
        + parts.get("s", 0)
    )
    if seconds > 10675199 * 86400:
        return None
    return timedelta(seconds=seconds)


def format_duration(value: timedelta | None) -> str:
    """A timedelta as an ISO 8601 duration; None means unlimited."""
    if value is None:
        return UNLIMITED
    total = value.total_seconds()
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    out = "P"
    if days:
        out += f"{int(days)}D"
    out += "T"
    if hours:
        out += f"{int(hours)}H"
    if minutes:
        out += f"{int(minutes)}M"
    if seconds or out.endswith("T"):
        out += f"{seconds:g}S"
    return out


def check_id(kind: str, value: Any) -> str:
    """Validate a pool/job/task id (letters, digits, ``-``, ``_``; 1..64 characters)."""
    if not isinstance(value, str) or not value:
        raise BatchError(
            400, "MissingRequiredProperty", f"The {kind} id is required.", {"PropertyName": "id"}
        )
    if len(value) > MAX_ID_LENGTH or not _ID_RE.match(value):
        raise BatchError(
            400,
            "InvalidPropertyValue",
            f"The value provided for {kind} id is invalid: use at most 64 letters, digits, '-' or '_'.",
            {"PropertyName": "id", "PropertyValue": value[:100]},
        )
    return value


def entity_headers(etag: str, last_modified: datetime, url: str | None = None) -> dict[str, str]:
    headers = {"ETag": etag, "Last-Modified": http_date(last_modified)}
    if url:
        headers["DataServiceId"] = url
        headers["Location"] = url
    return headers
