"""Pieces the harness DAGs beside this module share; it defines no DAG itself.

The real-Airflow stack links this module into its DAG folder (on ``sys.path`` there) and lists it in
``.airflowignore``, so the DAG files import it as ``harness_parts`` and the dag-processor never parses
it; ``tests/e2e/conftest.py`` puts this folder on ``sys.path`` for the tests that load the DAG files
themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from airflow.sdk import Param

from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator

#: The run config's pool and the nodes' interpreter, as templates.
POOL = "{{ params.pool_id }}"
PYTHON = "{{ params.python }}"
#: The queue-worker handlers of the worker-pool tests.
HANDLERS = Path(__file__).resolve().parents[2] / "integration" / "pool_work" / "handlers.py"
#: A small container group (the emulator runs its command as a process).
SMALL_GROUP: dict[str, Any] = {
    "image": "python:3.11-slim",
    "cpu": 0.5,
    "memory_gb": 0.5,
    "poll_interval": 0.5,
}
#: A worker pool of one small worker that runs ``handlers.square`` on each queued item.
SQUARE_WORKERS: dict[str, Any] = {
    **SMALL_GROUP,
    "command": [
        sys.executable,
        "-u",
        "-m",
        "airflow_azure_compute.runtime.queue_worker",
        f"{HANDLERS}:square",
    ],
    "workers": 1,
    "worker_idle": 1.0,
    "visibility_timeout": 30,
}


def on_pool(pool_id: str) -> dict[str, Any]:
    """``DAG`` arguments of a harness DAG run by hand on one Batch pool: params ``pool_id`` (default
    ``pool_id``) and ``python`` (the nodes' interpreter)."""
    return {
        "schedule": None,
        "catchup": False,
        "params": {"pool_id": Param(pool_id, type="string"), "python": Param("python3", type="string")},
    }


def ubuntu_pool_spec(*, nodes: int = 1, **extra: Any) -> dict[str, Any]:
    """The pool spec of ``POOL``: ``nodes`` dedicated Ubuntu 22.04 nodes, plus ``extra`` fields."""
    return {
        "pool_id": POOL,
        "vm_size": "standard_d2s_v5",
        "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
        "node_agent_sku_id": "batch.node.ubuntu 22.04",
        "dedicated_nodes": nodes,
        **extra,
    }


def ensure_pool(
    *, nodes: int = 1, poll_interval: float = 2, spec: dict[str, Any] | None = None, **kwargs: Any
) -> BatchEnsurePoolOperator:
    """Task ``pool``: reuse or create ``POOL`` (``ubuntu_pool_spec(nodes=nodes, **spec)``) and wait until
    ``nodes`` nodes are ready."""
    return BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec=ubuntu_pool_spec(nodes=nodes, **(spec or {})),
        if_exists="reuse",
        min_ready_nodes=nodes,
        poll_interval=poll_interval,
        **kwargs,
    )


def fanout_job(fanout: Any) -> dict[str, Any]:
    """``BatchJobSensor`` arguments naming the job of a ``BatchRunTasksOperator`` field by field."""
    output = fanout.output
    return {
        "job_id": output["job_id"],
        "task_id_prefix": output["task_id_prefix"],
        "expected_tasks": output["task_count"],
        "owns_job": output["owns_job"],
    }


__all__ = [
    "HANDLERS",
    "POOL",
    "PYTHON",
    "SMALL_GROUP",
    "SQUARE_WORKERS",
    "ensure_pool",
    "fanout_job",
    "on_pool",
    "ubuntu_pool_spec",
]
