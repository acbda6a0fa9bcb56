"""pool -> fan-out -> wait, and a Python map whose results stay in a manifest (used by test_openlineage.py).

Every output lands in the run's workspace; the run config names the pool.
"""

from __future__ import annotations

import sys

from airflow.sdk import DAG

from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.operators.batch_python import BatchMapOperator
from airflow_azure_compute.sensors.batch import BatchJobSensor


def double(x: int) -> int:
    return 2 * x


POOL = "{{ dag_run.conf['pool'] }}"

with DAG(dag_id="batch_lineage_test", schedule=None) as dag:
    pool = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={
            "pool_id": POOL,
            "vm_size": "standard_d2s_v5",
            "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
            "node_agent_sku_id": "batch.node.ubuntu 22.04",
            "dedicated_nodes": 1,
            "task_slots_per_node": 4,
            "metadata": {"python_version": "{}.{}".format(*sys.version_info[:2])},
        },
        min_ready_nodes=1,
        poll_interval=0.2,
    )
    fanout = BatchRunTasksOperator(
        task_id="fanout",
        job={"pool_id": POOL},
        items=["a", "b"],
        output_pattern="out/*",
        command_line="/bin/sh -c 'mkdir -p out && echo {item} > out/r.txt'",
    )
    wait = BatchJobSensor(task_id="wait", fanout=fanout.output, poke_interval=0.2, deferrable=False)
    square = BatchMapOperator(
        task_id="map",
        python_callable=double,
        items=[1, 2, 3],
        pool_id=POOL,
        results="manifest",
        poll_interval=0.2,
        deferrable=False,
    )
    pool >> fanout >> wait
    pool >> square
