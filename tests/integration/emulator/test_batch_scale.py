"""Batch emulator at volume: 10,000-task create_tasks, 2,500-task paging, injected 503/429 retries."""

# The SDK types most model fields Optional; these tests dereference them on purpose.
# mypy: disable-error-code="union-attr,index,operator"
from __future__ import annotations

from typing import Any

import pytest

from tests.integration.emulator.batch_support import (
    admin,
    batch_client,
    cleanup,
    create_pool_and_job,
)

pytestmark = pytest.mark.integration

COLLECTION = "POST /jobs/{jobId}/addtaskcollection"
LIST_TASKS = "GET /jobs/{jobId}/tasks"


@pytest.fixture
def idle_job(emulator: dict[str, Any]) -> Any:
    """A job on a pool without nodes: tasks stay active, so counts and listings are stable."""
    client = batch_client(emulator)
    pool_id, job_id = create_pool_and_job(client, "empty", dedicated=0)
    yield job_id
    cleanup(client, job_id=job_id, pool_id=pool_id)


def _count(emulator: dict[str, Any], route: str) -> int:
    return int(admin(emulator, "GET", "/counters")["requests"].get(route, 0))


def test_create_tasks_10000_in_100_requests(emulator: dict[str, Any], idle_job: str) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    before = _count(emulator, COLLECTION)
    tasks = [
        models.BatchTaskCreateOptions(id=f"task-{i:05d}", command_line="/bin/true") for i in range(10_000)
    ]
    result = client.create_tasks(idle_job, tasks)
    assert len(result.result_values) == 10_000
    assert all(r.status is models.BatchTaskAddStatus.SUCCESS for r in result.result_values)
    assert _count(emulator, COLLECTION) - before == 100
    counts = client.get_job_task_counts(idle_job).task_counts
    assert (counts.active, counts.running, counts.completed) == (10_000, 0, 0)


def test_paging_2500_tasks_with_select_and_filter(emulator: dict[str, Any], idle_job: str) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    tasks = [models.BatchTaskCreateOptions(id=f"a{i:04d}", command_line="/bin/true") for i in range(1_200)]
    tasks += [models.BatchTaskCreateOptions(id=f"b{i:04d}", command_line="/bin/true") for i in range(1_300)]
    client.create_tasks(idle_job, tasks)

    before = _count(emulator, LIST_TASKS)
    pages = [list(p) for p in client.list_tasks(idle_job, select=["id", "state"], max_results=1000).by_page()]
    assert [len(p) for p in pages] == [1000, 1000, 500]
    assert _count(emulator, LIST_TASKS) - before == 3
    every = [t for p in pages for t in p]
    assert len({t.id for t in every}) == 2_500
    assert all(t.state is models.BatchTaskState.ACTIVE and t.command_line is None for t in every)

    # the absolute nextLink carries $filter and $select to every page
    pages = [
        list(p)
        for p in client.list_tasks(
            idle_job, filter="startswith(id,'a')", select=["id"], max_results=500
        ).by_page()
    ]
    assert [len(p) for p in pages] == [500, 500, 200]
    assert all(t.id.startswith("a") and t.state is None for p in pages for t in p)


def test_sdk_retries_carry_calls_through_injected_throttling(emulator: dict[str, Any], idle_job: str) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    admin(emulator, "PUT", "/faults", {"error_rate": 0.1, "seed": 7})
    try:
        before = admin(emulator, "GET", "/counters")["faults_injected"]
        for i in range(10):
            client.create_task(idle_job, models.BatchTaskCreateOptions(id=f"r{i}", command_line="/bin/true"))
            assert client.get_task(idle_job, f"r{i}").id == f"r{i}"
        client.create_tasks(
            idle_job,
            [models.BatchTaskCreateOptions(id=f"c{i}", command_line="/bin/true") for i in range(300)],
        )
        listed = [t.id for t in client.list_tasks(idle_job, select=["id"], max_results=50)]
        after = admin(emulator, "GET", "/counters")["faults_injected"]
    finally:
        admin(emulator, "PUT", "/faults", {"error_rate": 0.0})
    assert len(listed) == 310
    assert client.get_job_task_counts(idle_job).task_counts.active == 310
    injected = sum(after.values()) - sum(before.values())
    assert injected > 0, "no fault was injected: the test proves nothing"


def test_sdk_survives_injected_connection_resets(emulator: dict[str, Any], idle_job: str) -> None:
    client = batch_client(emulator)
    admin(emulator, "PUT", "/faults", {"reset_rate": 0.2, "seed": 3})
    try:
        before = admin(emulator, "GET", "/counters")["faults_injected"].get("reset", 0)
        for _ in range(12):
            assert client.get_job(idle_job).id == idle_job
        after = admin(emulator, "GET", "/counters")["faults_injected"].get("reset", 0)
    finally:
        admin(emulator, "PUT", "/faults", {"reset_rate": 0.0})
    assert after > before, "no connection was reset: the test proves nothing"


def test_create_tasks_requeues_injected_servererrors(emulator: dict[str, Any], idle_job: str) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    before = _count(emulator, COLLECTION)
    admin(emulator, "PUT", "/collectionfaults", {"servererror_rate": 0.2, "seed": 11})
    try:
        result = client.create_tasks(
            idle_job,
            [models.BatchTaskCreateOptions(id=f"s{i:03d}", command_line="/bin/true") for i in range(300)],
        )
    finally:
        admin(emulator, "PUT", "/collectionfaults", {"servererror_rate": 0.0})
    assert sorted(
        r.task_id for r in result.result_values if r.status is models.BatchTaskAddStatus.SUCCESS
    ) == [f"s{i:03d}" for i in range(300)]
    assert client.get_job_task_counts(idle_job).task_counts.active == 300
    assert _count(emulator, COLLECTION) - before > 3  # the retried entries took extra requests
