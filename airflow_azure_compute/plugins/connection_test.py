"""Make the UI's connection **Test** button work for this provider's connection types.

The connection list of Airflow 3.3 (up to at least 3.3.2) posts ``port: Number(connection.port)`` to
``POST /api/v2/connections/test``; for a connection without a port (every type of this provider
hides the port field) that is ``port: 0``. The API compares it with the stored ``NULL`` port, takes
the request for "a different destination", refuses to reuse the stored secrets and answers HTTP 400.
apache/airflow#73298 fixes the comparison in the API; until a release carries it, this root
middleware (loaded by the api-server through the ``airflow.plugins`` entry point) rewrites
``port: 0`` to ``null`` in that one request, and only for this provider's connection types. Every
other request passes through untouched.
"""

from __future__ import annotations

import json
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

#: The route the UI's Test button calls.
TEST_PATH = "/api/v2/connections/test"
#: Larger bodies are passed on as they are (a connection is a few kilobytes).
MAX_BODY = 1 << 20

_OUR_TYPES = frozenset(kind.value for kind in ServiceKind)


def portless_body(body: bytes) -> bytes | None:
    """The request body with ``port: 0`` made ``null``, or None when nothing is to change.

    Only a JSON object of one of this provider's connection types whose port is exactly 0 changes.
    """
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("conn_type") not in _OUR_TYPES:
        return None
    if data.get("port") != 0 or isinstance(data.get("port"), bool):
        return None
    data["port"] = None
    return json.dumps(data).encode()


class PortlessConnectionTestMiddleware:
    """ASGI middleware applying `portless_body` to ``POST /api/v2/connections/test``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST" or scope.get("path") != TEST_PATH:
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
        changed = portless_body(body) if messages[-1].get("type") == "http.request" else None
        if changed is not None and not messages[-1].get("more_body"):
            headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(changed)).encode())]}
            messages = [{"type": "http.request", "body": changed, "more_body": False}]

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


class AzureComputeApiPlugin(AirflowPlugin):  # type: ignore[misc,valid-type]
    """Registers `PortlessConnectionTestMiddleware` with the api-server."""

    name = "airflow_azure_compute_api"
    fastapi_root_middlewares = [
        {
            "name": "Test button for connections without a port",
            "middleware": PortlessConnectionTestMiddleware,
            "args": [],
            "kwargs": {},
        }
    ]


__all__ = ["AzureComputeApiPlugin", "PortlessConnectionTestMiddleware", "portless_body"]
