"""Durable HTTP (``context.call_http``): the extension's built-in HTTP activity.

The request is sent as given; a ``202`` answer with a ``Location`` header is polled (GET, honouring
``Retry-After``) until it is not 202 any more, as the extension's asynchronous pattern does. The
completion's result is the ``DurableHttpResponse`` JSON: ``{"statusCode", "headers", "content"}``.
Managed identity token sources are not emulated: such a call fails, saying so.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from airflow_azure_compute.emulator.durable import history as h
from airflow_azure_compute.emulator.durable.history import Event

HTTP_ACTIVITY = "BuiltIn::HttpActivity"
#: How long the asynchronous 202 pattern is followed before the call fails.
POLL_LIMIT_S = 300.0
TIMEOUT = aiohttp.ClientTimeout(total=100)


async def call_http(request: dict[str, Any], event_id: int) -> Event:
    """Run one durable HTTP request; return its ``TaskCompleted`` (or ``TaskFailed``) event."""
    if request.get("tokenSource"):
        reason = "Durable HTTP with a managed identity token source is not emulated locally."
        return h.task_failed(event_id, reason, reason)
    method = str(request.get("method") or "GET").upper()
    uri = str(request.get("uri") or "")
    headers = {
        k: v if isinstance(v, str) else ", ".join(map(str, v))
        for k, v in (request.get("headers") or {}).items()
    }
    content = request.get("content")
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            status, answer_headers, text = await _send(session, method, uri, headers, content)
            waited = 0.0
            while status == 202 and "Location" in answer_headers and waited < POLL_LIMIT_S:
                delay = float(answer_headers.get("Retry-After") or 1)
                await asyncio.sleep(delay)
                waited += delay
                status, answer_headers, text = await _send(
                    session, "GET", answer_headers["Location"], headers, None
                )
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        reason = f"The durable HTTP request {method} {uri} failed: {type(exc).__name__}: {exc}"
        return h.task_failed(event_id, reason, reason)
    response = {"statusCode": status, "headers": answer_headers, "content": text}
    return h.task_completed(event_id, json.dumps(response))


async def _send(
    session: aiohttp.ClientSession, method: str, uri: str, headers: dict[str, str], content: str | None
) -> tuple[int, dict[str, str], str]:
    async with session.request(method, uri, headers=headers, data=content, allow_redirects=False) as answer:
        return answer.status, dict(answer.headers), await answer.text()
