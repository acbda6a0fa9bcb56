"""The Durable instance lifecycle from a DAG: actions, customStatus waits, start-in-trigger kills, purge by run."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from airflow_azure_compute.exceptions import AzureComputeRemoteError, RemoteWorkFailedError
from airflow_azure_compute.hooks.durable import DurableHook
from airflow_azure_compute.hooks.durable_api import RuntimeStatus
from airflow_azure_compute.operators.durable import (
    DurableInstanceActionOperator,
    DurablePurgeOrchestrationOperator,
    DurableStartOrchestrationOperator,
)
from airflow_azure_compute.sensors.durable import DurableOrchestrationSensor
from tests.integration._durable_helpers import wait_status
from tests.integration.ops_support import FakeTI, context_for, execute, expect_deferred, first_event, rebuild

pytestmark = pytest.mark.integration


def act(instance_id: str, action: str, **kwargs: Any) -> Any:
    op = DurableInstanceActionOperator(
        task_id=f"{action}-op", instance_id=instance_id, action=action, **kwargs
    )
    return op.execute(context_for(FakeTI(task_id=f"{action}-op")))


def ticking(hook: DurableHook, ticks: int = 200, pause_s: float = 0.05) -> str:
    instance_id = f"tick-{uuid.uuid4().hex[:8]}"
    hook.start("ticking_orchestrator", instance_id=instance_id, input={"ticks": ticks, "pause_s": pause_s})
    wait_status(hook, instance_id, RuntimeStatus.RUNNING)
    return instance_id


def test_suspend_resume_and_actions_refused_in_the_wrong_state(durable: DurableHook) -> None:
    instance_id = ticking(durable)
    with pytest.raises(AzureComputeRemoteError) as err:
        act(instance_id, "resume")
    assert "cannot resume orchestration" in str(err.value) and "it is Running" in str(err.value)
    assert err.value.code == "InvalidInstanceState"
    with pytest.raises(
        AzureComputeRemoteError, match="it is Running; rewind applies only to instances that are Failed"
    ):
        act(instance_id, "rewind")
    assert act(instance_id, "suspend") == instance_id
    wait_status(durable, instance_id, RuntimeStatus.SUSPENDED)
    with pytest.raises(AzureComputeRemoteError, match="it is Suspended"):
        act(instance_id, "suspend")
    assert act(instance_id, "resume") == instance_id
    wait_status(durable, instance_id, RuntimeStatus.RUNNING)
    act(instance_id, "terminate")
    wait_status(durable, instance_id, RuntimeStatus.TERMINATED)
    with pytest.raises(AzureComputeRemoteError, match="it is Terminated"):
        act(instance_id, "suspend")
    with pytest.raises(AzureComputeRemoteError, match="no such instance"):
        act("never-started-" + uuid.uuid4().hex[:6], "resume")


def test_rewind_reruns_the_failed_activity(durable: DurableHook) -> None:
    instance_id = f"rewind-{uuid.uuid4().hex[:8]}"
    durable.start("rewind_orchestrator", instance_id=instance_id, input={"key": instance_id, "failures": 1})
    wait_status(durable, instance_id, RuntimeStatus.FAILED)
    assert act(instance_id, "rewind") == instance_id
    status = wait_status(durable, instance_id, RuntimeStatus.COMPLETED)
    assert status.output == {"attempt": 2}


def test_restart_with_a_new_id_and_the_same_id(durable: DurableHook) -> None:
    instance_id = f"restart-{uuid.uuid4().hex[:8]}"
    durable.start("fan_out_orchestrator", instance_id=instance_id, input={"count": 3})
    first = wait_status(durable, instance_id, RuntimeStatus.COMPLETED)
    new_id = act(instance_id, "restart")
    assert new_id != instance_id
    assert wait_status(durable, new_id, RuntimeStatus.COMPLETED).output == first.output
    assert act(instance_id, "restart", new_instance_id=False) == instance_id
    assert wait_status(durable, instance_id, RuntimeStatus.COMPLETED).output == first.output
    running = ticking(durable)
    with pytest.raises(AzureComputeRemoteError, match=r"cannot restart .* it is Running"):
        act(running, "restart", new_instance_id=False)
    durable.terminate(running)


@pytest.mark.parametrize("deferrable", [True, False])
def test_sensor_waits_for_a_custom_status(durable: DurableHook, deferrable: bool) -> None:
    instance_id = ticking(durable, pause_s=1.0)  # each customStatus holds for a second
    sensor = DurableOrchestrationSensor(
        task_id="stage", instance_id=instance_id, until_custom_status={"ticks": 3}, poke_interval=0.05,
        deferrable=deferrable, cleanup="delete",
    )  # fmt: skip
    assert execute(sensor, context_for(FakeTI(task_id="stage"))) == {"ticks": 3}
    status = durable.get_status(instance_id)
    assert status is not None and status.runtime_status is RuntimeStatus.RUNNING  # still running, not purged
    durable.terminate(instance_id)


def test_sensor_fails_when_the_instance_ends_before_the_custom_status(durable: DurableHook) -> None:
    instance_id = ticking(durable, ticks=2)
    sensor = DurableOrchestrationSensor(
        task_id="never", instance_id=instance_id, until_custom_status={"ticks": 99}, poke_interval=0.05
    )
    with pytest.raises(
        RemoteWorkFailedError, match=r"ended Completed before its customStatus matched \{\"ticks\": 99\}"
    ):
        execute(sensor, context_for(FakeTI(task_id="never")))


def start_op(task_id: str) -> DurableStartOrchestrationOperator:
    return DurableStartOrchestrationOperator(
        task_id=task_id, orchestrator="ticking_orchestrator", input={"ticks": 400, "pause_s": 0.05},
        wait_for_completion=True, poll_interval=0.1, deferrable=True,
    )  # fmt: skip


def test_start_and_wait_starts_in_the_trigger_and_a_kill_terminates(durable: DurableHook) -> None:
    ti = FakeTI(task_id="started-late", run_id=f"kill-{uuid.uuid4().hex[:6]}")
    deferred = expect_deferred(lambda: start_op("started-late").execute(context_for(ti)))
    instance_id = ti.xcom["instance_id"]
    assert durable.get_status(instance_id) is None  # killed at deferral: nothing was started
    trigger = rebuild(deferred.trigger)

    async def kill(at_once: bool) -> None:
        task = asyncio.ensure_future(first_event(trigger))
        if at_once:
            await asyncio.sleep(0)
        else:
            while (await asyncio.to_thread(durable.get_status, instance_id)) is None:
                await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await trigger.on_kill()

    asyncio.run(kill(at_once=False))
    assert durable.get_status(instance_id).runtime_status is RuntimeStatus.TERMINATED  # type: ignore[union-attr]
    durable.purge(instance_id)
    asyncio.run(kill(at_once=True))  # killed while the start request may still be in flight
    status = durable.get_status(instance_id)
    assert status is None or status.runtime_status is RuntimeStatus.TERMINATED


def test_purge_every_instance_this_run_started(durable: DurableHook) -> None:
    run, other = f"purge-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    started = {}
    for task_id, run_id in (("a", run), ("b", run), ("a", other)):
        ti = FakeTI(task_id=task_id, run_id=run_id)
        op = DurableStartOrchestrationOperator(
            task_id=task_id, orchestrator="ticking_orchestrator", input={"ticks": 400, "pause_s": 0.05}
        )
        started[(task_id, run_id)] = op.execute(context_for(ti))
    purge = DurablePurgeOrchestrationOperator(task_id="purge", created_by_this_run=True, terminate=True)
    purged = purge.execute(context_for(FakeTI(task_id="purge", run_id=run)))
    assert sorted(purged) == sorted([started[("a", run)], started[("b", run)]])
    assert durable.get_status(started[("a", run)]) is None
    assert durable.get_status(started[("a", other)]) is not None  # another run's instance is untouched
    durable.terminate(started[("a", other)])
    json.dumps(purged)
