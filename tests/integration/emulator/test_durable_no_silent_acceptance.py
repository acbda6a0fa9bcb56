"""No silent acceptance in the Durable host: a query parameter the emulator does not emulate (another
task hub) or cannot read gets a 400 naming it, over the webhooks and through
azure-functions-durable's client, and nothing is started."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest
from azure.durable_functions import DurableOrchestrationClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

#: (what, method, path under the webhooks with ``{id}`` for a fresh instance id, query, the name the 400 gives)
REFUSALS = [
    ("start in another task hub", "POST", "/orchestrators/chain_orchestrator/{id}", {"taskHub": "OtherHub"}, "taskHub"),
    ("status in another task hub", "GET", "/instances/{id}", {"taskHub": "OtherHub"}, "taskHub"),
    ("list in another task hub", "GET", "/instances", {"taskHub": "OtherHub"}, "taskHub"),
    ("purge in another task hub", "DELETE", "/instances", {"taskHub": "OtherHub", "createdTimeFrom": "2020-01-01T00:00:00Z"}, "taskHub"),
    ("signal in another task hub", "POST", "/entities/Counter/{id}", {"taskHub": "OtherHub", "op": "Add"}, "taskHub"),
        ("wait a non-number", "POST", "/orchestrators/chain_orchestrator/{id}", {"timeout": "soon"}, "timeout"),
    ("poll a non-number", "POST", "/orchestrators/chain_orchestrator/{id}", {"timeout": "1", "pollingInterval": "x"}, "pollingInterval"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "method", "path", "query", "named"), REFUSALS, ids=[r[0] for r in REFUSALS])
async def test_refusals_name_the_parameter(
    emulator: dict[str, Any], what: str, method: str, path: str, query: dict[str, str], named: str
) -> None:
    durable = emulator["durable"]
    instance_id = f"refused-{uuid.uuid4().hex[:8]}"
    async with aiohttp.ClientSession() as http:
        url = durable["webhook_url"] + path.format(id=instance_id)
        async with http.request(method, url, params={**query, "code": durable["key"]}, json=[]) as answer:
            assert answer.status == 400, await answer.text()
            assert named in (await answer.json())["ExceptionMessage"]
        status_url = f"{durable['webhook_url']}/instances/{instance_id}"
        async with http.get(status_url, params={"code": durable["key"]}) as status:
            assert status.status == 404  # nothing was started


async def test_the_host_task_hub_and_no_local_effect_parameters_are_accepted(
    emulator: dict[str, Any],
) -> None:
    durable = emulator["durable"]
    query = {
        "code": durable["key"],
        "taskHub": durable["task_hub"].upper(),  # task hub names are case-insensitive
        "connection": "AnyStorageSetting",
        "timeout": "20",
        "pollingInterval": "1",
    }
    async with aiohttp.ClientSession() as http:
        url = f"{durable['webhook_url']}/orchestrators/chain_orchestrator"
        async with http.post(url, params=query, json=["Oslo"]) as answer:
            assert answer.status == 200, await answer.text()
            assert await answer.json() == ["Hello Oslo!"]


async def test_the_durable_client_naming_another_task_hub_is_refused(
    durable_client: DurableOrchestrationClient,
) -> None:
    instance_id = await durable_client.start_new("approval_orchestrator", client_input={"timeout_s": 30})
    # the client turns any 400 of raise event into this text of its own
    with pytest.raises(Exception, match="Only application/json request content is supported"):
        await durable_client.raise_event(instance_id, "Approval", {"ok": True}, task_hub_name="OtherHub")
    status = await durable_client.get_status(instance_id)
    assert status.runtime_status.value in ("Pending", "Running")  # the event was not delivered
    await durable_client.terminate(instance_id, "test over")
