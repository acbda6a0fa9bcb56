"""One task of every operator and sensor class of the provider that declares a portal link.

Every task waits on the worker (``deferrable=False``): the test is about the links each finished task
instance leaves, not about deferral, and the emulated work here finishes within seconds (see the
note on NODE_BOOT_S in ``test_real_airflow.py``). ``no_link`` fails before it creates anything, so
it persists no link fields: its link must render empty, not fail. ``groups`` is mapped: each map
index links its own group. The teardowns delete what the run created.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.operators.batch_job import BatchEnsureJobOperator
from airflow_azure_compute.operators.batch_mpi import BatchRunMultiInstanceTaskOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.operators.batch_pool_resize import BatchResizePoolOperator
from airflow_azure_compute.operators.batch_python import BatchMapOperator
from airflow_azure_compute.operators.container_instances import (
    ContainerInstancesDeleteGroupsOperator,
    ContainerInstancesRunGroupOperator,
)
from airflow_azure_compute.operators.durable import (
    DurablePurgeOrchestrationOperator,
    DurableStartOrchestrationOperator,
)
from airflow_azure_compute.operators.worker_pool import ContainerInstancesWorkerPoolOperator
from airflow_azure_compute.sensors.batch import BatchJobSensor
from airflow_azure_compute.sensors.container_instances import ContainerGroupSensor
from airflow_azure_compute.sensors.durable import DurableOrchestrationSensor

HANDLERS = Path(__file__).resolve().parents[2] / "integration" / "pool_work" / "handlers.py"
POOL = "{{ params.pool_id }}"
PYTHON = "{{ params.python }}"
SMALL_GROUP = {"image": "python:3.11-slim", "cpu": 0.5, "memory_gb": 0.5, "poll_interval": 0.5}


def double(x: int) -> int:
    return 2 * x


with DAG(
    dag_id="portal_links",
    schedule=None,
    catchup=False,
    start_date=datetime(2026, 1, 1),
    params={"pool_id": Param("portal-links", type="string"), "python": Param("python3", type="string")},
) as dag:
    pool = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={
            "pool_id": POOL,
            "vm_size": "standard_d2s_v5",
            "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
            "node_agent_sku_id": "batch.node.ubuntu 22.04",
            "dedicated_nodes": 2,
            "inter_node_communication": True,
            "task_slots_per_node": 1,
        },
        if_exists="reuse",
        min_ready_nodes=2,
        deferrable=False,
        poll_interval=1,
    )
    resize = BatchResizePoolOperator(
        task_id="resize", pool_id=POOL, dedicated_nodes=2, deferrable=False, poll_interval=1
    )
    job = BatchEnsureJobOperator(task_id="job", job={"pool_id": POOL})
    mpi = BatchRunMultiInstanceTaskOperator(
        task_id="mpi",
        job={"pool_id": POOL},
        number_of_instances=2,
        coordination_command_line=f'{PYTHON} -c "print(1)"',
        command_line=f'{PYTHON} -c "print(2)"',
        deferrable=False,
        poll_interval=1,
    )
    fanout = BatchRunTasksOperator(
        task_id="fanout",
        job={"pool_id": POOL},
        manifest=[{"name": "hello", "command_line": f'{PYTHON} -c "print(3)"'}],
    )
    wait = BatchJobSensor(
        task_id="wait",
        job_id=fanout.output["job_id"],
        task_id_prefix=fanout.output["task_id_prefix"],
        expected_tasks=fanout.output["task_count"],
        owns_job=fanout.output["owns_job"],
        deferrable=False,
        poke_interval=1,
    )
    mapped = BatchMapOperator(
        task_id="map", python_callable=double, items=[1, 2], pool_id=POOL, python=PYTHON, deferrable=False,
        poll_interval=1,
    )  # fmt: skip

    @task.azure_batch(pool_id=POOL, python=PYTHON, deferrable=False, poll_interval=1)
    def python_on_batch() -> int:
        return 4

    group = ContainerInstancesRunGroupOperator(
        task_id="group",
        command=[sys.executable, "-c", "print(5)"],
        cleanup="keep",
        logging_interval=None,
        deferrable=False,
        **SMALL_GROUP,
    )
    groups = ContainerInstancesRunGroupOperator.partial(
        task_id="groups", cleanup="keep", logging_interval=None, deferrable=False, **SMALL_GROUP
    ).expand(command=[[sys.executable, "-c", f"print({i})"] for i in (6, 7)])
    sense_group = ContainerGroupSensor(
        task_id="sense_group",
        group_name="{{ ti.xcom_pull(task_ids='group')['group_name'] }}",
        deferrable=False,
        poke_interval=0.5,
    )
    workers = ContainerInstancesWorkerPoolOperator(
        task_id="workers",
        items=[1, 2],
        image="python:3.11-slim",
        command=[
            sys.executable,
            "-u",
            "-m",
            "airflow_azure_compute.runtime.queue_worker",
            f"{HANDLERS}:square",
        ],
        workers=1,
        worker_idle=1.0,
        visibility_timeout=30,
        cpu=0.5,
        memory_gb=0.5,
        deferrable=False,
        poll_interval=0.5,
    )
    no_link = ContainerInstancesRunGroupOperator(
        task_id="no_link", group_name="Not A Valid Name!", command=["true"], deferrable=False, **SMALL_GROUP
    )

    start = DurableStartOrchestrationOperator(
        task_id="start",
        orchestrator="compute_orchestrator",  # the example app's: it plans, then waits for events
        input={"blocks": 1, "block_size": 1},
        wait_for_completion=False,
    )
    sense = DurableOrchestrationSensor(
        task_id="sense",
        instance_id=start.output,
        until_custom_status={"stage": "dispatch"},
        deferrable=False,
        poke_interval=0.5,
    )

    cleanup_batch = BatchCleanupOperator(task_id="cleanup_batch", pool_ids=[POOL])
    delete_groups = ContainerInstancesDeleteGroupsOperator(task_id="delete_groups", created_by_this_run=True)
    purge = DurablePurgeOrchestrationOperator(task_id="purge", created_by_this_run=True, terminate=True)

    batch_work: list[Any] = [job, mpi, wait, mapped, python_on_batch()]
    pool >> resize >> batch_work
    fanout >> wait
    resize >> fanout
    batch_work >> cleanup_batch.as_teardown(setups=[pool])
    group >> sense_group
    [sense_group, workers, no_link] >> delete_groups.as_teardown(setups=[group, groups])
    sense >> purge.as_teardown(setups=[start])
