"""A numbered task workflow from a JSON manifest on an existing Batch pool (seed 003).

What it shows:

* reusing a pool that already exists (``if_exists="reuse"`` checks its shape and names any difference;
  the cleanup leaves a pool this run did not create);
* tasks from a JSON task manifest (``batch_programs/workflow_tasks.json``): step 2 depends on step 1
  and step 3 on step 2 (Batch task dependencies), each step reading the previous one's result file;
* result files uploaded to Blob by each task (create/write SAS), the last one read back and checked.

Trigger it with a run config, e.g. ``{"pool_id": "my-pool", "start": 7}``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_azure_compute.ids import derive_id
from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.operators.blob_upload import BlobUploadOperator
from airflow_azure_compute.sensors.batch import BatchJobSensor

PROGRAMS = Path(__file__).resolve().parent / "batch_programs"
#: The manifest, read when the DAG is parsed; its Jinja (``params.python``) is rendered at run time.
MANIFEST = (PROGRAMS / "workflow_tasks.json").read_text(encoding="utf-8")


def pool_shape(pool_id: str) -> dict[str, Any]:
    """The shape the workflow expects of the shared pool (a PoolSpec mapping)."""
    return {
        "pool_id": pool_id,
        "vm_size": "standard_d2s_v5",
        "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
        "node_agent_sku_id": "batch.node.ubuntu 22.04",
        "dedicated_nodes": 1,
    }


def expected_chain(start: int, steps: int = 3) -> int:
    value = start
    for step in range(1, steps + 1):
        value = value * 3 + step
    return value


with DAG(
    dag_id="batch_manifest_workflow",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["azure-batch", "example"],
    params={
        "pool_id": Param("shared-workflow-pool", type="string"),
        "start": Param(5, type="integer"),
        "python": Param("python3", type="string", description="Interpreter on the nodes"),
    },
) as dag:

    @task
    def storage(**context: Any) -> str:
        ti = context["ti"]
        return derive_id("wf", ti.dag_id.replace("_", "-"), ti.run_id, max_len=63, lower=True)

    container = storage()

    upload = BlobUploadOperator(
        task_id="upload_program",
        source=str(PROGRAMS / "workflow_step.py"),
        container=container,
        prefix="program/",
    )

    @task
    def shape(**context: Any) -> dict[str, Any]:
        return pool_shape(context["params"]["pool_id"])

    pool = BatchEnsurePoolOperator(task_id="pool", pool_spec=shape(), if_exists="reuse", min_ready_nodes=1)

    # --8<-- [start:howto_operator_batch_manifest]
    steps = BatchRunTasksOperator(
        task_id="steps",
        job={"pool_id": "{{ params.pool_id }}", "uses_task_dependencies": True, "max_task_retries": 1},
        manifest=MANIFEST,
        input_container=container,
        output_container=container,
        output_prefix="results/",
        output_pattern="out/*",
    )
    # --8<-- [end:howto_operator_batch_manifest]

    wait = BatchJobSensor(
        task_id="wait",
        job_id=steps.output["job_id"],
        task_id_prefix=steps.output["task_id_prefix"],
        expected_tasks=steps.output["task_count"],
        owns_job=steps.output["owns_job"],
        failure_policy="run_all",
        poke_interval=2,
    )

    @task
    def final_result(container: str, fanout: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Read the last step's result file from Blob and check the chain of values."""
        from airflow_azure_compute.hooks.blob import BlobHook

        last = f"{fanout['output_prefix']}{fanout['task_ids'][-1]}/result.json"
        result = json.loads(BlobHook().read_bytes(container, last))
        want = expected_chain(context["params"]["start"])
        if result["value"] != want:
            raise ValueError(f"step 3 computed {result['value']}, expected {want}")
        return result

    cleanup = BatchCleanupOperator(
        task_id="cleanup",
        fanout_task_ids=["steps"],
        pool_ids=["{{ params.pool_id }}"],
        containers=[container],
    )

    done = final_result(container, steps.output)
    [upload, pool] >> steps >> wait >> done
    done >> cleanup.as_teardown(setups=[pool])
