"""Harness for the Batch map's kill race: a map of items whose function runs until the task is killed.

``map`` holds its job while it adds the tasks, defers, and its trigger releases the job; the tests mark
it failed while it submits, at the instant of deferral and while its wait runs, and check that no task
of its job runs afterwards. ``cleanup`` (``all_done``) deletes the job, held or not.
"""

from __future__ import annotations

import sys

from airflow.sdk import DAG
from harness_parts import POOL, PYTHON, ensure_pool, on_pool

from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_python import BatchMapOperator


def tick_forever(item: int) -> int:
    import time

    while True:
        print("tick", item, flush=True)
        time.sleep(0.2)


with DAG(dag_id="batch_map_kill_race", **on_pool("batch-map-kill-race")):
    pool = ensure_pool(
        poll_interval=1,
        spec={
            "task_slots_per_node": 4,
            "metadata": {"python_version": "{}.{}".format(*sys.version_info[:2])},
        },
    )
    work = BatchMapOperator(
        task_id="map",
        python_callable=tick_forever,
        items=[0, 1, 2],
        pool_id=POOL,
        python=PYTHON,
        poll_interval=1,
    )
    pool >> work >> BatchCleanupOperator(task_id="cleanup", python_task_ids=["map"])
