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
from typing import Any

from airflow.sdk import DAG, task
from harness_parts import POOL, PYTHON, SMALL_GROUP, SQUARE_WORKERS, ensure_pool, fanout_job, on_pool

from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.operators.batch_job import BatchEnsureJobOperator
from airflow_azure_compute.operators.batch_mpi import BatchRunMultiInstanceTaskOperator
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


def double(x: int) -> int:
    return 2 * x


with DAG(
    dag_id="portal_links",
    start_date=datetime(2026, 1, 1),
    **on_pool("portal-links"),
) as dag:
    pool = ensure_pool(
        nodes=2,
        poll_interval=1,
        spec={"inter_node_communication": True, "task_slots_per_node": 1},
        deferrable=False,
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
        **fanout_job(fanout),
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
        task_id="workers", items=[1, 2], deferrable=False, **SQUARE_WORKERS
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
