"""Harness for the Batch kill race: a fan-out of tasks that run until the waiting sensor is killed.

``wait`` defers to the triggerer and streams the first task's output into its log; the tests mark it
failed at the instant of deferral, while its trigger polls and while it prints that output, and check
that no task of the job keeps running: the trigger's ``on_kill`` terminates the job this run owns, and
``cleanup``, the fan-out's teardown, deletes it (the only stop when the trigger never ran).
"""

from __future__ import annotations

from airflow.sdk import DAG, Param

from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.sensors.batch import BatchJobSensor

with DAG(
    dag_id="batch_kill_race",
    schedule=None,
    catchup=False,
    params={"pool_id": Param("batch-kill-race", type="string"), "python": Param("python3", type="string")},
):
    pool = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={
            "pool_id": "{{ params.pool_id }}",
            "vm_size": "standard_d2s_v5",
            "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
            "node_agent_sku_id": "batch.node.ubuntu 22.04",
            "dedicated_nodes": 1,
        },
        if_exists="reuse",
        min_ready_nodes=1,
        poll_interval=2,
    )
    fanout = BatchRunTasksOperator(
        task_id="fanout",
        job={"pool_id": "{{ params.pool_id }}"},
        items=[0, 1, 2],
        command_line=(
            "{{ params.python }} -u -c "
            "\"import time; [print('tick', flush=True) or time.sleep(0.2) for _ in iter(int, 1)]\""
        ),
    )
    wait = BatchJobSensor(
        task_id="wait", fanout=fanout.output, deferrable=True, poke_interval=1, stream_output=[0]
    )
    cleanup = BatchCleanupOperator(task_id="cleanup", fanout_task_ids=["fanout"], workspace=False)
    pool >> fanout >> wait >> cleanup.as_teardown(setups=fanout)
