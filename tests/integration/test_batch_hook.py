"""BatchHook against the emulator: bulk submission (idempotent, bounded), counts, failed-task list, faults."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_azure_compute.exceptions import AzureComputeRemoteError, DeadlineExceededError
from airflow_azure_compute.hooks.batch import BatchHook
from airflow_azure_compute.specs import JobSpec, PoolSpec, TaskSpec
from tests.integration._batch_env import POOL_BASE, fresh, set_faults

pytestmark = pytest.mark.integration


@pytest.fixture
def job(batch_env: dict[str, Any]) -> str:
    """A job on a pool with no nodes: tasks stay queued, so counts are stable."""
    hook = BatchHook()
    pool_id, job_id = fresh("pool"), fresh("job")
    assert hook.create_pool(PoolSpec.coerce({**POOL_BASE, "pool_id": pool_id}).to_wire())
    assert hook.create_job(JobSpec(pool_id=pool_id).to_wire(job_id))
    return job_id


def _tasks(n: int, prefix: str = "t-") -> list[dict[str, Any]]:
    return [TaskSpec(task_id=f"{prefix}{i:05d}", command_line="/bin/true").to_wire() for i in range(n)]


def test_create_tasks_is_idempotent(job: str) -> None:
    hook = BatchHook()
    first = hook.create_tasks(job, _tasks(230))
    assert (first.added, first.existed, first.requests) == (230, 0, 3)
    again = hook.create_tasks(job, _tasks(230))
    assert (again.added, again.existed) == (0, 230)
    assert len(hook.list_task_ids(job)) == 230
    assert hook.get_task_counts(job).active == 230
    assert hook.get_scoped_counts(job, "t-0010").total == 10
    assert hook.create_job(JobSpec(pool_id="whatever").to_wire(job)) is False  # JobExists


def test_create_tasks_survives_ten_percent_503(batch_env: dict[str, Any], job: str) -> None:
    hook = BatchHook()
    set_faults(batch_env, error_rate=0.10, seed=7)
    try:
        result = hook.create_tasks(job, _tasks(500), concurrency=4)
        counts = hook.get_task_counts(job)
    finally:
        set_faults(batch_env)
    assert result.added + result.existed == 500
    assert counts.active == 500


def test_create_tasks_deadline_and_budget(batch_env: dict[str, Any], job: str) -> None:
    hook = BatchHook()
    set_faults(batch_env, error_rate=1.0, seed=1)
    try:
        with pytest.raises(DeadlineExceededError):
            hook.create_tasks(job, _tasks(10), timeout=1.5, error_budget=1000)
        with pytest.raises(AzureComputeRemoteError, match="budget"):
            hook.create_tasks(job, _tasks(10), timeout=60, error_budget=2)
    finally:
        set_faults(batch_env)


def test_refused_tasks_are_reported(job: str) -> None:
    bad = [{"id": "ok-1", "commandLine": "/bin/true"}, {"id": "bad-1", "commandLine": ""}]
    result = BatchHook().create_tasks(job, bad)
    assert result.added == 1 and "bad-1" in result.failed


def test_test_connection(batch_env: dict[str, Any]) -> None:
    ok, message = BatchHook().test_connection()
    assert ok, message
    assert "reachable" in message


def test_oversized_request_is_split(job: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow_azure_compute.hooks.batch as batch_hooks

    # Let one 1.2 MB chunk through our sizing: the service's 413 (RequestBodyTooLarge) must halve it.
    monkeypatch.setattr(batch_hooks, "MAX_REQUEST_BYTES", 10_000_000)
    tasks = [{"id": f"big-{i:03d}", "commandLine": "x" * 12_000} for i in range(100)]
    result = BatchHook().create_tasks(job, tasks)
    assert result.added == 100 and not result.failed


def test_request_error_carries_service_code(job: str) -> None:
    with pytest.raises(AzureComputeRemoteError) as info:
        BatchHook().create_tasks(f"{job}-missing", _tasks(2))
    assert (info.value.code, info.value.status) == ("JobNotFound", 404)
