"""Every Batch response deserializes into SDK models whose enum fields hold real enum members.

The SDK's enums are case-sensitive on the wire: ``"Completed"`` would stay a plain string and break
``state == BatchTaskState.COMPLETED``. This walks whole models and fails on any plain string that spells
an enum value, so a casing slip anywhere in the emulator's JSON fails here.
"""

# mypy: disable-error-code="union-attr,index,operator"
from __future__ import annotations

import enum
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.emulator.batch_support import (
    batch_client,
    cleanup,
    job_options,
    pool_options,
    uid,
    wait_for,
    wait_tasks_completed,
)

pytestmark = pytest.mark.integration

#: Enum fields Azure sends in a casing of its own, which azure-batch 15.1 leaves as a plain string
#: (recorded service traffic: ``taskSchedulingPolicy.nodeFillType`` is ``Spread``/``Pack``).
AZURE_CASING = {"task_scheduling_policy.node_fill_type": {"Spread", "Pack"}}


def _enum_values() -> set[str]:
    from azure.batch.models import _enums

    values: set[str] = set()
    for name in dir(_enums):
        kind = getattr(_enums, name)
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            values.update(str(member.value).lower() for member in kind)
    return values


def _plain_enum_strings(obj: Any, path: str, values: set[str], found: list[str]) -> None:
    if isinstance(obj, enum.Enum) or obj is None:
        return
    if isinstance(obj, str):
        exempt = any(path.endswith(field) and obj in allowed for field, allowed in AZURE_CASING.items())
        if obj.lower() in values and not exempt:
            found.append(f"{path}={obj!r}")
        return
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            _plain_enum_strings(item, f"{path}[{i}]", values, found)
        return
    fields = getattr(type(obj), "_attr_to_rest_field", None)
    for name in fields or ():
        _plain_enum_strings(getattr(obj, name), f"{path}.{name}", values, found)


def test_models_carry_real_enum_members(emulator: dict[str, Any]) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    pool_id, job_id = uid("enums"), uid("job")
    client.create_pool(
        pool_options(
            pool_id,
            dedicated=1,
            slots=2,
            start_task=models.BatchStartTask(command_line="/bin/true", wait_for_success=True),
        )
    )
    client.create_job(
        job_options(
            job_id,
            pool_id,
            uses_task_dependencies=True,
            job_preparation_task=models.BatchJobPreparationTask(command_line="/bin/true"),
            constraints=models.BatchJobConstraints(max_task_retry_count=1),
        )
    )
    added = client.create_task_collection(
        job_id,
        models.BatchTaskGroup(
            task_values=[
                models.BatchTaskCreateOptions(id="ok", command_line="/bin/true"),
                models.BatchTaskCreateOptions(id="bad", command_line="/bin/sh -c 'exit 2'"),
                models.BatchTaskCreateOptions(
                    id="after",
                    command_line="/bin/true",
                    depends_on=models.BatchTaskDependencies(task_ids=["ok"]),
                    constraints=models.BatchTaskConstraints(max_wall_clock_time=timedelta(minutes=5)),
                ),
            ]
        ),
    )
    duplicate = client.create_task_collection(
        job_id,
        models.BatchTaskGroup(task_values=[models.BatchTaskCreateOptions(id="OK", command_line="/bin/true")]),
    )
    wait_tasks_completed(client, job_id, 3)
    wait_for(
        lambda: client.get_pool(pool_id).allocation_state is models.AllocationState.STEADY, what="steady"
    )
    client.enable_pool_auto_scale(
        pool_id, models.BatchPoolEnableAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes = 1;")
    )

    responses: dict[str, Any] = {
        "pool": client.get_pool(pool_id),
        "pools": list(client.list_pools(filter=f"id eq '{pool_id}'")),
        "nodes": list(client.list_nodes(pool_id)),
        "node_counts": [c for c in client.list_pool_node_counts() if c.pool_id == pool_id],
        "job": client.get_job(job_id),
        "jobs": list(client.list_jobs(filter=f"id eq '{job_id}'")),
        "tasks": list(client.list_tasks(job_id)),
        "counts": client.get_job_task_counts(job_id),
        "added": added,
        "duplicate": duplicate,
        "prep": list(client.list_job_preparation_and_release_task_status(job_id)),
        "files": list(client.list_task_files(job_id, "ok", recursive=True)),
        "images": list(client.list_supported_images()),
    }
    values = _enum_values()
    found: list[str] = []
    for name, response in responses.items():
        _plain_enum_strings(response, name, values, found)
    assert found == []

    tasks = {t.id: t for t in responses["tasks"]}
    assert tasks["ok"].state is models.BatchTaskState.COMPLETED
    assert tasks["bad"].execution_info.result is models.BatchTaskExecutionResult.FAILURE
    assert tasks["bad"].execution_info.failure_info.category is models.BatchErrorSourceCategory.USER_ERROR
    assert responses["pool"].allocation_state is models.AllocationState.STEADY
    assert responses["nodes"][0].scheduling_state is models.SchedulingState.ENABLED
    assert responses["nodes"][0].start_task_info.state is models.BatchStartTaskState.COMPLETED
    assert responses["job"].state is models.BatchJobState.ACTIVE
    assert {r.status for r in added.result_values} == {models.BatchTaskAddStatus.SUCCESS}
    assert duplicate.result_values[0].status is models.BatchTaskAddStatus.CLIENT_ERROR
    assert responses["images"][0].os_type is models.OSType.LINUX
    assert responses["pool"].task_scheduling_policy.node_fill_type == "Spread"
    cleanup(client, job_id=job_id, pool_id=pool_id)
