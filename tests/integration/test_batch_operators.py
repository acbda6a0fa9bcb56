"""Pool, fan-out, sensor and cleanup operators against the emulator and Azurite (real SDKs over HTTP).

Only the Airflow task instance is a stand-in (``FakeTI``); tests/e2e runs the same operators in DAGs.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from airflow_azure_compute.exceptions import (
    AzureComputeConfigError,
    AzureComputeRemoteError,
    BatchTasksFailedError,
    DeadlineExceededError,
)
from airflow_azure_compute.hooks.batch import BatchHook
from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.sensors.batch import BatchJobSensor
from airflow_azure_compute.triggers.batch import BatchJobCompleteTrigger
from tests.integration._batch_env import POOL_BASE, fresh, set_faults
from tests.integration.ops_support import FakeTI, context_for, execute, expect_deferred, first_event, rebuild

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pool_id(batch_env: dict[str, Any]) -> str:
    """One pool with 2 nodes x 4 slots for the module (created through the operator, deferred wait)."""
    pid = fresh("pool")
    op = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={**POOL_BASE, "pool_id": pid, "dedicated_nodes": 2, "task_slots_per_node": 4},
        min_ready_nodes=2,
        poll_interval=0.2,
    )
    ti = FakeTI(task_id="pool")
    assert execute(op, context_for(ti)) == {"pool_id": pid, "created": True}
    assert ti.xcom["azure_batch_pool"]["pool_id"] == pid
    return pid


def _ctx(task_id: str, run_id: str | None = None) -> tuple[FakeTI, dict[str, Any]]:
    ti = FakeTI(task_id=task_id, run_id=run_id or fresh("run"))
    return ti, context_for(ti)


def test_pool_reuse_fail_and_differences(pool_id: str) -> None:
    spec = {**POOL_BASE, "pool_id": pool_id, "dedicated_nodes": 2, "task_slots_per_node": 4}
    _, ctx = _ctx("pool")
    reuse = BatchEnsurePoolOperator(task_id="pool", pool_spec=spec, min_ready_nodes=1)
    assert reuse.execute(ctx) == {"pool_id": pool_id, "created": False}  # ready: no deferral
    differs = BatchEnsurePoolOperator(task_id="pool", pool_spec={**spec, "vm_size": "standard_e4s_v5"})
    with pytest.raises(AzureComputeConfigError, match="vm_size: spec has 'standard_e4s_v5'"):
        differs.execute(ctx)
    fail = BatchEnsurePoolOperator(task_id="pool", pool_spec=spec, if_exists="fail")
    with pytest.raises(AzureComputeRemoteError) as info:
        fail.execute(ctx)
    assert info.value.code == "PoolExists"


def test_pool_start_task_failure_fails_the_wait(batch_env: dict[str, Any]) -> None:
    pid = fresh("pool")
    op = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={
            **POOL_BASE,
            "pool_id": pid,
            "dedicated_nodes": 1,
            "start_task": {"command_line": "/bin/sh -c 'echo broken >&2; exit 3'", "wait_for_success": True},
        },
        min_ready_nodes=1,
        poll_interval=0.2,
    )
    _, ctx = _ctx("pool")
    with pytest.raises(AzureComputeRemoteError, match="starttaskfailed"):
        execute(op, ctx)
    BatchHook().delete_pool(pid)


def test_bad_input_fails_before_any_call(pool_id: str) -> None:
    _, ctx = _ctx("fan")
    bad_manifest = BatchRunTasksOperator(task_id="fan", job={"pool_id": pool_id}, manifest="[not json")
    with pytest.raises(AzureComputeConfigError, match="not valid JSON"):
        bad_manifest.execute(ctx)
    missing = BatchRunTasksOperator(
        task_id="fan",
        job={"pool_id": pool_id},
        items=["a"],
        command_line="cat {chunk}",
        input_container="nope-missing",
    )
    with pytest.raises(AzureComputeConfigError, match="does not exist"):
        missing.execute(ctx)
    empty = BatchRunTasksOperator(task_id="fan", job={"pool_id": pool_id}, items=[], command_line="x")
    with pytest.raises(AzureComputeConfigError, match="no tasks"):
        empty.execute(ctx)


def test_retry_after_worker_died_mid_fanout_adds_only_missing(pool_id: str) -> None:
    ti, ctx = _ctx("fan")
    op = BatchRunTasksOperator(
        task_id="fan",
        job={"pool_id": pool_id},
        items=[f"item{i}" for i in range(250)],
        command_line="/bin/true",
    )
    # The first try died after submitting two of its three batches: replay exactly that part.
    spec, tasks, prefix, *_ = op.plan(ctx)
    hook = BatchHook()
    from airflow_azure_compute.operators.batch_job import ensure_job

    job_id, owned = ensure_job(hook, spec, ctx)
    assert owned
    hook.create_tasks(job_id, [t.to_wire() for t in tasks[:200]])
    # The retry (same dag/run/task, next try number) adds only the missing 50.
    ti.try_number = 2
    out = op.execute(ctx)
    assert (out["job_id"], out["task_id_prefix"], out["task_count"]) == (job_id, prefix, 250)
    assert (out["submitted"], out["existed"]) == (50, 200)
    ids = hook.list_task_ids(job_id)
    assert len(ids) == 250 and ids == {t.task_id for t in tasks}
    hook.terminate_job(job_id)


def test_failures_forensics_and_policies(pool_id: str) -> None:
    ti, ctx = _ctx("fan")
    cmd = "/bin/sh -c 'echo out-{index}; if [ {index} -ge 8 ]; then echo boom-{index} >&2; exit 7; fi'"
    fan = BatchRunTasksOperator(
        task_id="fan", job={"pool_id": pool_id}, items=list(range(10)), command_line=cmd
    )
    out = fan.execute(ctx)
    common = {"job_id": out["job_id"], "task_id_prefix": out["task_id_prefix"], "expected_tasks": 10}

    # run-all: waits for every task, then fails naming both failures with their stderr.
    _, sctx = _ctx("wait", ti.run_id)
    sensor = BatchJobSensor(task_id="wait", failure_policy="run_all", poke_interval=0.3, **common)
    with pytest.raises(BatchTasksFailedError) as info:
        execute(sensor, sctx)
    err = info.value
    assert sorted(err.failed_task_ids) == [f"{out['task_id_prefix']}00008", f"{out['task_id_prefix']}00009"]
    assert "exit 7" in str(err) and "boom-8" in str(err) and "FailureExitCode" in str(err)

    # tolerate 20 %: the same job passes and reports which tasks failed (now done: no deferral).
    tolerant = BatchJobSensor(task_id="wait", failure_policy="tolerate", tolerate_percent=20, **common)
    result = tolerant.execute(sctx)
    assert result["counts"]["failed"] == 2 and len(result["failed_task_ids"]) == 2
    # tolerate 10 %: fails.
    strict = BatchJobSensor(task_id="wait", failure_policy="tolerate", tolerate_percent=10, **common)
    with pytest.raises(BatchTasksFailedError):
        strict.execute(sctx)
    # prefix scope gives the same answer through a filtered list.
    scoped = BatchJobSensor(
        task_id="wait", scope="prefix", failure_policy="tolerate", tolerate_percent=20, **common
    )
    assert scoped.execute(sctx)["counts"]["failed"] == 2


def test_kill_while_deferred_terminates_tasks(pool_id: str) -> None:
    _, ctx = _ctx("fan")
    fan = BatchRunTasksOperator(
        task_id="fan", job={"pool_id": pool_id}, items=list(range(6)), command_line="/bin/sh -c 'sleep 60'"
    )
    out = fan.execute(ctx)
    sensor = BatchJobSensor(
        task_id="wait",
        job_id=out["job_id"],
        task_id_prefix=out["task_id_prefix"],
        expected_tasks=6,
        owns_job=False,
        poke_interval=0.2,
    )
    deferred = expect_deferred(lambda: sensor.execute(ctx))
    trigger = rebuild(deferred.trigger)
    assert isinstance(trigger, BatchJobCompleteTrigger)

    async def kill_after_a_poll() -> None:
        agen = trigger.run()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(agen.__anext__(), 1.0)  # still running: no event yet
        await agen.aclose()
        await trigger.on_kill()

    asyncio.run(kill_after_a_poll())
    hook = BatchHook()
    counts = hook.get_task_counts(out["job_id"])
    assert counts.active == 0 and counts.running == 0 and counts.completed == 6


def _sleeping_fanout(pool_id: str, task_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fan-out whose job this run creates (``owns_job``), of tasks that run for a minute."""
    _, ctx = _ctx(task_id)
    out = BatchRunTasksOperator(
        task_id=task_id, job={"pool_id": pool_id}, items=list(range(4)), command_line="/bin/sh -c 'sleep 60'"
    ).execute(ctx)
    assert out["owns_job"] is True
    return out, ctx


def _until(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _running(job_id: str) -> bool:
    return BatchHook().get_task_counts(job_id).running > 0


def _stopped(job_id: str) -> bool:
    hook = BatchHook()
    counts = hook.get_task_counts(job_id)
    job = hook.get_job(job_id) or {}
    return counts.active == 0 and counts.running == 0 and job.get("state") in ("terminating", "completed")


def test_kill_of_a_deferred_wait_on_an_owned_job_terminates_the_job(pool_id: str) -> None:
    out, ctx = _sleeping_fanout(pool_id, "owned")
    sensor = BatchJobSensor(task_id="wait", fanout=out, poke_interval=0.2)
    trigger = rebuild(expect_deferred(lambda: sensor.execute(ctx)).trigger)
    assert isinstance(trigger, BatchJobCompleteTrigger) and trigger.owns_job and trigger.terminate_on_kill
    _until(lambda: _running(out["job_id"]), "the job's tasks never started")

    async def kill_while_waiting() -> None:
        agen = trigger.run()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(agen.__anext__(), 1.0)  # still running: no event yet
        await agen.aclose()
        await trigger.on_kill()

    asyncio.run(kill_while_waiting())
    _until(lambda: _stopped(out["job_id"]), "the job's tasks kept running after the kill")
    job = BatchHook().get_job(out["job_id"]) or {}
    assert job.get("executionInfo", {}).get("terminateReason") in (None, "AirflowTaskKilled")


def test_terminate_on_kill_false_leaves_the_job_running(pool_id: str) -> None:
    out, ctx = _sleeping_fanout(pool_id, "kept")
    sensor = BatchJobSensor(task_id="wait", fanout=out, poke_interval=0.2, terminate_on_kill=False)
    trigger = rebuild(expect_deferred(lambda: sensor.execute(ctx)).trigger)
    assert isinstance(trigger, BatchJobCompleteTrigger) and not trigger.terminate_on_kill
    _until(lambda: _running(out["job_id"]), "the job's tasks never started")
    asyncio.run(trigger.on_kill())
    sensor.on_kill()
    hook = BatchHook()
    try:
        assert hook.get_task_counts(out["job_id"]).running > 0
        assert (hook.get_job(out["job_id"]) or {}).get("state") == "active"
    finally:
        hook.terminate_job(out["job_id"], "test cleanup")


def test_a_wait_that_times_out_terminates_the_owned_job(pool_id: str) -> None:
    out, ctx = _sleeping_fanout(pool_id, "timeout")
    sensor = BatchJobSensor(task_id="wait", fanout=out, poke_interval=0.2, timeout=2)
    trigger = rebuild(expect_deferred(lambda: sensor.execute(ctx)).trigger)
    event = asyncio.run(first_event(trigger))
    assert event["status"] == "timeout"
    with pytest.raises(DeadlineExceededError):
        sensor.execute_complete(ctx, event)
    _until(lambda: _stopped(out["job_id"]), "the job's tasks kept running after the timeout")


@pytest.mark.parametrize("soft_fail", [False, True])
def test_a_trigger_timed_out_by_airflow_terminates_the_owned_job(pool_id: str, soft_fail: bool) -> None:
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
    from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException

    out, ctx = _sleeping_fanout(pool_id, f"deferral-timeout-{soft_fail}")
    sensor = BatchJobSensor(task_id="wait", fanout=out, poke_interval=0.2, soft_fail=soft_fail)
    expect_deferred(lambda: sensor.execute(ctx))
    # What the task runner calls when the scheduler failed the deferred task for its trigger timeout.
    fail = {"error": TriggerFailureReason.TRIGGER_TIMEOUT}
    with pytest.raises(AirflowSkipException if soft_fail else AirflowSensorTimeout):
        sensor.resume_execution(TRIGGER_FAIL_REPR, fail, ctx)
    _until(lambda: _stopped(out["job_id"]), "the job's tasks kept running after the trigger timeout")


def test_a_poking_wait_that_times_out_terminates_the_owned_job(pool_id: str) -> None:
    from airflow.sdk.exceptions import AirflowSensorTimeout

    out, ctx = _sleeping_fanout(pool_id, "poke-timeout")
    sensor = BatchJobSensor(task_id="wait", fanout=out, poke_interval=0.2, timeout=1, deferrable=False)
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute(ctx)
    _until(lambda: _stopped(out["job_id"]), "the job's tasks kept running after the poking timeout")


def test_trigger_rides_through_503s(batch_env: dict[str, Any], pool_id: str) -> None:
    _, ctx = _ctx("fan")
    out = BatchRunTasksOperator(
        task_id="fan", job={"pool_id": pool_id}, items=list(range(8)), command_line="/bin/true"
    ).execute(ctx)
    trigger = BatchJobCompleteTrigger(
        job_id=out["job_id"],
        conn_id="azure_compute_batch_default",
        deadline=9e9,
        poll_interval=0.1,
        expected_tasks=8,
    )
    set_faults(batch_env, error_rate=0.10, seed=3)
    try:
        event = asyncio.run(first_event(trigger, timeout=60))
    finally:
        set_faults(batch_env)
    assert event["status"] == "success" and event["counts"]["succeeded"] == 8


def test_cleanup_deletes_only_what_the_run_created(pool_id: str) -> None:
    ti, ctx = _ctx("fan")
    out = BatchRunTasksOperator(
        task_id="fan", job={"pool_id": pool_id}, items=[1], command_line="/bin/true"
    ).execute(ctx)
    hook = BatchHook()
    _, other_run = _ctx("cleanup")  # another run: must keep everything
    kept = BatchCleanupOperator(task_id="cleanup", fanout_task_ids=["fan"], pool_ids=[pool_id]).execute(
        other_run
    )
    assert kept["deleted"] == []
    cleanup_ti = FakeTI(task_id="cleanup", run_id=ti.run_id)
    done = BatchCleanupOperator(task_id="cleanup", fanout_task_ids=["fan"], pool_ids=[pool_id]).execute(
        context_for(cleanup_ti)
    )
    # The job, and the run's workspace outputs container the fan-out created; the pool was created by
    # another run: kept.
    assert done["deleted"] == [f"job:{out['job_id']}", f"container:{out['output_container']}"]
    assert out["output_container"] == out["workspace"]["output_container"]
    assert done["kept"] == [f"pool:{pool_id}"]
    job = hook.get_job(out["job_id"])
    assert job is None or job.get("state") == "deleting"


def test_pool_with_registry_credentials_and_mounts(
    batch_env: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Registry login from a connection and a blob mount SAS reach the pool body; XCom holds no secret,
    and the pool's answer holds neither (Azure leaves them out)."""
    from airflow_azure_compute.hooks.blob import BlobHook

    secret = "registry-s3cret-value"
    monkeypatch.setenv(
        "AIRFLOW_CONN_ACR_PULL", json.dumps({"conn_type": "generic", "login": "puller", "password": secret})
    )
    mount = fresh("mount")
    BlobHook().create_container(mount)
    pid = fresh("pool")
    spec = {
        **POOL_BASE,
        "pool_id": pid,
        "dedicated_nodes": 0,
        "container": {
            "images": ["myacr.io/app:1"],
            "registry_server": "myacr.io",
            "registry_conn_id": "acr_pull",
        },
        "mounts": [{"container_name": mount, "relative_mount_path": "ref"}],
    }
    ti, ctx = _ctx("pool")
    op = BatchEnsurePoolOperator(task_id="pool", pool_spec=spec, min_ready_nodes=0)
    assert op.execute(ctx) == {"pool_id": pid, "created": True}
    sent = op.create_body(op.spec(), ctx)  # what execute sends: the secrets are in the create body
    sent_registry = sent["virtualMachineConfiguration"]["containerConfiguration"]["containerRegistries"][0]
    assert sent_registry["password"] == secret
    assert "sp=rl" in sent["mountConfiguration"][0]["azureBlobFileSystemConfiguration"]["sasKey"]
    pool = BatchHook().get_pool(pid) or {}
    registry = pool["virtualMachineConfiguration"]["containerConfiguration"]["containerRegistries"][0]
    assert registry == {"registryServer": "myacr.io", "username": "puller"}
    mount_cfg = pool["mountConfiguration"][0]["azureBlobFileSystemConfiguration"]
    assert mount_cfg["containerName"] == mount and "sasKey" not in mount_cfg
    assert {m["name"]: m["value"] for m in pool["metadata"]}["airflow_run_id"] == ti.run_id
    assert secret not in json.dumps(ti.xcom) and secret not in json.dumps(op.pool_spec)
    missing = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={
            **spec,
            "pool_id": fresh("pool"),
            "mounts": [{"container_name": "no-such-container", "relative_mount_path": "x"}],
        },
    )
    with pytest.raises(AzureComputeConfigError, match="does not exist"):
        missing.execute(ctx)
    BatchHook().delete_pool(pid)


def test_sensor_on_the_worker_when_not_deferrable(pool_id: str) -> None:
    _, ctx = _ctx("fan")
    out = BatchRunTasksOperator(
        task_id="fan", job={"pool_id": pool_id}, items=list(range(3)), command_line="/bin/true"
    ).execute(ctx)
    sensor = BatchJobSensor(
        task_id="wait",
        job_id=out["job_id"],
        expected_tasks=3,
        deferrable=False,
        poke_interval=0.2,
        timeout=60,
    )
    result = sensor.execute(ctx)
    assert result["counts"]["succeeded"] == 3 and result["failed_task_ids"] == []


def test_job_operator_create_reuse_and_wrong_pool(pool_id: str) -> None:
    from airflow_azure_compute.operators.batch_job import BatchEnsureJobOperator

    job_id = fresh("job")
    spec = {
        "pool_id": pool_id,
        "job_id": job_id,
        "max_task_retries": 2,
        "max_wall_clock_seconds": 600,
        "preparation_task": {"command_line": "/bin/true"},
        "release_task": {"command_line": "/bin/true"},
        "environment": {"MODE": "test"},
    }
    ti, ctx = _ctx("job")
    assert BatchEnsureJobOperator(task_id="job", job=spec).execute(ctx) == {
        "job_id": job_id,
        "owned": True,
        "pool_id": pool_id,
    }
    job = BatchHook().get_job(job_id) or {}
    assert job["constraints"]["maxTaskRetryCount"] == 2
    assert job["commonEnvironmentSettings"] == [{"name": "MODE", "value": "test"}]
    assert ti.xcom["azure_batch_job"]["job_id"] == job_id
    _, other = _ctx("job")  # another run reuses it without owning it
    assert BatchEnsureJobOperator(task_id="job", job=spec).execute(other)["owned"] is False
    with pytest.raises(AzureComputeConfigError, match="exists on pool"):
        BatchEnsureJobOperator(task_id="job", job={**spec, "pool_id": "another-pool"}).execute(ctx)
    BatchHook().terminate_job(job_id)


def test_pool_recreate_replaces_a_different_pool(batch_env: dict[str, Any]) -> None:
    pid = fresh("pool")
    _, ctx = _ctx("pool")
    first = {**POOL_BASE, "pool_id": pid, "dedicated_nodes": 0}
    BatchEnsurePoolOperator(task_id="pool", pool_spec=first, min_ready_nodes=0).execute(ctx)
    changed = {**first, "vm_size": "standard_e2s_v5", "task_slots_per_node": 2}
    out = BatchEnsurePoolOperator(
        task_id="pool", pool_spec=changed, if_exists="recreate", min_ready_nodes=0
    ).execute(ctx)
    assert out == {"pool_id": pid, "created": True}
    pool = BatchHook().get_pool(pid) or {}
    assert pool["vmSize"].lower() == "standard_e2s_v5" and pool["taskSlotsPerNode"] == 2
    BatchHook().delete_pool(pid)


def test_mapped_fanouts_get_their_own_prefix_in_a_shared_job(pool_id: str) -> None:
    """``.expand()``: each map index has its own task-id prefix; a shared job is waited on by prefix."""
    job_id = fresh("job")
    run_id = fresh("run")
    outs = []
    for map_index in (1, 2):
        ti = FakeTI(task_id="fan", run_id=run_id, map_index=map_index)
        op = BatchRunTasksOperator(
            task_id="fan",
            job={"pool_id": pool_id, "job_id": job_id},
            items=[map_index],
            command_line="/bin/true",
        )
        outs.append(op.execute(context_for(ti)))
    assert outs[0]["task_id_prefix"] != outs[1]["task_id_prefix"]
    assert [o["owns_job"] for o in outs] == [True, True]  # same dag run created the shared job
    _, ctx = _ctx("wait", run_id)
    for out in outs:
        sensor = BatchJobSensor(
            task_id="wait",
            job_id=job_id,
            task_id_prefix=out["task_id_prefix"],
            expected_tasks=1,
            scope="prefix",
            poke_interval=0.2,
        )
        assert execute(sensor, ctx)["counts"]["succeeded"] == 1


def test_a_fanout_above_1000_tasks_has_the_same_shape_and_its_consumers_work(pool_id: str) -> None:
    """1,001 tasks: the result has the shape of a 3-task fan-out (never an empty id list); the sensor,
    the merge (each task's result back in order, through XCom) and the cleanup all handle it."""
    from airflow_azure_compute.hooks.blob import BlobHook
    from airflow_azure_compute.operators.blob_merge import BlobMergeOperator
    from airflow_azure_compute.specs import task_id_for

    n = 1001
    run_id = fresh("run")

    def fanout(items: list[int], task_id: str) -> dict[str, Any]:
        op = BatchRunTasksOperator(
            task_id=task_id, job={"pool_id": pool_id}, items=items, output_pattern="out/*",
            command_line="/bin/sh -c 'mkdir -p out && echo {item} > out/r.txt'",
        )  # fmt: skip
        return op.execute(context_for(FakeTI(task_id=task_id, run_id=run_id)))

    small, big = fanout([0, 1, 2], "small"), fanout(list(range(n)), "big")
    assert set(small) == set(big) and "task_ids" not in big
    assert big["task_count"] == big["submitted"] == n and big["output_prefix"] == "outputs/"
    assert BatchHook().list_task_ids(big["job_id"]) >= {task_id_for(big["task_id_prefix"], n - 1, n)}

    _, ctx = _ctx("wait", run_id)
    sensor = BatchJobSensor(task_id="wait", fanout=big, poke_interval=0.5, deferrable=False)
    assert execute(sensor, ctx)["counts"]["succeeded"] == n

    merged = BlobMergeOperator(task_id="merge", fanout=big, xcom_content="shards").execute(
        _ctx("merge", run_id)[1]
    )
    assert merged["shards"] == n and merged["content"] == [f"{i}\n" for i in range(n)]

    _, cleanup_ctx = _ctx("cleanup", run_id)
    done = BatchCleanupOperator(task_id="cleanup", fanout_task_ids=["small", "big"]).execute(cleanup_ctx)
    assert {f"job:{small['job_id']}", f"job:{big['job_id']}"} <= set(done["deleted"])
    assert f"container:{big['output_container']}" in done["deleted"]
    assert not BlobHook().container_exists(big["output_container"])


def test_an_empty_mapped_item_list_fails_before_anything_is_created(pool_id: str) -> None:
    from airflow_azure_compute.hooks.blob import BlobHook
    from airflow_azure_compute.operators.batch_job import job_id_for
    from airflow_azure_compute.specs import JobSpec
    from airflow_azure_compute.workspace import RunWorkspace

    ti = FakeTI(task_id="fan", run_id=fresh("run"), map_index=1)
    op = BatchRunTasksOperator(task_id="fan", job={"pool_id": pool_id}, items=[], command_line="/bin/true")
    with pytest.raises(AzureComputeConfigError, match=r"^items: no tasks: the item list is empty"):
        op.execute(context_for(ti))
    assert BatchHook().get_job(job_id_for(JobSpec(pool_id=pool_id), context_for(ti))) is None
    assert not BlobHook().container_exists(RunWorkspace.for_ti(ti).output_container)


def test_cleanup_without_a_blob_connection_still_cleans_batch(pool_id: str) -> None:
    """A Batch-only DAG has no Blob connection and so no workspace: the cleanup still does its job."""
    _, ctx = _ctx("cleanup")
    op = BatchCleanupOperator(task_id="cleanup", pool_ids=[pool_id], blob_conn_id="no_such_blob_connection")
    assert op.execute(ctx) == {"deleted": [], "kept": [f"pool:{pool_id}"]}
    with pytest.raises(Exception, match="no_such_blob_connection"):
        BatchCleanupOperator(
            task_id="cleanup", containers=["named"], blob_conn_id="no_such_blob_connection"
        ).execute(ctx)
