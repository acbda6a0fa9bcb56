"""Make the UI's connection form and its **Test** button work well for this provider's connection types.

A root middleware of the api-server (loaded through the ``airflow.plugins`` entry point) rewrites the
body of three requests, and only for this provider's connection types; every other request passes
through untouched.

- ``POST /api/v2/connections/test``: the connection list of Airflow 3.3 (up to at least 3.3.2) posts
  ``port: Number(connection.port)``; for a connection without a port (every type of this provider
  hides the port field) that is ``port: 0``. The API compares it with the stored ``NULL`` port, takes
  the request for "a different destination", refuses to reuse the stored secrets and answers HTTP
  400. apache/airflow#73298 fixes the comparison in the API; until a release carries it,
  `portless_body` rewrites ``port: 0`` to ``null``.
- ``POST /api/v2/connections`` and ``PATCH /api/v2/connections/{connection_id}`` (the form's Save):
  the form of Airflow 3.3 serializes every extra field it shows, with ``null`` for each one left
  empty (its parameter store writes the value of every field, and the API sends each field's value
  as its schema default, ``null`` when there is none). `compact_extra_body` drops the ``null`` and
  ``""`` values from the extra, so only the fields the user filled in are stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow_azure_compute.connections import ServiceKind

try:
    from airflow.plugins_manager import AirflowPlugin
except ImportError:  # pragma: no cover - only the api-server and the scheduler import plugins
    AirflowPlugin = object  # type: ignore[assignment,misc]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Rewrite = Callable[[bytes], "bytes | None"]

#: The route the UI's Test button calls.
TEST_PATH = "/api/v2/connections/test"
#: The route the form's Save posts a new connection to.
CONNECTIONS_PATH = "/api/v2/connections"
#: The route the form's Save patches an existing connection through.
_ONE_CONNECTION = re.compile(r"/api/v2/connections/[^/]+")
#: Larger bodies are passed on as they are (a connection is a few kilobytes).
MAX_BODY = 1 << 20

_OUR_TYPES = frozenset(kind.value for kind in ServiceKind)


def _ours(body: bytes) -> dict[str, Any] | None:
    """The request body as a JSON object when it is a connection of one of this provider's types."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("conn_type") not in _OUR_TYPES:
        return None
    return data


def portless_body(body: bytes) -> bytes | None:
    """The request body with ``port: 0`` made ``null``, or None when nothing is to change.

    Only a JSON object of one of this provider's connection types whose port is exactly 0 changes.
    """
    data = _ours(body)
    if data is None or data.get("port") != 0 or isinstance(data.get("port"), bool):
        return None
    data["port"] = None
    return json.dumps(data).encode()


def compact_extra_body(body: bytes) -> bytes | None:
    """The request body with the empty (``null`` or ``""``) fields removed from its ``extra``, or None
    when nothing is to change.

    Only a JSON object of one of this provider's connection types whose ``extra`` is a JSON object
    string with at least one empty field changes; ``false`` and ``0`` are values, not empty.
    """
    data = _ours(body)
    if data is None or not isinstance(data.get("extra"), str):
        return None
    try:
        fields = json.loads(data["extra"])
    except ValueError:
        return None  # the API answers the invalid JSON itself
    if not isinstance(fields, dict):
        return None
    kept = {name: value for name, value in fields.items() if value is not None and value != ""}
    if len(kept) == len(fields):
        return None
    data["extra"] = json.dumps(kept)
    return json.dumps(data).encode()


def rewrite_for(method: str, path: str) -> Rewrite | None:
    """The body rewrite of a request, or None for a request that passes through untouched."""
    if method == "POST" and path == TEST_PATH:
        return portless_body
    if (method == "POST" and path == CONNECTIONS_PATH) or (
        method == "PATCH" and path != TEST_PATH and _ONE_CONNECTION.fullmatch(path)
    ):
        return compact_extra_body
    return None


class ConnectionFormMiddleware:
    """ASGI middleware applying `rewrite_for`'s rewrite to the connection form's requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rewrite = (
            rewrite_for(str(scope.get("method")), str(scope.get("path")))
            if scope.get("type") == "http"
            else None
        )
        if rewrite is None:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message.get("type") != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body") or len(body) > MAX_BODY:
                break
        changed = rewrite(body) if messages[-1].get("type") == "http.request" else None
        if changed is not None and not messages[-1].get("more_body"):
            headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(changed)).encode())]}
            messages = [{"type": "http.request", "body": changed, "more_body": False}]

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


class AzureComputeApiPlugin(AirflowPlugin):  # type: ignore[misc,valid-type]
    """Registers `ConnectionFormMiddleware` with the api-server."""

    name = "airflow_azure_compute_api"
    fastapi_root_middlewares = [
        {
            "name": "Connection form and Test button of the azure_compute connection types",
            "middleware": ConnectionFormMiddleware,
            "args": [],
            "kwargs": {},
        }
    ]


__all__ = [
    "AzureComputeApiPlugin",
    "ConnectionFormMiddleware",
    "compact_extra_body",
    "portless_body",
    "rewrite_for",
]
