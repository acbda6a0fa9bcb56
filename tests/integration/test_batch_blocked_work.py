"""Blocked work ends a Batch wait at once: failed dependencies, a missing or empty pool, an ended job.

Real SDKs against the Batch emulator (which blocks dependents of a failed task and honours
``dependencyAction`` / ``onTaskFailure`` as Batch does).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_azure_compute.exceptions import AzureComputeRemoteError, BatchTasksFailedError
from airflow_azure_compute.hooks.batch import BatchAsyncHook, BatchHook
from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.sensors.batch import BatchJobSensor
from airflow_azure_compute.states import TaskCounts
from airflow_azure_compute.triggers.batch import BatchJobCompleteTrigger
from tests.integration._batch_env import POOL_BASE, fresh
from tests.integration.ops_support import FakeTI, context_for, execute

pytestmark = pytest.mark.integration

FAIL = "/bin/sh -c 'echo broken >&2; exit 3'"
OK = "/bin/sh -c 'echo fine'"


@pytest.fixture(scope="module")
def pool_id(batch_env: dict[str, Any]) -> str:
    pid = fresh("pool")
    op = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={**POOL_BASE, "pool_id": pid, "dedicated_nodes": 1, "task_slots_per_node": 4},
        poll_interval=0.2,
    )
    execute(op, context_for(FakeTI(task_id="pool")))
    return pid


def _ctx(task_id: str, run_id: str) -> dict[str, Any]:
    return context_for(FakeTI(task_id=task_id, run_id=run_id))


def _wait_for(condition: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _manifest_fanout(pool_id: str, manifest: list[dict[str, Any]], run_id: str, **job: Any) -> dict[str, Any]:
    fan = BatchRunTasksOperator(task_id="fan", job={"pool_id": pool_id, **job}, manifest=manifest)
    return fan.execute(_ctx("fan", run_id))  # type: ignore[no-any-return]


def test_failed_manifest_step_ends_the_wait_at_the_next_poll(pool_id: str) -> None:
    run_id = fresh("run")
    manifest = [
        {"name": "extract", "command_line": FAIL},
        {"name": "transform", "command_line": OK, "depends_on": ["extract"]},
        {"name": "load", "command_line": OK, "depends_on": ["transform"]},
        {"name": "side", "command_line": OK},
    ]
    out = _manifest_fanout(pool_id, manifest, run_id)
    job_id, prefix = out["job_id"], out["task_id_prefix"]
    hook = BatchHook()
    # The emulator keeps the dependents blocked, as Batch does: active, never running.
    counts = _wait_for(
        lambda: (c := hook.get_task_counts(job_id)).completed == 2 and c.running == 0 and c,
        "the failed step and the independent one to complete",
    )
    assert (counts.active, counts.failed, counts.succeeded) == (2, 1, 1)

    # The trigger ends at its very next poll (well within two poll intervals), naming the blockers.
    trigger = BatchJobCompleteTrigger(
        job_id=job_id,
        conn_id="azure_compute_batch_default",
        deadline=time.time() + 3600,
        poll_interval=60.0,
        task_id_prefix=prefix,
        expected_tasks=4,
        failure_policy="run_all",
    )

    async def one_poll() -> dict[str, Any] | None:
        async_hook = BatchAsyncHook()
        async with async_hook.client() as client:
            return await trigger.poll(async_hook, client)

    event = asyncio.run(one_poll())
    assert event is not None and event["status"] == "failed"
    assert f"blocked by failed dependencies {prefix}00000" in event["message"]
    assert f"{prefix}00001" in event["message"] and f"{prefix}00002" in event["message"]
    assert [f["id"] for f in event["failed_tasks"]] == [f"{prefix}00000"]

    # The sensor, deferred under run_all, fails with the same story instead of waiting for its timeout.
    sensor = BatchJobSensor(
        task_id="wait",
        job_id=job_id,
        task_id_prefix=prefix,
        expected_tasks=4,
        failure_policy="run_all",
        poke_interval=0.5,
        timeout=3600,
    )
    with pytest.raises(BatchTasksFailedError, match="2 task\\(s\\) can never run") as info:
        execute(sensor, _ctx("wait", run_id))
    assert "broken" in str(info.value)  # the blocker's stderr, from the forensics
    # Tolerating 75 % (1 failed + 2 never run = 3 of 4) reports and ends without failing.
    tolerant = BatchJobSensor(
        task_id="wait", job_id=job_id, expected_tasks=4, failure_policy="tolerate", tolerate_percent=75
    )
    assert tolerant.execute(_ctx("wait", run_id))["counts"]["failed"] == 1
    hook.terminate_job(job_id)


def test_dependency_action_satisfy_lets_dependents_run(pool_id: str) -> None:
    run_id = fresh("run")
    manifest = [
        {"name": "optional", "command_line": FAIL, "failure_dependency_action": "satisfy"},
        {"name": "after", "command_line": OK, "depends_on": ["optional"]},
    ]
    out = _manifest_fanout(pool_id, manifest, run_id)
    sensor = BatchJobSensor(
        task_id="wait",
        job_id=out["job_id"],
        expected_tasks=2,
        failure_policy="tolerate",
        tolerate_percent=50,
        poke_interval=0.3,
    )
    result = execute(sensor, _ctx("wait", run_id))
    assert result["counts"] == {"active": 0, "running": 0, "completed": 2, "succeeded": 1, "failed": 1}
    BatchHook().terminate_job(out["job_id"])


def test_on_task_failure_terminates_the_job_and_ends_the_wait(pool_id: str) -> None:
    run_id = fresh("run")
    manifest = [
        {"name": "first", "command_line": FAIL},
        {"name": "second", "command_line": OK, "depends_on": ["first"]},
    ]
    out = _manifest_fanout(pool_id, manifest, run_id, on_task_failure="performexitoptionsjobaction")
    job = BatchHook().get_job(out["job_id"])
    assert job is not None and job["onTaskFailure"] == "performexitoptionsjobaction"
    sensor = BatchJobSensor(
        task_id="wait", job_id=out["job_id"], expected_tasks=2, failure_policy="run_all", poke_interval=0.3
    )
    with pytest.raises(BatchTasksFailedError):
        execute(sensor, _ctx("wait", run_id))


def _job_with_one_task(pool: str) -> str:
    hook = BatchHook()
    job_id = fresh("job")
    assert hook.create_job({"id": job_id, "poolInfo": {"poolId": pool}})
    result = hook.create_tasks(job_id, [{"id": "t1", "commandLine": OK}])
    assert result.added == 1
    return job_id


def test_job_on_a_pool_that_does_not_exist(batch_env: dict[str, Any]) -> None:
    missing = fresh("nopool")
    job_id = _job_with_one_task(missing)
    sensor = BatchJobSensor(task_id="wait", job_id=job_id, poke_interval=0.3, timeout=3600)
    with pytest.raises(BatchTasksFailedError, match=f"pool {missing} of job {job_id} does not exist"):
        execute(sensor, _ctx("wait", fresh("run")))
    BatchHook().terminate_job(job_id)


def test_pool_with_zero_nodes_and_no_autoscale(batch_env: dict[str, Any]) -> None:
    pid = fresh("pool")
    hook = BatchHook()
    execute(
        BatchEnsurePoolOperator(
            task_id="pool", pool_spec={**POOL_BASE, "pool_id": pid, "dedicated_nodes": 0}, min_ready_nodes=0
        ),
        _ctx("pool", fresh("run")),
    )
    _wait_for(lambda: (hook.get_pool(pid) or {}).get("allocationState") == "steady", "a steady pool")
    job_id = _job_with_one_task(pid)
    sensor = BatchJobSensor(task_id="wait", job_id=job_id, poke_interval=0.3, deferrable=False, timeout=3600)
    with pytest.raises(
        BatchTasksFailedError, match=f"pool {pid} of job {job_id} has zero nodes and no autoscale"
    ):
        execute(sensor, _ctx("wait", fresh("run")))
    hook.terminate_job(job_id)
    hook.delete_pool(pid)


def test_running_work_is_never_called_blocked(pool_id: str) -> None:
    """While a task runs (or could), the poll stays one request and the wait goes on."""
    hook = BatchHook()
    assert hook.find_blockage("any-job", TaskCounts(active=3, running=1)) is None
    assert hook.find_blockage("any-job", TaskCounts(completed=3, succeeded=3)) is None


def test_sensor_on_a_deleted_job_names_it(batch_env: dict[str, Any]) -> None:
    sensor = BatchJobSensor(task_id="wait", job_id=fresh("gone"), poke_interval=0.3)
    with pytest.raises(AzureComputeRemoteError, match=r"does not exist .* check job_id"):
        sensor.execute(_ctx("wait", fresh("run")))
