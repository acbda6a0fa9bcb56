"""Every Container Instances and Durable operator and sensor under ``.partial().expand()`` /
``.expand_kwargs()``.

Two container groups run per mapped operator (one per map index, each under its own derived name),
a mapped sensor waits on the ``expand`` ones, and one teardown deletes every group the run created; a
mapped worker pool runs one small pool (its own queue and worker) per map index.
Two orchestrations are started and sensed per map index, two long-running ones are suspended then
terminated by mapped actions, and one teardown purges every instance of the run.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task
from harness_parts import SMALL_GROUP, SQUARE_WORKERS

from airflow_azure_compute.operators.container_instances import (
    ContainerInstancesDeleteGroupsOperator,
    ContainerInstancesRunGroupOperator,
)
from airflow_azure_compute.operators.durable import (
    DurableInstanceActionOperator,
    DurablePurgeOrchestrationOperator,
    DurableStartOrchestrationOperator,
)
from airflow_azure_compute.operators.worker_pool import ContainerInstancesWorkerPoolOperator
from airflow_azure_compute.sensors.container_instances import ContainerGroupSensor
from airflow_azure_compute.sensors.durable import DurableOrchestrationSensor

GREETINGS = [["Tokyo"], ["Seattle", "London"]]
POOL_ITEMS = [[1, 2, 3], [4, 5]]

with DAG(dag_id="mapped_aci_durable", start_date=datetime(2026, 1, 1), schedule=None) as dag:

    @task
    def commands() -> list[list[str]]:
        """One small program per map index (the emulator runs a container's command as a process)."""
        return [[sys.executable, "-c", f"print('item {i}')"] for i in range(2)]

    @task
    def command_kwargs() -> list[dict[str, Any]]:
        code = "import os; print('env', os.environ['ITEM'])"
        return [{"command": [sys.executable, "-c", code], "environment": {"ITEM": str(i)}} for i in range(2)]

    group = ContainerInstancesRunGroupOperator.partial(
        task_id="group", cleanup="keep", logging_interval=None, **SMALL_GROUP
    ).expand(command=commands())
    group_kwargs = ContainerInstancesRunGroupOperator.partial(
        task_id="group_kwargs", logging_interval=None, **SMALL_GROUP
    ).expand_kwargs(command_kwargs())
    sense_group = ContainerGroupSensor.partial(task_id="sense_group", poke_interval=0.5).expand(
        group_name=group.output.map(lambda result: result["group_name"])
    )
    worker_pool = ContainerInstancesWorkerPoolOperator.partial(
        task_id="worker_pool", **SQUARE_WORKERS
    ).expand(items=POOL_ITEMS)
    delete_groups = ContainerInstancesDeleteGroupsOperator(task_id="delete_groups", created_by_this_run=True)

    start = DurableStartOrchestrationOperator.partial(
        task_id="start", orchestrator="chain_orchestrator"
    ).expand(input=GREETINGS)
    sense = DurableOrchestrationSensor.partial(task_id="sense", poke_interval=0.5).expand(
        instance_id=start.output
    )
    start_long = DurableStartOrchestrationOperator.partial(task_id="start_long").expand_kwargs(
        [
            {"orchestrator": "ticking_orchestrator", "input": {"ticks": 10_000, "pause_s": 0.2}},
            {"orchestrator": "approval_orchestrator", "input": {"timeout_s": 600}},
        ]
    )
    suspend = DurableInstanceActionOperator.partial(task_id="suspend", action="suspend").expand(
        instance_id=start_long.output
    )
    terminate = DurableInstanceActionOperator.partial(task_id="terminate").expand_kwargs(
        suspend.output.map(lambda instance_id: {"instance_id": instance_id, "action": "terminate"})
    )
    purge = DurablePurgeOrchestrationOperator(task_id="purge", created_by_this_run=True, terminate=True)

    [sense_group, group_kwargs, worker_pool] >> delete_groups.as_teardown(setups=[group, group_kwargs])
    [sense, terminate] >> purge.as_teardown(setups=[start, start_long])
