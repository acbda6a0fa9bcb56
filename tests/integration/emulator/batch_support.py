"""Helpers of the Batch emulator integration tests: SDK clients, admin calls, polling, unique ids."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from airflow_azure_compute.emulator.batch.runner import TaskRunSpec

T = TypeVar("T")


def uid(prefix: str) -> str:
    """A unique Batch id (the emulator is shared by the whole test session)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def batch_client(endpoints: dict[str, Any], key: str | None = None) -> Any:
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    ep = endpoints["batch"]
    return BatchClient(ep["url"], AzureNamedKeyCredential(ep["account_name"], key or ep["account_key"]))


def aio_batch_client(endpoints: dict[str, Any]) -> Any:
    from azure.batch.aio import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    ep = endpoints["batch"]
    return BatchClient(ep["url"], AzureNamedKeyCredential(ep["account_name"], ep["account_key"]))


def admin(endpoints: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    """Call the Batch admin API (``{admin_url}{path}``) and return its JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        endpoints["batch"]["admin_url"] + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def wait_for(
    check: Callable[[], T], *, timeout: float = 20, interval: float = 0.05, what: str = "condition"
) -> T:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value {value!r}")
        time.sleep(interval)


def pool_options(pool_id: str, *, dedicated: int = 1, slots: int = 1, **extra: Any) -> Any:
    from azure.batch import models

    return models.BatchPoolCreateOptions(
        id=pool_id,
        vm_size="standard_d2s_v3",
        virtual_machine_configuration=models.VirtualMachineConfiguration(
            image_reference=models.BatchVmImageReference(
                publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts", version="latest"
            ),
            node_agent_sku_id="batch.node.ubuntu 22.04",
        ),
        target_dedicated_nodes=dedicated,
        task_slots_per_node=slots,
        **extra,
    )


def job_options(job_id: str, pool_id: str, **extra: Any) -> Any:
    from azure.batch import models

    return models.BatchJobCreateOptions(id=job_id, pool_info=models.BatchPoolInfo(pool_id=pool_id), **extra)


def wait_tasks_completed(client: Any, job_id: str, count: int, timeout: float = 30) -> Any:
    def done() -> Any:
        counts = client.get_job_task_counts(job_id).task_counts
        return counts if counts.completed >= count else None

    return wait_for(done, timeout=timeout, what=f"{count} completed tasks in {job_id}")


def cleanup(client: Any, *, job_id: str | None = None, pool_id: str | None = None) -> None:
    """Delete a job and/or a pool and wait until they are gone (fast polling)."""
    if job_id:
        client.begin_delete_job(job_id, polling_interval=0.05).result()
    if pool_id:
        client.begin_delete_pool(pool_id, polling_interval=0.05).result()


def create_pool_and_job(client: Any, prefix: str = "pool", *, dedicated: int) -> tuple[str, str]:
    """Create a pool of ``dedicated`` nodes and a job on it, with fresh ids; return (pool id, job id)."""
    pool_id, job_id = uid(prefix), uid("job")
    client.create_pool(pool_options(pool_id, dedicated=dedicated))
    client.create_job(job_options(job_id, pool_id))
    return pool_id, job_id


def run_one_task(
    client: Any, pool_id: str, task: Any, *, timeout: float = 30, **job_extra: Any
) -> tuple[str, Any]:
    """Run ``task`` alone in a new job on ``pool_id`` until it completes; return (job id, the task)."""
    job_id = uid("job")
    client.create_job(job_options(job_id, pool_id, **job_extra))
    client.create_task(job_id, task)
    wait_tasks_completed(client, job_id, 1, timeout=timeout)
    return job_id, client.get_task(job_id, task.id)


def task_run_spec(node_root: Path, command_line: str, **overrides: Any) -> TaskRunSpec:
    """A ``run_task`` spec of task ``task-1`` of job ``job`` on a dedicated node; ``overrides`` replace fields."""
    fields: dict[str, Any] = {
        "account_name": "acct",
        "account_url": "http://127.0.0.1:1",
        "pool_id": "pool",
        "node_id": "tvmps_1",
        "is_dedicated": True,
        "node_root": node_root,
        "job_id": "job",
        "task_id": "task-1",
        "kind": "task",
        "command_line": command_line,
    }
    fields.update(overrides)
    return TaskRunSpec(**fields)
