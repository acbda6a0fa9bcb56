"""Batch emulator: pools, nodes, start tasks, autoscale, resize errors and preemption (real SDK)."""

# The SDK types most model fields Optional; these tests dereference them on purpose.
# mypy: disable-error-code="union-attr,index,operator"
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.emulator.batch_support import (
    admin,
    batch_client,
    cleanup,
    create_pool_and_job,
    job_options,
    pool_options,
    uid,
    wait_for,
    wait_tasks_completed,
)

pytestmark = pytest.mark.integration

AUTOSCALE_FORMULA = """maxNumberofVMs = 3;
            maxPendingTasks = $PendingTasks.GetSample(1);
            $TargetLowPriorityNodes=min(maxNumberofVMs, maxPendingTasks);
            $NodeDeallocationOption=taskcompletion;"""


def _node_states(client: Any, pool_id: str) -> list[Any]:
    return [n.state for n in client.list_nodes(pool_id)]


def test_pool_lifecycle_get_head_list_resize_delete(emulator: dict[str, Any]) -> None:
    from azure.batch import models
    from azure.core.exceptions import ResourceNotFoundError

    client = batch_client(emulator)
    pool_id = uid("pool")
    client.create_pool(
        pool_options(pool_id, dedicated=2, slots=3, metadata=[models.BatchMetadataItem(name="k", value="v")])
    )
    pool = client.get_pool(pool_id)
    assert isinstance(pool, models.BatchPool)
    assert pool.state is models.BatchPoolState.ACTIVE
    assert pool.allocation_state in (models.AllocationState.RESIZING, models.AllocationState.STEADY)
    assert pool.task_slots_per_node == 3 and pool.metadata[0].value == "v"
    assert client.pool_exists(pool_id) is True
    assert client.pool_exists(pool_id.upper()) is True  # ids are case-insensitive

    ready = {models.BatchNodeState.IDLE}
    wait_for(
        lambda: len(_node_states(client, pool_id)) == 2 and set(_node_states(client, pool_id)) <= ready,
        what="2 idle nodes",
    )
    node = next(iter(client.list_nodes(pool_id)))
    assert isinstance(node.state, models.BatchNodeState) and node.is_dedicated is True
    assert client.get_node(pool_id, node.id).id == node.id

    client.begin_resize_pool(
        pool_id, models.BatchPoolResizeOptions(target_dedicated_nodes=1), polling_interval=0.05
    ).result()
    pool = client.get_pool(pool_id)
    assert pool.allocation_state is models.AllocationState.STEADY
    assert pool.current_dedicated_nodes == 1 and pool.target_dedicated_nodes == 1

    ids = [p.id for p in client.list_pools(filter=f"startswith(id,'{pool_id[:9]}')")]
    assert pool_id in ids
    cleanup(client, pool_id=pool_id)
    with pytest.raises(ResourceNotFoundError):
        client.get_pool(pool_id)


def test_pool_listing_pages(emulator: dict[str, Any]) -> None:
    client = batch_client(emulator)
    prefix = uid("pg")
    for i in range(5):
        client.create_pool(pool_options(f"{prefix}-{i}", dedicated=0))
    pages = list(
        client.list_pools(
            max_results=2, filter=f"startswith(id,'{prefix}')", select=["id", "state"]
        ).by_page()
    )
    sizes = [len(list(page)) for page in pages]
    while sizes and sizes[-1] == 0:  # a page may come back empty, as on Azure
        sizes.pop()
    assert sizes == [2, 2, 1]
    for i in range(5):
        client.begin_delete_pool(f"{prefix}-{i}", polling_interval=0.05).result()


def test_delete_shows_deleting_then_gone(emulator: dict[str, Any]) -> None:
    from azure.batch import models
    from azure.core.exceptions import ResourceExistsError

    client = batch_client(emulator)
    pool_id = uid("pool")
    client.create_pool(pool_options(pool_id, dedicated=1))
    poller = client.begin_delete_pool(pool_id, polling_interval=0.05)
    assert client.get_pool(pool_id).state is models.BatchPoolState.DELETING
    with pytest.raises(ResourceExistsError) as info:
        client.begin_resize_pool(pool_id, models.BatchPoolResizeOptions(target_dedicated_nodes=3))
    assert info.value.error.code == "PoolBeingDeleted"
    poller.result()
    assert not any(p.id == pool_id for p in client.list_pools())


def test_start_task_runs_once_per_node_and_failure_marks_node(emulator: dict[str, Any]) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    good, bad = uid("start-ok"), uid("start-bad")
    client.create_pool(
        pool_options(
            good,
            dedicated=2,
            start_task=models.BatchStartTask(
                command_line="/bin/sh -c 'echo booted >> $AZ_BATCH_NODE_SHARED_DIR/boot.log'",
                wait_for_success=True,
            ),
        )
    )
    client.create_pool(
        pool_options(
            bad,
            dedicated=1,
            start_task=models.BatchStartTask(command_line="/bin/sh -c 'exit 7'", wait_for_success=True),
        )
    )
    wait_for(
        lambda: (
            set(_node_states(client, good)) == {models.BatchNodeState.IDLE}
            and len(_node_states(client, good)) == 2
        ),
        what="start task ok",
    )
    for node in client.list_nodes(good):
        info = node.start_task_info
        assert info.state is models.BatchStartTaskState.COMPLETED
        assert info.exit_code == 0 and info.result is models.BatchTaskExecutionResult.SUCCESS
        assert info.retry_count == 0
    wait_for(
        lambda: _node_states(client, bad) == [models.BatchNodeState.START_TASK_FAILED], what="starttaskfailed"
    )
    node = next(iter(client.list_nodes(bad)))
    assert node.start_task_info.exit_code == 7
    assert node.start_task_info.failure_info.category is models.BatchErrorSourceCategory.USER_ERROR
    cleanup(client, pool_id=good)
    cleanup(client, pool_id=bad)


def test_autoscale_enable_evaluate_disable(emulator: dict[str, Any]) -> None:
    from azure.batch import models
    from azure.core.exceptions import HttpResponseError

    client = batch_client(emulator)
    pool_id, job_id = uid("auto"), uid("job")
    client.create_pool(pool_options(pool_id, dedicated=0))
    wait_for(
        lambda: client.get_pool(pool_id).allocation_state is models.AllocationState.STEADY, what="steady"
    )
    client.create_job(job_options(job_id, pool_id))
    client.create_tasks(
        job_id, [models.BatchTaskCreateOptions(id=f"t{i}", command_line="/bin/true") for i in range(5)]
    )
    client.enable_pool_auto_scale(
        pool_id,
        models.BatchPoolEnableAutoScaleOptions(
            auto_scale_formula=AUTOSCALE_FORMULA, auto_scale_evaluation_interval=timedelta(minutes=5)
        ),
    )
    pool = client.get_pool(pool_id)
    assert pool.enable_auto_scale is True and pool.auto_scale_formula == AUTOSCALE_FORMULA
    assert pool.auto_scale_evaluation_interval == timedelta(minutes=5)
    assert "$TargetLowPriorityNodes=3" in pool.auto_scale_run.results
    # the formula drove the pool: 3 low-priority nodes run the 5 tasks
    wait_tasks_completed(client, job_id, 5)
    assert client.get_pool(pool_id).current_low_priority_nodes == 3
    run = client.evaluate_pool_auto_scale(
        pool_id,
        models.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes = max(2, 1) * 2;"),
    )
    assert isinstance(run, models.AutoScaleRun) and "$TargetDedicatedNodes=4" in run.results
    bad = client.evaluate_pool_auto_scale(
        pool_id, models.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes = (;")
    )
    assert bad.error is not None and bad.error.code == "AutoScalingFormulaSyntaxError"
    with pytest.raises(HttpResponseError) as info:
        client.enable_pool_auto_scale(
            pool_id, models.BatchPoolEnableAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes = ;")
        )
    assert info.value.status_code == 400
    client.disable_pool_auto_scale(pool_id)
    assert client.get_pool(pool_id).enable_auto_scale is False
    cleanup(client, job_id=job_id, pool_id=pool_id)


def test_injected_resize_error(emulator: dict[str, Any]) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    pool_id = uid("pool")
    client.create_pool(pool_options(pool_id, dedicated=0))
    wait_for(
        lambda: client.get_pool(pool_id).allocation_state is models.AllocationState.STEADY, what="steady"
    )
    admin(
        emulator,
        "PUT",
        f"/pools/{pool_id}/resizeerror",
        {"code": "AccountCoreQuotaReached", "message": "quota"},
    )
    client.begin_resize_pool(
        pool_id, models.BatchPoolResizeOptions(target_dedicated_nodes=2), polling_interval=0.05
    ).result()
    pool = client.get_pool(pool_id)
    assert pool.resize_errors and pool.resize_errors[0].code == "AccountCoreQuotaReached"
    assert pool.current_dedicated_nodes == 0
    admin(emulator, "DELETE", f"/pools/{pool_id}/resizeerror")
    client.begin_resize_pool(
        pool_id, models.BatchPoolResizeOptions(target_dedicated_nodes=1), polling_interval=0.05
    ).result()
    pool = client.get_pool(pool_id)
    assert not pool.resize_errors and pool.current_dedicated_nodes == 1
    cleanup(client, pool_id=pool_id)


def test_preemption_requeues_running_tasks(emulator: dict[str, Any]) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    pool_id, job_id = create_pool_and_job(client, dedicated=1)
    client.create_task(job_id, models.BatchTaskCreateOptions(id="sleeper", command_line="/bin/sleep 0.8"))
    wait_for(
        lambda: client.get_task(job_id, "sleeper").state is models.BatchTaskState.RUNNING, what="running"
    )
    node_id = client.get_task(job_id, "sleeper").node_info.node_id
    answer = admin(emulator, "POST", f"/pools/{pool_id}/nodes/{node_id}/preempt", {"recover_after_s": 0.2})
    assert answer["requeued_tasks"] == ["sleeper"]
    task = client.get_task(job_id, "sleeper")
    assert task.state is models.BatchTaskState.ACTIVE
    assert task.execution_info.requeue_count == 1
    assert client.get_node(pool_id, node_id).state in (
        models.BatchNodeState.PREEMPTED,
        models.BatchNodeState.STARTING,
    )
    wait_tasks_completed(client, job_id, 1)
    task = client.get_task(job_id, "sleeper")
    assert task.execution_info.result is models.BatchTaskExecutionResult.SUCCESS
    assert task.execution_info.requeue_count == 1 and task.execution_info.retry_count == 0
    cleanup(client, job_id=job_id, pool_id=pool_id)


def test_supported_images(emulator: dict[str, Any]) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    images = list(client.list_supported_images(filter="verificationType eq 'verified'"))
    assert images and all(i.verification_type is models.ImageVerificationType.VERIFIED for i in images)


def test_node_counts_scheduling_files_and_remove(emulator: dict[str, Any]) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    pool_id, job_id = uid("nodes"), uid("job")
    start = models.BatchStartTask(command_line="/bin/sh -c 'echo started'", wait_for_success=True)
    client.create_pool(pool_options(pool_id, dedicated=2, start_task=start))
    wait_for(lambda: _node_states(client, pool_id) == [models.BatchNodeState.IDLE] * 2, what="2 idle nodes")
    counts = {c.pool_id: c for c in client.list_pool_node_counts()}[pool_id]
    assert isinstance(counts, models.BatchPoolNodeCounts)
    assert counts.dedicated.idle == 2 and counts.dedicated.total == 2 and counts.low_priority.total == 0

    first, second = (n.id for n in client.list_nodes(pool_id))
    names = {f.name for f in client.list_node_files(pool_id, first, recursive=True)}
    assert "startup/stdout.txt" in names
    assert b"".join(client.download_node_file(pool_id, first, "startup/stdout.txt")) == b"started\n"
    assert client.get_node_file_properties(pool_id, first, "startup/stdout.txt").content_length == 8

    client.disable_node_scheduling(  # without options the SDK fails client-side (same quirk as terminate)
        pool_id, first, models.BatchNodeDisableSchedulingOptions(node_disable_scheduling_option="requeue")
    )
    assert client.get_node(pool_id, first).scheduling_state is models.SchedulingState.DISABLED
    client.create_job(job_options(job_id, pool_id))
    client.create_tasks(
        job_id, [models.BatchTaskCreateOptions(id=f"t{i}", command_line="/bin/true") for i in range(3)]
    )
    wait_tasks_completed(client, job_id, 3)
    assert {client.get_task(job_id, f"t{i}").node_info.node_id for i in range(3)} == {second}
    client.enable_node_scheduling(pool_id, first)

    client.begin_remove_nodes(
        pool_id, models.BatchNodeRemoveOptions(node_ids=[second]), polling_interval=0.05
    ).result()
    pool = client.get_pool(pool_id)
    assert pool.current_dedicated_nodes == 1 and pool.target_dedicated_nodes == 1
    assert [n.id for n in client.list_nodes(pool_id)] == [first]
    cleanup(client, job_id=job_id, pool_id=pool_id)
