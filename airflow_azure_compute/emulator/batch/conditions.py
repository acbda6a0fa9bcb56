"""HTTP conditional headers of the Batch emulator, as Batch answers them on pools.

``If-Match`` / ``If-None-Match`` compare against the entity's ETag (``*`` matches any existing entity),
``If-Unmodified-Since`` / ``If-Modified-Since`` against its ``Last-Modified`` (whole seconds, as the
header carries them). A failed condition is ``412 ConditionNotMet``, except a failed ``If-None-Match`` or
``If-Modified-Since`` on a read (GET/HEAD), which is ``304 Not Modified``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from aiohttp import web

from airflow_azure_compute.emulator.batch.wire import BatchError

CONDITION_NOT_MET = "The condition specified using HTTP conditional header(s) is not met."


def _tags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/").strip('"') for t in header.split(",") if t.strip()}


def _date(request: web.Request, name: str) -> datetime | None:
    raw = request.headers.get(name)
    if not raw:
        return None
    try:
        return parsedate_to_datetime(raw)
    except (TypeError, ValueError) as exc:
        raise BatchError(
            400, "InvalidHeaderValue", f"The value for the {name} header is not valid.", {"HeaderName": name}
        ) from exc


def check_conditions(request: web.Request, etag: str, last_modified: datetime) -> bool:
    """Raise `BatchError` (412) when the request's conditions fail; True when a read is not modified.

    The caller answers a True with ``304`` (and no body).
    """
    read = request.method in ("GET", "HEAD")
    current = etag.strip('"')
    modified = last_modified.astimezone(timezone.utc).replace(microsecond=0)
    if_match = request.headers.get("If-Match")
    if if_match is not None:
        tags = _tags(if_match)
        if "*" not in tags and current not in tags:
            raise BatchError(412, "ConditionNotMet", CONDITION_NOT_MET)
    unmodified_since = _date(request, "If-Unmodified-Since")
    if unmodified_since is not None and modified > unmodified_since:
        raise BatchError(412, "ConditionNotMet", CONDITION_NOT_MET)
    not_modified = False
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = _tags(if_none_match)
        not_modified = "*" in tags or current in tags
    modified_since = _date(request, "If-Modified-Since")
    if modified_since is not None and modified <= modified_since:
        not_modified = True
    if not_modified and not read:
        raise BatchError(412, "ConditionNotMet", CONDITION_NOT_MET)
    return not_modified


__all__ = ["CONDITION_NOT_MET", "check_conditions"]
