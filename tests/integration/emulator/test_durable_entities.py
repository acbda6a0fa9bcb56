"""Durable entities and durable HTTP through real azure-functions-durable functions
(``tests/function_apps/durable_entities.py``), over the HTTP API with the system key."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.integration.emulator.test_durable_http import Durable

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
async def durable(emulator: dict[str, Any]) -> AsyncIterator[Durable]:
    async with aiohttp.ClientSession() as session:
        yield Durable(session, emulator["durable"])


async def _request(
    durable: Durable, method: str, path: str, body: Any = None, **query: Any
) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"params": durable.params(**query)}
    if body is not None:
        kwargs["json"] = body
    async with durable.session.request(method, f"{durable.base}{path}", **kwargs) as r:
        text = await r.text()
        return r.status, (await r.json(content_type=None) if text else None)


async def _state(durable: Durable, path: str, expected: Any) -> Any:
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        status, body = await _request(durable, "GET", path)
        if status == 200 and body == expected:
            return body
        assert asyncio.get_running_loop().time() < deadline, (status, body)
        await asyncio.sleep(0.05)


async def test_signal_get_and_list_entities_over_http(durable: Durable) -> None:
    key = f"steps-{uuid.uuid4().hex[:8]}"
    assert (await _request(durable, "GET", f"/entities/Counter/{key}"))[0] == 404
    assert (await _request(durable, "POST", f"/entities/Counter/{key}", 5, op="Add"))[0] == 202
    assert (await _request(durable, "POST", f"/entities/Counter/{key}", 2, op="add"))[0] == 202
    await _state(durable, f"/entities/Counter/{key}", {"currentValue": 7})
    status, listed = await _request(durable, "GET", "/entities/counter", fetchState="true")
    mine = [e for e in listed if e["entityId"]["key"] == key]
    assert (
        status == 200 and mine[0]["entityId"]["name"] == "counter" and mine[0]["state"] == {"currentValue": 7}
    )
    status, listed = await _request(durable, "GET", "/entities")
    assert any(e["entityId"]["key"] == key and "state" not in e for e in listed)


async def test_entity_http_errors(durable: Durable) -> None:
    assert (await _request(durable, "POST", "/entities/NoSuchEntity/k", 1, op="add"))[0] == 404
    async with durable.session.post(
        f"{durable.base}/entities/Counter/k",
        params=durable.params(op="add"),
        data="1",
        headers={"Content-Type": "text/plain"},
    ) as r:
        assert r.status == 400
    async with durable.session.post(f"{durable.base}/entities/Counter/k", params={"op": "add"}, json=1) as r:
        assert r.status == 401  # no system key


async def test_orchestrator_signals_and_calls_an_entity(durable: Durable) -> None:
    key = f"orch-{uuid.uuid4().hex[:8]}"
    done = await durable.run("entity_orchestrator", {"key": key})
    assert done["runtimeStatus"] == "Completed", done
    assert done["output"]["value"] == 7
    assert "the counter refuses this operation" in done["output"]["failure"]
    await _state(durable, f"/entities/Counter/{key}", {"currentValue": 7})


@pytest.mark.parametrize("route", ["echo", "accepted"])
async def test_call_http_reaches_the_endpoint_and_follows_202(
    durable: Durable, emulator: dict[str, Any], route: str
) -> None:
    url = f"{emulator['durable']['url']}/api/{route}/42"
    done = await durable.run("http_call_orchestrator", {"url": url})
    assert done["runtimeStatus"] == "Completed", done
    assert done["output"] == {"status": 200, "content": {"value": "42"}}
