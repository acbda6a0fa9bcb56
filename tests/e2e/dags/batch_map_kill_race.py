"""Harness for the Batch map's kill race: a map of items whose function runs until the task is killed.

``map`` holds its job while it adds the tasks, defers, and its trigger releases the job; the tests mark
it failed while it submits, at the instant of deferral and while its wait runs, and check that no task
of its job runs afterwards. ``cleanup`` (``all_done``) deletes the job, held or not.
"""

from __future__ import annotations

import sys

from airflow.sdk import DAG, Param

from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.operators.batch_python import BatchMapOperator


def tick_forever(item: int) -> int:
    import time

    while True:
        print("tick", item, flush=True)
        time.sleep(0.2)


with DAG(
    dag_id="batch_map_kill_race",
    schedule=None,
    catchup=False,
    params={
        "pool_id": Param("batch-map-kill-race", type="string"),
        "python": Param("python3", type="string"),
    },
):
    pool = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={
            "pool_id": "{{ params.pool_id }}",
            "vm_size": "standard_d2s_v5",
            "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
            "node_agent_sku_id": "batch.node.ubuntu 22.04",
            "dedicated_nodes": 1,
            "task_slots_per_node": 4,
            "metadata": {"python_version": "{}.{}".format(*sys.version_info[:2])},
        },
        if_exists="reuse",
        min_ready_nodes=1,
        poll_interval=1,
    )
    work = BatchMapOperator(
        task_id="map",
        python_callable=tick_forever,
        items=[0, 1, 2],
        pool_id="{{ params.pool_id }}",
        python="{{ params.python }}",
        poll_interval=1,
    )
    pool >> work >> BatchCleanupOperator(task_id="cleanup", python_task_ids=["map"])
