"""azure-functions-durable's own ``DurableOrchestrationClient`` against the emulator.

The client is built from a binding JSON whose ``rpcBaseUrl`` is the emulator's local RPC base (the
host's RPC endpoint takes no ``code``). The package keeps one global aiohttp session bound to the
first event loop, so each test closes it before its loop ends.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from azure.durable_functions import DurableOrchestrationClient, OrchestrationRuntimeStatus

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TERMINAL = {
    OrchestrationRuntimeStatus.Completed,
    OrchestrationRuntimeStatus.Failed,
    OrchestrationRuntimeStatus.Terminated,
    OrchestrationRuntimeStatus.Canceled,
}


async def wait_done(client: DurableOrchestrationClient, instance_id: str, timeout: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await client.get_status(instance_id)
        if status.runtime_status in TERMINAL:
            return status
        assert asyncio.get_running_loop().time() < deadline, status.to_json()
        await asyncio.sleep(0.05)


async def test_start_and_poll(durable_client: DurableOrchestrationClient) -> None:
    instance_id = await durable_client.start_new("chain_orchestrator", client_input=["Oslo", "Lima"])
    assert len(instance_id) == 32
    status = await wait_done(durable_client, instance_id)
    assert status.runtime_status == OrchestrationRuntimeStatus.Completed
    assert status.output == ["Hello Oslo!", "Hello Lima!"]
    assert status.custom_status == {"done": 2}
    # The client double-encodes its input: the instance keeps the JSON text.
    assert status.input_ == json.dumps(["Oslo", "Lima"])

    missing = await durable_client.get_status("no-such-instance")
    assert not missing

    with pytest.raises(Exception, match="no_such_orchestrator"):
        await durable_client.start_new("no_such_orchestrator")


async def test_fan_out_with_explicit_id(durable_client: DurableOrchestrationClient) -> None:
    instance_id = f"client-fan-{uuid.uuid4().hex[:8]}"
    assert await durable_client.start_new("fan_out_orchestrator", instance_id, {"count": 50}) == instance_id
    status = await wait_done(durable_client, instance_id)
    assert status.output["sum"] == sum(i * i for i in range(50))


async def test_raise_event(durable_client: DurableOrchestrationClient) -> None:
    instance_id = await durable_client.start_new("approval_orchestrator", client_input={"timeout_s": 60})
    await durable_client.raise_event(instance_id, "Approval", {"ok": True})
    status = await wait_done(durable_client, instance_id)
    assert status.output["outcome"] == "approved"
    # raise_event double-encodes too: the orchestrator receives the JSON text.
    assert status.output["payload"] == json.dumps({"ok": True})
    with pytest.raises(Exception, match="gone"):
        await durable_client.raise_event(instance_id, "Approval", {"ok": False})


async def test_terminate_suspend_resume_restart_purge(durable_client: DurableOrchestrationClient) -> None:
    instance_id = await durable_client.start_new(
        "ticking_orchestrator", client_input={"ticks": 4, "pause_s": 0.05}
    )
    await durable_client.suspend(instance_id, "hold on")
    status = await durable_client.get_status(instance_id)
    assert status.runtime_status == OrchestrationRuntimeStatus.Suspended
    await durable_client.resume(instance_id, "go on")
    status = await wait_done(durable_client, instance_id)
    assert (status.runtime_status, status.output) == (OrchestrationRuntimeStatus.Completed, 4)

    restarted = await durable_client.restart(instance_id)
    new_id = restarted["id"]  # the package returns the response body, not the id
    assert new_id != instance_id
    assert (await wait_done(durable_client, new_id)).output == 4

    long_id = await durable_client.start_new(
        "ticking_orchestrator", client_input={"ticks": 1000, "pause_s": 0.05}
    )
    await durable_client.terminate(long_id, "stop now")
    status = await wait_done(durable_client, long_id)
    assert (status.runtime_status, status.output) == (OrchestrationRuntimeStatus.Terminated, "stop now")

    assert (await durable_client.purge_instance_history(long_id)).instances_deleted == 1
    assert (await durable_client.purge_instance_history(long_id)).instances_deleted == 0

    since = datetime.now(timezone.utc) - timedelta(minutes=10)
    completed = await durable_client.get_status_by(
        created_time_from=since, runtime_status=[OrchestrationRuntimeStatus.Completed]
    )
    assert {instance_id, new_id} <= {s.instance_id for s in completed}
