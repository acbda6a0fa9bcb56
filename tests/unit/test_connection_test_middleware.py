"""The api-server middleware that lets the UI's Test button send ``port: 0`` for our connection types."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_azure_compute.plugins.connection_test import (
    TEST_PATH,
    AzureComputeApiPlugin,
    PortlessConnectionTestMiddleware,
    portless_body,
)


def body(**fields: Any) -> bytes:
    return json.dumps({"connection_id": "c", "conn_type": "azure_compute_blob", **fields}).encode()


def test_port_zero_of_our_type_becomes_null() -> None:
    changed = portless_body(body(port=0, host="https://a.blob.core.windows.net"))
    assert changed is not None
    assert json.loads(changed) == {
        "connection_id": "c", "conn_type": "azure_compute_blob", "port": None,
        "host": "https://a.blob.core.windows.net",
    }  # fmt: skip


@pytest.mark.parametrize(
    "raw",
    [
        body(port=443),
        body(port=None),
        body(),
        body(port=False),
        json.dumps({"conn_type": "http", "port": 0}).encode(),
        b"not json",
        b"[0]",
    ],
)
def test_everything_else_is_left_alone(raw: bytes) -> None:
    assert portless_body(raw) is None


async def _call(path: str, method: str, chunks: list[bytes]) -> tuple[dict[str, Any], bytes]:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        received = b""
        while True:
            message = await receive()
            received += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen["scope"], seen["body"] = scope, received

    queue = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    async def send(message: Any) -> None:
        return None

    total = sum(len(c) for c in chunks)
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"content-length", str(total).encode())],
    }
    await PortlessConnectionTestMiddleware(app)(scope, receive, send)
    return seen["scope"], seen["body"]


async def test_middleware_rewrites_the_test_request_and_its_length() -> None:
    raw = body(port=0)
    scope, received = await _call(TEST_PATH, "POST", [raw[:10], raw[10:]])
    assert json.loads(received)["port"] is None
    assert dict(scope["headers"])[b"content-length"] == str(len(received)).encode()


@pytest.mark.parametrize(("path", "method"), [("/api/v2/connections", "POST"), (TEST_PATH, "GET")])
async def test_middleware_passes_other_routes_untouched(path: str, method: str) -> None:
    raw = body(port=0)
    _, received = await _call(path, method, [raw])
    assert received == raw


def test_plugin_declares_the_middleware() -> None:
    (entry,) = AzureComputeApiPlugin.fastapi_root_middlewares
    assert entry["middleware"] is PortlessConnectionTestMiddleware
