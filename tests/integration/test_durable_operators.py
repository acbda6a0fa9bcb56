"""Durable Functions operators, sensor and trigger against the emulator (real function app, real HTTP)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_azure_compute.exceptions import (
    AzureComputeConfigError,
    AzureComputeRemoteError,
    RemoteWorkFailedError,
)
from airflow_azure_compute.hooks.durable import DurableAsyncHook, DurableHook
from airflow_azure_compute.hooks.durable_api import RuntimeStatus
from airflow_azure_compute.operators.durable import (
    DurablePurgeOrchestrationOperator,
    DurableRaiseEventOperator,
    DurableStartOrchestrationOperator,
    DurableTerminateOrchestrationOperator,
)
from airflow_azure_compute.sensors.durable import DurableOrchestrationSensor
from airflow_azure_compute.triggers.durable import DurableOrchestrationTrigger
from tests.integration._durable_helpers import wait_status
from tests.integration.ops_support import FakeTI, context_for, execute, expect_deferred, first_event, rebuild

pytestmark = pytest.mark.integration


def test_start_wait_deferred_output_and_purge(durable: DurableHook) -> None:
    ti = FakeTI(task_id="chain")
    ctx = context_for(ti)
    op = DurableStartOrchestrationOperator(
        task_id="chain",
        orchestrator="chain_orchestrator",
        input='["x", "y"]',
        wait_for_completion=True,
        poll_interval=0.1,
        cleanup="delete_on_success",
        deferrable=True,
    )
    output = execute(op, ctx)
    assert output == ["Hello x!", "Hello y!"]
    instance_id = ti.xcom["instance_id"]
    assert instance_id.startswith("orch-ops-dag-")
    assert durable.get_status(instance_id) is None  # purged by the cleanup policy
    assert ti.xcom["azure_durable_instance"]["instance_id"] == instance_id


def test_fan_out_to_completion_through_the_sensor(durable: DurableHook) -> None:
    ti = FakeTI(task_id="start_fan")
    start = DurableStartOrchestrationOperator(
        task_id="start_fan", orchestrator="fan_out_orchestrator", input={"count": 40}
    )
    instance_id = start.execute(context_for(ti))
    sensor = DurableOrchestrationSensor(task_id="wait_fan", instance_id=instance_id, poke_interval=0.1)
    assert sensor.deferrable  # deferrable by default
    output = execute(sensor, context_for(FakeTI(task_id="wait_fan")))
    assert output == {
        "count": 40,
        "sum": sum(i * i for i in range(40)),
        "squares": [i * i for i in range(40)],
    }


def test_retry_reattaches_to_the_running_instance(durable: DurableHook) -> None:
    def start() -> str:
        ti = FakeTI(task_id="tick", run_id="reattach-run")
        op = DurableStartOrchestrationOperator(
            task_id="tick", orchestrator="ticking_orchestrator", input={"ticks": 40, "pause_s": 0.1}
        )
        return str(op.execute(context_for(ti)))

    first = start()
    created = durable.get_status(first)
    second = start()  # a retry of the same task instance
    assert second == first
    assert durable.get_status(first).created_time == created.created_time  # type: ignore[union-attr]
    assert durable.terminate(first)


def test_failed_orchestration_raises_with_output(durable: DurableHook) -> None:
    op = DurableStartOrchestrationOperator(
        task_id="fail",
        orchestrator="failing_orchestrator",
        input={},
        wait_for_completion=True,
        poll_interval=0.1,
    )
    with pytest.raises(RemoteWorkFailedError) as err:
        execute(op, context_for(FakeTI(task_id="fail", run_id="fail-run")))
    assert err.value.code == "Failed"
    assert "output:" in str(err.value)


def test_raise_event_then_sensor(durable: DurableHook) -> None:
    ti = FakeTI(task_id="approve")
    instance_id = DurableStartOrchestrationOperator(
        task_id="approve", orchestrator="approval_orchestrator", input={"timeout_s": 60}
    ).execute(context_for(ti))
    wait_status(durable, instance_id, RuntimeStatus.RUNNING)
    DurableRaiseEventOperator(
        task_id="raise", instance_id=instance_id, event_name="Approval", event_data='{"by": "ops"}'
    ).execute(context_for(ti))
    sensor = DurableOrchestrationSensor(
        task_id="w", instance_id=instance_id, poke_interval=0.1, deferrable=False
    )
    output = execute(sensor, context_for(ti))
    assert output["outcome"] == "approved"
    assert output["payload"] == {"by": "ops"}


def test_terminate_operator_then_sensor_fails_and_purge(durable: DurableHook) -> None:
    ti = FakeTI(task_id="term")
    instance_id = DurableStartOrchestrationOperator(
        task_id="term", orchestrator="ticking_orchestrator", input={"ticks": 100}
    ).execute(context_for(ti))
    assert DurableTerminateOrchestrationOperator(task_id="t", instance_id=instance_id).execute(
        context_for(ti)
    )
    wait_status(durable, instance_id, RuntimeStatus.TERMINATED)
    sensor = DurableOrchestrationSensor(task_id="w", instance_id=instance_id, poke_interval=0.1)
    with pytest.raises(RemoteWorkFailedError, match="Terminated"):
        execute(sensor, context_for(ti))
    purged = DurablePurgeOrchestrationOperator(
        task_id="p", instance_ids=[instance_id, "never-existed"]
    ).execute(context_for(ti))
    assert purged == [instance_id]
    assert durable.get_status(instance_id) is None


def test_suspended_fail_and_resume(durable: DurableHook) -> None:
    ti = FakeTI(task_id="susp")
    instance_id = DurableStartOrchestrationOperator(
        task_id="susp", orchestrator="ticking_orchestrator", input={"ticks": 5, "pause_s": 0.05}
    ).execute(context_for(ti))
    assert durable.suspend(instance_id)
    wait_status(durable, instance_id, RuntimeStatus.SUSPENDED)
    failing = DurableOrchestrationSensor(task_id="w1", instance_id=instance_id, on_suspended="fail")
    with pytest.raises(RemoteWorkFailedError, match="Suspended"):
        execute(failing, context_for(ti))
    resuming = DurableOrchestrationSensor(
        task_id="w2", instance_id=instance_id, on_suspended="resume", poke_interval=0.1
    )
    assert execute(resuming, context_for(ti)) == 5


def test_kill_while_deferred_terminates_the_instance(durable: DurableHook) -> None:
    ti = FakeTI(task_id="kill")
    op = DurableStartOrchestrationOperator(
        task_id="kill",
        orchestrator="ticking_orchestrator",
        input={"ticks": 200},
        wait_for_completion=True,
        poll_interval=0.1,
    )
    deferred = expect_deferred(lambda: op.execute(context_for(ti)))
    trigger = rebuild(deferred.trigger)

    async def kill() -> None:
        task = asyncio.ensure_future(first_event(trigger))
        await asyncio.sleep(0.3)
        assert not task.done()
        task.cancel()  # the triggerer cancels the trigger, then calls on_kill for a user kill
        with pytest.raises(asyncio.CancelledError):
            await task
        await trigger.on_kill()

    asyncio.run(kill())
    assert wait_status(durable, ti.xcom["instance_id"], RuntimeStatus.TERMINATED)


def test_triggerer_restart_mid_wait_resumes(durable: DurableHook) -> None:
    ti = FakeTI(task_id="restart")
    op = DurableStartOrchestrationOperator(
        task_id="restart",
        orchestrator="ticking_orchestrator",
        input={"ticks": 10, "pause_s": 0.05},
        wait_for_completion=True,
        poll_interval=0.1,
    )
    deferred = expect_deferred(lambda: op.execute(context_for(ti)))

    async def interrupted() -> None:
        task = asyncio.ensure_future(first_event(rebuild(deferred.trigger)))
        await asyncio.sleep(0.2)
        task.cancel()  # triggerer shut down: no on_kill
        with pytest.raises(asyncio.CancelledError):
            await task
        await rebuild(deferred.trigger).cleanup()

    asyncio.run(interrupted())
    assert durable.get_status(ti.xcom["instance_id"]).runtime_status is not RuntimeStatus.TERMINATED  # type: ignore[union-attr]
    event = asyncio.run(first_event(rebuild(deferred.trigger)))  # a new triggerer picks it up
    assert event["status"] == "success"
    assert op.resume_execution("execute_complete", {"event": event}, context_for(ti)) == 10


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"instance_id": "bad/id"}, "instance_id"),
        ({"instance_id": "@bad"}, "instance_id"),
        ({"input": "{not json"}, "input"),
    ],
)
def test_bad_input_fails_before_any_call(durable: DurableHook, kwargs: dict[str, Any], field: str) -> None:
    op = DurableStartOrchestrationOperator(task_id="bad", orchestrator="chain_orchestrator", **kwargs)
    with pytest.raises(AzureComputeConfigError) as err:
        op.execute(context_for(FakeTI(task_id="bad")))
    assert err.value.field == field


def test_unknown_orchestrator_and_wrong_key(durable: DurableHook) -> None:
    op = DurableStartOrchestrationOperator(task_id="x", orchestrator="no_such_orchestrator")
    with pytest.raises(AzureComputeRemoteError) as err:
        op.execute(context_for(FakeTI(task_id="x")))
    assert err.value.status == 400
    assert "no_such_orchestrator" in str(err.value)
    op = DurableStartOrchestrationOperator(
        task_id="y", orchestrator="chain_orchestrator", azure_conn_id="durable_bad_key"
    )
    with pytest.raises(AzureComputeRemoteError) as err:
        op.execute(context_for(FakeTI(task_id="y")))
    assert err.value.status == 401
    assert "wrong-key" not in str(err.value)


async def test_async_hook_round_trip(durable: DurableHook) -> None:
    async with DurableAsyncHook() as hook:
        started = await hook.start("chain_orchestrator", instance_id="async-hook-1", input=["z"])
        assert not started.reattached
        trigger = DurableOrchestrationTrigger(instance_id="async-hook-1", poll_interval=0.05)
        event = await first_event(trigger)
        assert event["output"] == ["Hello z!"]
        assert await hook.purge("async-hook-1")
        assert await hook.get_status("async-hook-1") is None


def test_hooks_ride_out_throttling_and_resets(durable: DurableHook, emulator: dict[str, Any]) -> None:
    import urllib.request

    def faults(body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{emulator['durable']['admin_url']}/faults",
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read()))

    def injected() -> int:
        with urllib.request.urlopen(f"{emulator['durable']['admin_url']}/counters", timeout=10) as response:
            return sum(json.loads(response.read())["faults_injected"].values())

    before = injected()
    faults({"error_rate": 0.15, "reset_rate": 0.05, "seed": 7})
    try:
        hook = DurableHook()
        hook.start("chain_orchestrator", instance_id="faulty-1", input=["f"])
        status = wait_status(hook, "faulty-1", RuntimeStatus.COMPLETED)
        assert status.output == ["Hello f!"]
        assert hook.purge("faulty-1")
    finally:
        faults({"error_rate": 0.0, "reset_rate": 0.0})
    assert injected() > before  # the faults happened and the hook retried through them


def test_start_through_the_apps_own_http_starter_route(durable: DurableHook) -> None:
    ti = FakeTI(task_id="via_route")
    op = DurableStartOrchestrationOperator(
        task_id="via_route",
        orchestrator="chain_orchestrator",
        input=["route"],
        start_route="api/orchestrators/{function_name}",
        wait_for_completion=True,
        poll_interval=0.1,
    )
    assert execute(op, context_for(ti)) == ["Hello route!"]
    instance_id = ti.xcom["instance_id"]
    assert not instance_id.startswith("orch-")  # the starter chose the id; the operator read it back
    assert durable.get_status(instance_id).name == "chain_orchestrator"  # type: ignore[union-attr]
