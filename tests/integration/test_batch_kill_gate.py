"""The kill race of the Batch operators, against the emulator and Azurite.

A task marked failed after it deferred but before the triggerer ran its trigger gets no ``on_kill``
anywhere: Airflow deletes the trigger unrun. The Python map and the multi-instance operator therefore
hold their job (disabled) while they add its tasks, and the trigger's first poll releases it: if the
trigger never runs, no task ever starts. A sensor waiting on a fan-out's job did not create the work;
the DAG's teardown (`BatchCleanupOperator`) removes it. The multi-instance operator's own timeouts stop
its job like the map's.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_azure_compute.exceptions import AzureComputeRemoteError, DeadlineExceededError
from airflow_azure_compute.hooks.batch import BatchHook
from airflow_azure_compute.operators._batch_work import BatchWork
from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.operators.batch_mpi import BatchRunMultiInstanceTaskOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.operators.batch_python import BatchMapOperator
from airflow_azure_compute.python_results import MapResults
from airflow_azure_compute.sensors.batch import BatchJobSensor
from tests.integration._batch_env import POOL_BASE, fresh
from tests.integration.ops_support import (
    FakeTI,
    context_for,
    execute,
    expect_deferred,
    first_event,
    rebuild,
    run_deferred,
)

pytestmark = pytest.mark.integration


def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _make_pool(spec: dict[str, Any], nodes: int) -> str:
    op = BatchEnsurePoolOperator(task_id="pool", pool_spec=spec, min_ready_nodes=nodes, poll_interval=0.2)
    execute(op, context_for(FakeTI(task_id="pool", run_id=fresh("run"))))
    return str(spec["pool_id"])


@pytest.fixture(scope="module")
def py_pool(batch_env: dict[str, Any]) -> str:
    pool_id = fresh("gatepool")
    python = "{}.{}".format(*sys.version_info[:2])
    spec = {**POOL_BASE, "pool_id": pool_id, "dedicated_nodes": 1, "task_slots_per_node": 8}
    return _make_pool({**spec, "metadata": {"python_version": python}}, 1)


@pytest.fixture(scope="module")
def mpi_pool(batch_env: dict[str, Any]) -> str:
    pool_id = fresh("gatempi")
    spec = {**POOL_BASE, "pool_id": pool_id, "dedicated_nodes": 2, "inter_node_communication": True}
    return _make_pool(spec, 2)


def _ctx(task_id: str) -> dict[str, Any]:
    return context_for(FakeTI(task_id=task_id, run_id=fresh("run")))


def _started_a_plain_task(pool_id: str) -> None:
    """The control: the same pool runs a task of an unheld job (so the scheduler had its chance)."""
    hook = BatchHook()
    job_id = fresh("control")
    hook.create_job({"id": job_id, "poolInfo": {"poolId": pool_id}})
    try:
        hook.create_task(job_id, {"id": "t", "commandLine": "/bin/true"})
        _until(lambda: hook.get_task_counts(job_id).completed == 1, "the control task never ran")
    finally:
        hook.delete_job(job_id)


def _never_started(job_id: str) -> bool:
    hook = BatchHook()
    counts = hook.get_task_counts(job_id)
    tasks = hook.client.list_tasks(job_id, select=["id", "executionInfo"])
    started = [t.id for t in tasks if t.execution_info is not None and t.execution_info.start_time]
    return counts.running == 0 and not started


def _stopped(job_id: str) -> bool:
    hook = BatchHook()
    counts = hook.get_task_counts(job_id)
    job = hook.get_job(job_id) or {}
    return counts.running == 0 and job.get("state") in ("terminating", "completed")


def double(x: int) -> int:
    return 2 * x


def test_a_map_killed_at_the_instant_of_deferral_leaves_only_held_tasks(py_pool: str) -> None:
    ctx = _ctx("gate-map")
    op = BatchMapOperator(task_id="gate-map", python_callable=double, items=[1, 2, 3], pool_id=py_pool)
    deferred = expect_deferred(lambda: op.execute(ctx))
    trigger = deferred.trigger
    job_id = trigger.job_id  # type: ignore[attr-defined]
    assert trigger.release_job is True  # type: ignore[attr-defined]
    hook = BatchHook()
    assert (hook.get_job(job_id) or {})["state"] == "disabled"
    # The trigger is never run (what Airflow does to a task marked failed before the triggerer picks it
    # up): the job's tasks stay queued while the pool runs other work.
    _started_a_plain_task(py_pool)
    assert hook.get_task_counts(job_id).active == 3 and _never_started(job_id)
    # A retry of the task finds its held job and tasks, adds none, and its wait releases them.
    retry = BatchMapOperator(task_id="gate-map", python_callable=double, items=[1, 2, 3], pool_id=py_pool)
    again = expect_deferred(lambda: retry.execute(ctx))
    assert again.trigger.job_id == job_id  # type: ignore[attr-defined]
    assert hook.get_task_counts(job_id).active == 3
    assert MapResults.from_xcom(run_deferred(retry, ctx, again))[:] == [2, 4, 6]


def test_the_runs_cleanup_deletes_a_map_job_held_by_a_kill_at_deferral(py_pool: str) -> None:
    ti = FakeTI(task_id="held", run_id=fresh("run"))
    op = BatchMapOperator(task_id="held", python_callable=double, items=[1], pool_id=py_pool)
    job_id = expect_deferred(lambda: op.execute(context_for(ti))).trigger.job_id  # type: ignore[attr-defined]
    assert (BatchHook().get_job(job_id) or {})["state"] == "disabled"
    cleanup = BatchCleanupOperator(task_id="cleanup", python_task_ids=["held"])
    done = cleanup.execute(context_for(FakeTI(task_id="cleanup", run_id=ti.run_id)))
    assert f"job:{job_id}" in done["deleted"]
    job = BatchHook().get_job(job_id)
    assert job is None or job["state"] == "deleting"


class KilledWhileSubmitting(BatchMapOperator):
    """A map whose kill (``on_kill`` on the worker) lands once its job exists, before its tasks are added."""

    def track_work(self, work: BatchWork) -> None:
        super().track_work(work)
        if not getattr(self, "killed", None):
            self.killed = work.job_id
            self.on_kill()


def test_a_map_killed_while_it_submits_stops_its_job(py_pool: str) -> None:
    ctx = _ctx("gate-submit")
    op = KilledWhileSubmitting(task_id="gate-submit", python_callable=double, items=[1, 2], pool_id=py_pool)
    with pytest.raises(AzureComputeRemoteError):  # its tasks cannot be added to a terminated job
        op.execute(ctx)
    _until(lambda: _stopped(op.killed), "the job kept running after a kill while submitting")
    assert _never_started(op.killed)


def _sleeping_mpi(pool_id: str, task_id: str, **extra: Any) -> BatchRunMultiInstanceTaskOperator:
    return BatchRunMultiInstanceTaskOperator(
        task_id=task_id, job={"pool_id": pool_id}, number_of_instances=2,
        command_line="/bin/sh -c 'sleep 60'", poll_interval=0.2, **extra,
    )  # fmt: skip


def test_a_multi_instance_task_waits_for_its_trigger_to_release_its_job(mpi_pool: str) -> None:
    ctx = _ctx("gate-mpi")
    op = _sleeping_mpi(mpi_pool, "gate-mpi")
    deferred = expect_deferred(lambda: op.execute(ctx))
    job_id = deferred.trigger.job_id  # type: ignore[attr-defined]
    hook = BatchHook()
    assert (hook.get_job(job_id) or {})["state"] == "disabled"
    _started_a_plain_task(mpi_pool)
    assert _never_started(job_id)

    async def first_polls() -> None:  # the trigger's first poll releases the job
        agen = rebuild(deferred.trigger).run()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(agen.__anext__(), 1.0)
        await agen.aclose()

    asyncio.run(first_polls())
    assert (hook.get_job(job_id) or {})["state"] == "active"
    _until(lambda: hook.get_task_counts(job_id).running == 1, "the released task never started")
    hook.terminate_job(job_id, "test cleanup")


@pytest.mark.parametrize("how", ["worker-deadline", "trigger-deadline", "airflow-trigger-timeout"])
def test_a_multi_instance_task_that_times_out_stops_its_job(mpi_pool: str, how: str) -> None:
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
    from airflow.sdk.exceptions import TaskDeferralTimeout

    ctx = _ctx(f"mpi-{how}")
    hook = BatchHook()
    if how == "worker-deadline":
        op = _sleeping_mpi(mpi_pool, f"mpi-{how}", deferrable=False, wait_timeout=2)
        with pytest.raises(DeadlineExceededError):
            op.execute(ctx)
        job_id = op.work_of(ctx).job_id
    else:
        op = _sleeping_mpi(mpi_pool, f"mpi-{how}", wait_timeout=3)
        deferred = expect_deferred(lambda: op.execute(ctx))
        job_id = deferred.trigger.job_id  # type: ignore[attr-defined]
        if how == "trigger-deadline":
            event = asyncio.run(first_event(rebuild(deferred.trigger)))
            assert event["status"] == "timeout"
            with pytest.raises(DeadlineExceededError):
                op.resume_execution(deferred.method_name, {"event": event}, ctx)
        else:  # the scheduler failed the task for its trigger timeout: no on_kill anywhere
            with pytest.raises(TaskDeferralTimeout):
                op.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, ctx)
    _until(lambda: _stopped(job_id), f"the job kept running after the {how} timeout")
    assert (hook.get_job(job_id) or {}).get("executionInfo", {}).get(
        "terminateReason"
    ) == "AirflowTaskTimedOut"


def test_a_sensor_killed_at_the_instant_of_deferral_is_cleaned_up_by_the_teardown(py_pool: str) -> None:
    ti = FakeTI(task_id="fan", run_id=fresh("run"))
    ctx = context_for(ti)
    out = BatchRunTasksOperator(
        task_id="fan", job={"pool_id": py_pool}, items=list(range(3)), command_line="/bin/sh -c 'sleep 60'"
    ).execute(ctx)
    hook = BatchHook()
    _until(lambda: hook.get_task_counts(out["job_id"]).running > 0, "the fan-out's tasks never started")
    sensor = BatchJobSensor(task_id="wait", fanout=out, poke_interval=0.2)
    expect_deferred(lambda: sensor.execute(context_for(FakeTI(task_id="wait", run_id=ti.run_id))))
    # Marked failed now, its trigger is deleted unrun: the tasks run on until the DAG's teardown.
    assert hook.get_task_counts(out["job_id"]).running > 0
    teardown = BatchCleanupOperator(task_id="cleanup", fanout_task_ids=["fan"])
    done = teardown.execute(context_for(FakeTI(task_id="cleanup", run_id=ti.run_id)))
    assert f"job:{out['job_id']}" in done["deleted"]

    def gone() -> bool:
        job = hook.get_job(out["job_id"])
        return job is None or job.get("state") == "deleting"

    _until(gone, "the teardown left the job")
