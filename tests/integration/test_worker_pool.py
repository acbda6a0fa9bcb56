"""The Container Instances worker pool against the ACI emulator and Azurite (real SDKs, real processes).

Workers are emulated containers running ``airflow_azure_compute.runtime.queue_worker`` around
``pool_work/handlers.py``; they talk to Azurite's queue and blob services with the SAS URLs the trigger
signs.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import structlog

from airflow_azure_compute.exceptions import AzureComputeConfigError, RemoteWorkFailedError
from airflow_azure_compute.hooks.blob import BlobHook
from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook
from airflow_azure_compute.hooks.storage_queue import StorageQueueHook
from airflow_azure_compute.operators.worker_pool import ContainerInstancesWorkerPoolOperator
from tests.integration.ops_support import FakeTI, context_for, expect_deferred, first_event, rebuild

pytestmark = pytest.mark.integration

HANDLERS = Path(__file__).resolve().parent / "pool_work" / "handlers.py"


@pytest.fixture(scope="module")
def stack(module_connections: pytest.MonkeyPatch) -> ContainerInstancesHook:
    return ContainerInstancesHook()


def pool(
    task_id: str, items: Any, handler: str = "square", **kwargs: Any
) -> ContainerInstancesWorkerPoolOperator:
    kwargs.setdefault("command", [sys.executable, "-u", "-m", "airflow_azure_compute.runtime.queue_worker",
                                  f"{HANDLERS}:{handler}"])  # fmt: skip
    return ContainerInstancesWorkerPoolOperator(
        task_id=task_id, items=items, image="python:3.11", workers=3, worker_idle=1.0,
        visibility_timeout=30, poll_interval=0.2, **kwargs,
    )  # fmt: skip


def run_pool(op: ContainerInstancesWorkerPoolOperator, ti: FakeTI) -> tuple[Any, list[str]]:
    with structlog.testing.capture_logs() as logs:
        deferred = expect_deferred(lambda: op.execute(context_for(ti)))
        event = asyncio.run(first_event(rebuild(deferred.trigger), timeout=120))
        try:
            result: Any = op.resume_execution(deferred.method_name, {"event": event}, context_for(ti))
        except Exception as err:
            result = err
    return result, [str(e.get("event")) for e in logs]


def leftovers(aci: ContainerInstancesHook, run_id: str) -> dict[str, Any]:
    queues = [name for name, md in StorageQueueHook().list_queues() if md.get("airflow_run_id") == run_id]
    groups = [g["name"] for g in aci.list_groups() if (g.get("tags") or {}).get("airflow_run_id") == run_id]
    blob = BlobHook()
    blobs = [
        b.name
        for container, md in blob.list_containers()
        if md.get("airflow_run_id") == run_id
        for b in blob.list_blobs(container)
    ]
    return {"queues": queues, "groups": groups, "blobs": blobs}


def test_results_come_back_in_input_order_and_everything_is_cleaned(stack: ContainerInstancesHook) -> None:
    ti = FakeTI(task_id="squares", run_id="pool-ok")
    items = list(range(25))
    result, logs = run_pool(pool("squares", items), ti)
    assert result == [{"n": i, "square": i * i} for i in items]
    assert any("25/25 items done" in line for line in logs)
    assert leftovers(stack, "pool-ok") == {"queues": [], "groups": [], "blobs": []}


def test_kept_results_are_an_asset_event_and_the_lineage_names_the_workers(
    stack: ContainerInstancesHook,
) -> None:
    from airflow.sdk.execution_time.context import OutletEventAccessors

    from airflow_azure_compute.assets import outputs_alias
    from airflow_azure_compute.workspace import RunWorkspace

    ti = FakeTI(task_id="kept", run_id="pool-kept")
    alias = outputs_alias("dag", "kept")
    op = pool("kept", [1, 2], cleanup="keep", outlets=[alias])
    events = OutletEventAccessors()
    deferred = expect_deferred(lambda: op.execute(context_for(ti)))
    event = asyncio.run(first_event(rebuild(deferred.trigger), timeout=120))
    result = op.resume_execution(
        deferred.method_name, {"event": event}, {**context_for(ti), "outlet_events": events}
    )
    assert result == [{"n": 1, "square": 1}, {"n": 2, "square": 4}]

    ws = RunWorkspace.for_ti(ti)
    (emitted,) = events[alias].asset_alias_events
    assert emitted.dest_asset_key.uri.startswith(f"wasbs://{ws.output_container}@devstoreaccount1/pools/")
    assert emitted.extra == {"items": 2}
    prefix = emitted.dest_asset_key.name.split("devstoreaccount1/", 1)[1]
    assert len(list(BlobHook().list_blobs(ws.output_container, prefix))) >= 2  # the results are there
    lineage = op.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.outputs] == [
        (f"wasbs://{ws.output_container}@devstoreaccount1", prefix)
    ]
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        (f"wasbs://{ws.container}@devstoreaccount1", prefix)
    ]
    facet = lineage.run_facets["externalQuery"]
    assert facet.externalQueryId.endswith(
        f"/providers/Microsoft.ContainerInstance/containerGroups/{op._names[0]}"
    )
    for name in op._names:  # cleanup="keep": the test removes the workers itself
        stack.delete_group(name)


def test_a_poison_item_is_reported_by_index_after_k_takes(stack: ContainerInstancesHook) -> None:
    ti = FakeTI(task_id="poison", run_id="pool-poison")
    result, _ = run_pool(pool("poison", [1, 2, 3, 4], handler="fails_on_three", max_dequeue=2), ti)
    assert isinstance(result, RemoteWorkFailedError)
    assert "item 2: ValueError: three is not allowed (got 3) (2 takes)" in str(result)
    assert leftovers(stack, "pool-poison") == {"queues": [], "groups": [], "blobs": []}


def test_a_worker_image_that_exits_at_once_fails_clearly(stack: ContainerInstancesHook) -> None:
    ti = FakeTI(task_id="dead", run_id="pool-dead")
    op = pool("dead", [1, 2], command=[sys.executable, "-c", "raise SystemExit(7)"])
    result, _ = run_pool(op, ti)
    assert isinstance(result, RemoteWorkFailedError)
    assert (
        "every worker ended" in str(result)
        and "2 of 2 items unfinished" in str(result)
        and "7" in str(result)
    )
    assert leftovers(stack, "pool-dead") == {"queues": [], "groups": [], "blobs": []}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"queue_name": "Bad_Queue"}, "queue_name"),
        ({"items": []}, "items"),
        ({"secure_environment": {"TOKEN": "password"}}, "secure_env_conn_id"),
    ],
)
def test_bad_input_fails_before_anything_is_created(
    stack: ContainerInstancesHook, kwargs: dict[str, Any], field: str
) -> None:
    ti = FakeTI(task_id="bad", run_id=f"pool-bad-{field}")
    op = pool("bad", kwargs.pop("items", [1]), **kwargs)
    with pytest.raises(AzureComputeConfigError) as err:
        op.execute(context_for(ti))
    assert err.value.field == field
    assert leftovers(stack, f"pool-bad-{field}") == {"queues": [], "groups": [], "blobs": []}


def test_kill_at_deferral_and_while_working_leaves_no_worker(stack: ContainerInstancesHook) -> None:
    slow = [
        sys.executable,
        "-u",
        "-c",
        "import time\nwhile True:\n    print('busy', flush=True); time.sleep(0.1)",
    ]
    ti = FakeTI(task_id="killed", run_id="pool-kill")
    deferred = expect_deferred(lambda: pool("killed", [1, 2, 3], command=slow).execute(context_for(ti)))
    assert leftovers(stack, "pool-kill")["groups"] == []  # killed at deferral: no worker exists
    trigger = rebuild(deferred.trigger)

    async def kill_while_working() -> None:
        task = asyncio.ensure_future(first_event(trigger))
        deadline = time.monotonic() + 30
        while len(await asyncio.to_thread(lambda: leftovers(stack, "pool-kill")["groups"])) < 3:
            assert time.monotonic() < deadline, "workers never started"
            await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await trigger.on_kill()

    asyncio.run(kill_while_working())
    assert leftovers(stack, "pool-kill")["groups"] == []
    StorageQueueHook().delete_queue(
        json.loads(json.dumps(deferred.trigger.serialize()[1]))["layout"]["queue"]
    )
