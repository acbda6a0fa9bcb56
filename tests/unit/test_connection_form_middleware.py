"""The api-server middleware of the connection form: ``port: 0`` of the Test button, empty extras on Save."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_azure_compute.plugins.connection_form import (
    CONNECTIONS_PATH,
    TEST_PATH,
    AzureComputeApiPlugin,
    ConnectionFormMiddleware,
    compact_extra_body,
    portless_body,
    rewrite_for,
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
    await ConnectionFormMiddleware(app)(scope, receive, send)
    return seen["scope"], seen["body"]


async def test_middleware_rewrites_the_test_request_and_its_length() -> None:
    raw = body(port=0)
    scope, received = await _call(TEST_PATH, "POST", [raw[:10], raw[10:]])
    assert json.loads(received)["port"] is None
    assert dict(scope["headers"])[b"content-length"] == str(len(received)).encode()


@pytest.mark.parametrize(
    ("path", "method"),
    [
        (CONNECTIONS_PATH, "GET"),
        (CONNECTIONS_PATH, "PATCH"),  # the bulk route (file imports) is left alone
        (TEST_PATH, "GET"),
        ("/api/v2/connections/c/extra", "PATCH"),
        ("/api/v2/variables", "POST"),
    ],
)
async def test_middleware_passes_other_routes_untouched(path: str, method: str) -> None:
    raw = body(port=0, extra=json.dumps({"region": None}))
    _, received = await _call(path, method, [raw])
    assert received == raw


# ------------------------------------------------------------------------------- empty extras on Save
def test_empty_extra_fields_of_our_type_are_dropped() -> None:
    extra = {"resource_group": None, "region": "", "subscription_id": "s", "allow_http": False, "n": 0}
    changed = compact_extra_body(body(port=None, extra=json.dumps(extra)))
    assert changed is not None
    data = json.loads(changed)
    assert json.loads(data["extra"]) == {"subscription_id": "s", "allow_http": False, "n": 0}
    assert {k: v for k, v in data.items() if k != "extra"} == {
        "connection_id": "c", "conn_type": "azure_compute_blob", "port": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    "raw",
    [
        body(extra=json.dumps({"region": "westeurope"})),  # nothing empty
        body(extra="{}"),
        body(extra=None),
        body(),
        body(extra="not json"),  # the API answers it
        body(extra="[null]"),
        body(extra=json.dumps({"password": "***"})),  # a masked secret is a value
        json.dumps({"conn_type": "wasb", "extra": json.dumps({"sas_token": None})}).encode(),
        b"not json",
    ],
)
def test_other_extras_are_left_alone(raw: bytes) -> None:
    assert compact_extra_body(raw) is None


@pytest.mark.parametrize(
    ("method", "path", "rewrite"),
    [
        ("POST", TEST_PATH, portless_body),
        ("POST", CONNECTIONS_PATH, compact_extra_body),
        ("PATCH", "/api/v2/connections/my_conn", compact_extra_body),
        ("PATCH", TEST_PATH, None),
        ("PATCH", CONNECTIONS_PATH, None),
        ("POST", "/api/v2/connections/my_conn", None),
        ("DELETE", "/api/v2/connections/my_conn", None),
    ],
)
def test_rewrite_for_routes(method: str, path: str, rewrite: Any) -> None:
    assert rewrite_for(method, path) is rewrite


@pytest.mark.parametrize(("method", "path"), [("POST", CONNECTIONS_PATH), ("PATCH", "/api/v2/connections/c")])
async def test_middleware_compacts_the_saved_extra_and_its_length(method: str, path: str) -> None:
    raw = body(extra=json.dumps({"region": None, "subscription_id": "s"}))
    scope, received = await _call(path, method, [raw[:7], raw[7:]])
    assert json.loads(json.loads(received)["extra"]) == {"subscription_id": "s"}
    assert dict(scope["headers"])[b"content-length"] == str(len(received)).encode()


def test_plugin_declares_the_middleware() -> None:
    (entry,) = AzureComputeApiPlugin.fastapi_root_middlewares
    assert entry["middleware"] is ConnectionFormMiddleware
