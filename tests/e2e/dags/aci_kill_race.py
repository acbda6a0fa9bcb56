"""Harness for the kill race: a container group that runs until the task is killed.

``run`` defers at once (the trigger creates the group and prints its logs into the task log); the
tests mark it failed at chosen moments and check that no group of the run is left.
"""

from __future__ import annotations

import sys

from airflow.sdk import DAG, Param

from airflow_azure_compute.operators.container_instances import ContainerInstancesRunGroupOperator

FOREVER = "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.2)"

with DAG(
    dag_id="aci_kill_race",
    schedule=None,
    catchup=False,
    render_template_as_native_obj=True,
    params={"command": Param([sys.executable, "-u", "-c", FOREVER], type="array")},
) as dag:
    ContainerInstancesRunGroupOperator(
        task_id="run",
        image="python:3.11",
        command="{{ params.command }}",
        poll_interval=0.5,
        logging_interval=0.5,
    )
