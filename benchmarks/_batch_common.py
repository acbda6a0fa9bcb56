"""Shared set-up of the Batch benchmarks: an emulator process, Airflow connections, admin calls."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airflow_azure_compute.testing.stack import run_emulator

POOL = {
    "vm_size": "standard_d2s_v5",
    "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
    "node_agent_sku_id": "batch.node.ubuntu 22.04",
}


def admin(ep: dict[str, Any], path: str, body: Any = None, method: str = "GET") -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{ep['batch']['admin_url']}/{path}",
        data=data,
        method=method,
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


@contextmanager
def batch_emulator(latency_ms: int = 20) -> Iterator[dict[str, Any]]:
    """An emulator with ``latency_ms`` injected on every Batch request; connections in the environment."""
    with run_emulator() as ep:
        batch = ep["batch"]
        os.environ["AIRFLOW_CONN_AZURE_COMPUTE_BATCH_DEFAULT"] = json.dumps(
            {
                "conn_type": "azure_compute_batch",
                "host": batch["url"],
                "login": batch["account_name"],
                "password": batch["account_key"],
            }
        )
        admin(ep, "faults", {"latency_ms": latency_ms, "error_rate": 0.0, "reset_rate": 0.0}, method="PUT")
        yield ep


def empty_job(job_id: str, pool_id: str) -> None:
    """A job on a pool without nodes: tasks stay queued, nothing runs."""
    from airflow_azure_compute.hooks.batch import BatchHook
    from airflow_azure_compute.specs import JobSpec, PoolSpec

    hook = BatchHook()
    hook.create_pool(PoolSpec.coerce({**POOL, "pool_id": pool_id}).to_wire())
    hook.create_job(JobSpec(pool_id=pool_id).to_wire(job_id))


def task_bodies(n: int, prefix: str = "t-") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i:06d}", "commandLine": f"/bin/sh -c 'echo {i}'"} for i in range(n)]
