"""Durable Functions orchestrating work run by Azure Container Instances workers (seed 004).

What it shows:

* starting an orchestration (``durable_app/function_app.py``: ``compute_orchestrator``) with a
  templated JSON input and an instance id derived from the run, so a retry reattaches;
* the orchestrator fanning blocks out through Blob storage and a Storage queue;
* a container group of workers (``durable_app/worker.py``) taking the queue, writing results and
  raising ``BlockDone`` on the orchestration, with its logs streamed into the task log while deferred
  and secrets (storage connection string, Durable key) taken from a connection as secure values;
* waiting deferrably for the orchestration (progress from ``customStatus`` in the log), harvesting
  the output blobs, then purging the instance history and deleting the run's container groups
  whatever happened (``all_done``).

Connections: ``azure_compute_durable_default`` (function app + system key), ``azure_compute_aci_default``
(subscription, resource group, region), ``azure_compute_blob_default`` (the work's storage account) and
``durable_aci_worker`` (password = the Durable system key; extra ``storage_connection_string``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, TriggerRule, task

from airflow_azure_compute.operators.container_instances import (
    ContainerInstancesDeleteGroupsOperator,
    ContainerInstancesRunGroupOperator,
)
from airflow_azure_compute.operators.durable import (
    DurablePurgeOrchestrationOperator,
    DurableStartOrchestrationOperator,
)
from airflow_azure_compute.sensors.durable import DurableOrchestrationSensor

WORKER_SECRETS = {"STORAGE_CONNECTION_STRING": "storage_connection_string", "DURABLE_KEY": "password"}


def worker(index: int) -> dict[str, Any]:
    """One worker container; image, command and settings come from the run's params."""
    return {
        "name": f"worker-{index}",
        "image": "{{ params.worker_image }}",
        "command": "{{ params.worker_command }}",
        "cpu": 1.0,
        "memory_gb": 1.5,
        "environment": {
            "DURABLE_URL": "{{ conn.azure_compute_durable_default.host }}",
            "WORK_CONTAINER": "{{ params.container }}",
            "WORK_QUEUE": "{{ params.queue }}",
            "WORKER_IDLE_S": "{{ params.worker_idle_s }}",
        },
        "secure_environment": WORKER_SECRETS,
    }


def expected_total(blocks: int, block_size: int) -> int:
    """What the workers compute together: the sum of squares of 0 .. blocks * block_size - 1."""
    return sum(n * n for n in range(blocks * block_size))


with DAG(
    dag_id="durable_aci_pipeline",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    render_template_as_native_obj=True,
    tags=["azure-durable", "azure-aci", "example"],
    params={
        "blocks": Param(6, type="integer", minimum=1),
        "block_size": Param(50, type="integer", minimum=1),
        "container": Param("work", type="string"),
        "queue": Param("work-items", type="string"),
        "worker_image": Param("myregistry.azurecr.io/compute-worker:latest", type="string"),
        "worker_command": Param([], type="array", description="Override of the image entrypoint (argv)"),
        "worker_idle_s": Param(60, type="number", description="Workers exit after this long without work"),
    },
) as dag:
    # --8<-- [start:howto_durable_start]
    start = DurableStartOrchestrationOperator(
        task_id="start_orchestration",
        orchestrator="compute_orchestrator",
        input={
            "blocks": "{{ params.blocks }}",
            "block_size": "{{ params.block_size }}",
            "container": "{{ params.container }}",
            "queue": "{{ params.queue }}",
        },
    )
    # --8<-- [end:howto_durable_start]

    # --8<-- [start:howto_aci_run_group]
    workers = ContainerInstancesRunGroupOperator(
        task_id="run_workers",
        containers=[worker(0), worker(1)],
        secure_env_conn_id="durable_aci_worker",
        restart_policy="Never",
        cleanup="keep",  # deleted by delete_groups at the end, whatever happens
        poll_interval=2,
        logging_interval=30,
        timeout=timedelta(hours=1),
    )
    # --8<-- [end:howto_aci_run_group]

    # --8<-- [start:howto_durable_sensor]
    wait = DurableOrchestrationSensor(
        task_id="wait_orchestration",
        instance_id=start.output,
        poke_interval=2,
        timeout=3600,
        on_suspended="wait",
    )
    # --8<-- [end:howto_durable_sensor]

    @task
    def harvest(result: dict[str, Any]) -> dict[str, Any]:
        """Read every output blob; check the totals against the orchestration's output."""
        from airflow_azure_compute.hooks.blob import BlobHook

        hook = BlobHook()
        sums = [json.loads(hook.read_bytes(result["container"], name))["sum"] for name in result["outputs"]]
        if sum(sums) != result["total"]:
            raise ValueError(f"output blobs sum to {sum(sums)}, the orchestration says {result['total']}")
        return {"blocks": len(sums), "total": sum(sums)}

    # --8<-- [start:howto_durable_purge]
    purge = DurablePurgeOrchestrationOperator(
        task_id="purge_instance",
        instance_ids=start.output,
        terminate=True,
        trigger_rule=TriggerRule.ALL_DONE,
    )
    # --8<-- [end:howto_durable_purge]
    delete_groups = ContainerInstancesDeleteGroupsOperator(
        task_id="delete_groups", created_by_this_run=True, trigger_rule=TriggerRule.ALL_DONE
    )

    harvested = harvest(wait.output)
    start >> workers >> wait
    harvested >> [purge, delete_groups]
    # Teardowns: they run whatever happened, and do not decide the run's state.
    purge.as_teardown(setups=start)
    delete_groups.as_teardown(setups=start)
