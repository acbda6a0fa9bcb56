"""A numbered task workflow from a JSON manifest on an existing Batch pool (seed 003).

What it shows:

* reusing a pool that already exists (``if_exists="reuse"`` checks its shape and names any difference;
  the cleanup leaves a pool this run did not create);
* tasks from a JSON task manifest (``batch_programs/workflow_tasks.json``): step 2 depends on step 1
  and step 3 on step 2 (Batch task dependencies), each step reading the previous one's result file;
* result files uploaded to Blob by each task (create/write SAS) in the run's workspace, handed back to
  the DAG in step order through XCom by the merge, and the last one checked;
* a real schedule: it runs every day at 06:00, each run in its own workspace.

Trigger it with a run config, e.g. ``{"pool_id": "my-pool", "start": 7}``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.operators.blob_merge import BlobMergeOperator
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
    schedule="0 6 * * *",
    catchup=False,
    tags=["azure-batch", "example"],
    params={
        "pool_id": Param("shared-workflow-pool", type="string"),
        "start": Param(5, type="integer"),
        "python": Param("python3", type="string", description="Interpreter on the nodes"),
    },
) as dag:
    upload = BlobUploadOperator(
        task_id="upload_program", source=str(PROGRAMS / "workflow_step.py"), prefix="program/"
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
        output_pattern="out/*",
    )
    # --8<-- [end:howto_operator_batch_manifest]

    wait = BatchJobSensor(task_id="wait", fanout=steps.output, failure_policy="run_all", poke_interval=2)
    results = BlobMergeOperator(task_id="results", fanout=steps.output, xcom_content="json")

    @task
    def final_result(merged: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Check the chain of values: the steps' results come back in step order."""
        result = merged["content"][-1]
        want = expected_chain(context["params"]["start"])
        if result["value"] != want:
            raise ValueError(f"step 3 computed {result['value']}, expected {want}")
        return result

    cleanup = BatchCleanupOperator(
        task_id="cleanup", fanout_task_ids=["steps"], pool_ids=["{{ params.pool_id }}"]
    )

    done = final_result(results.output)
    [upload, pool] >> steps >> wait >> results
    done >> cleanup.as_teardown(setups=[pool])
