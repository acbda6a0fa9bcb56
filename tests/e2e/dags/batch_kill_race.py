"""Harness for the Batch kill race: a fan-out of tasks that run until the waiting sensor is killed.

``wait`` defers to the triggerer and streams the first task's output into its log; the tests mark it
failed at the instant of deferral, while its trigger polls and while it prints that output, and check
that no task of the job keeps running: the trigger's ``on_kill`` terminates the job this run owns, and
``cleanup``, the fan-out's teardown, deletes it (the only stop when the trigger never ran).
"""

from __future__ import annotations

from airflow.sdk import DAG
from harness_parts import POOL, ensure_pool, on_pool

from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.sensors.batch import BatchJobSensor

with DAG(dag_id="batch_kill_race", **on_pool("batch-kill-race")):
    pool = ensure_pool()
    fanout = BatchRunTasksOperator(
        task_id="fanout",
        job={"pool_id": POOL},
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
