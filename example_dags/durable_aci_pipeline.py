"""Durable Functions orchestrating work run by a Container Instances worker pool (seed 004).

What it shows:

* starting an orchestration (``durable_app/function_app.py``: ``compute_orchestrator``) with a
  templated JSON input and an instance id derived from the run, so a retry reattaches;
* waiting deferrably until the orchestrator has published its plan (``customStatus`` stage
  ``dispatch``), then handing the planned blocks to a worker pool: one task enqueues them on the
  run's own Storage queue (inputs staged in the run workspace), starts N Container Instances workers
  (``durable_app/worker.py`` served by the provider's queue worker), logs ``n/N items done``, and
  returns the results in block order; the workers signal each block to the orchestration
  (``BlockDone`` events), and the pool's queue, blobs and workers are deleted with the task;
* waiting for the orchestration, harvesting (the pool's results against the orchestration's output),
  then purging every instance this run started, deleting its container groups and its run
  workspace, whatever happened (teardowns);
* a daily schedule: the instance id, the queue, the workers and the workspace all derive from the
  dag and run, so runs on different days, or at the same time, share nothing and each cleans up only
  its own.

Connections: ``azure_compute_durable_default`` (function app + system key), ``azure_compute_aci_default``
(subscription, resource group, region), ``azure_compute_blob_default`` (the Storage account of the run
workspace and the pool's queue; it needs an account key) and ``durable_aci_worker`` (password = the
Durable system key the workers use to raise events).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, TriggerRule, task

from airflow_azure_compute.operators.blob_cleanup import BlobCleanupOperator
from airflow_azure_compute.operators.container_instances import ContainerInstancesDeleteGroupsOperator
from airflow_azure_compute.operators.durable import (
    DurablePurgeOrchestrationOperator,
    DurableStartOrchestrationOperator,
)
from airflow_azure_compute.operators.worker_pool import ContainerInstancesWorkerPoolOperator
from airflow_azure_compute.sensors.durable import DurableOrchestrationSensor


def expected_total(blocks: int, block_size: int) -> int:
    """What the workers compute together: the sum of squares of 0 .. blocks * block_size - 1."""
    return sum(n * n for n in range(blocks * block_size))


with DAG(
    dag_id="durable_aci_pipeline",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    render_template_as_native_obj=True,
    tags=["azure-durable", "azure-aci", "example"],
    params={
        "blocks": Param(6, type="integer", minimum=1),
        "block_size": Param(50, type="integer", minimum=1),
        "workers": Param(2, type="integer", minimum=1, description="Container Instances workers"),
        "worker_image": Param("myregistry.azurecr.io/compute-worker:latest", type="string"),
        "worker_command": Param(
            ["python", "-m", "airflow_azure_compute.runtime.queue_worker", "/app/worker.py:compute"],
            type="array",
            description="The workers' argv (the image's entrypoint by default)",
        ),
        "worker_idle_s": Param(30, type="number", description="Workers exit after this long without work"),
    },
) as dag:
    # --8<-- [start:howto_durable_start]
    start = DurableStartOrchestrationOperator(
        task_id="start_orchestration",
        orchestrator="compute_orchestrator",
        input={"blocks": "{{ params.blocks }}", "block_size": "{{ params.block_size }}"},
    )
    # --8<-- [end:howto_durable_start]

    # --8<-- [start:howto_durable_custom_status]
    planned = DurableOrchestrationSensor(
        task_id="wait_for_plan",
        instance_id=start.output,
        until_custom_status={"stage": "dispatch"},
        poke_interval=1,
        timeout=600,
    )
    # --8<-- [end:howto_durable_custom_status]

    # --8<-- [start:howto_aci_worker_pool]
    compute = ContainerInstancesWorkerPoolOperator(
        task_id="compute_blocks",
        items="{{ ti.xcom_pull(task_ids='wait_for_plan')['blocks'] }}",
        image="{{ params.worker_image }}",
        command="{{ params.worker_command }}",
        workers="{{ params.workers }}",
        environment={"DURABLE_URL": "{{ conn.azure_compute_durable_default.host }}"},
        secure_environment={"DURABLE_KEY": "password"},
        secure_env_conn_id="durable_aci_worker",
        worker_idle="{{ params.worker_idle_s }}",
        poll_interval=2,
        timeout=timedelta(hours=1),
    )
    # --8<-- [end:howto_aci_worker_pool]

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
    def harvest(results: list[dict[str, Any]], orchestration: dict[str, Any]) -> dict[str, Any]:
        """The pool's results (in block order) must agree with what the orchestration was told."""
        sums = [r["sum"] for r in results]
        if sums != orchestration["sums"] or sum(sums) != orchestration["total"]:
            raise ValueError(
                f"the workers computed {sums}, the orchestration recorded {orchestration['sums']}"
            )
        return {"blocks": len(sums), "total": sum(sums)}

    # --8<-- [start:howto_durable_purge]
    purge = DurablePurgeOrchestrationOperator(
        task_id="purge_instances",
        created_by_this_run=True,
        terminate=True,
        trigger_rule=TriggerRule.ALL_DONE,
    )
    # --8<-- [end:howto_durable_purge]
    delete_groups = ContainerInstancesDeleteGroupsOperator(
        task_id="delete_groups", created_by_this_run=True, trigger_rule=TriggerRule.ALL_DONE
    )

    delete_workspace = BlobCleanupOperator(task_id="delete_workspace")

    harvested = harvest(compute.output, wait.output)
    start >> planned >> compute >> wait  # the orchestration ends once the workers reported every block
    harvested >> [purge, delete_groups, delete_workspace]
    # Teardowns: they run whatever happened, and do not decide the run's state.
    purge.as_teardown(setups=start)
    delete_groups.as_teardown(setups=start)
    delete_workspace.as_teardown(setups=compute)
