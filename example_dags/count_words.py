"""Count the words of a text file every day on Azure Batch: the README's DAG, runnable as it stands.

Every daily run works in a workspace of its own (see ``docs/workspace.md``): the split, the program,
the tasks' outputs and the merge live in containers named from the dag id and run id, so consecutive
or overlapping runs never see each other's blobs, and the cleanup deletes exactly the run's job and
workspace. The pool is shared by the runs (``if_exists="reuse"``); a run deletes it only when the run
that created it was triggered with ``{"delete_pool": true}``.

The input (``batch_programs/words.txt``) and the program (``batch_programs/word_count.py``) sit beside
the DAG. Each task's result comes back to the DAG through XCom: no read-back task.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import Param, dag, task

from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.operators.blob_merge import BlobMergeOperator
from airflow_azure_compute.operators.blob_split import BlobSplitOperator
from airflow_azure_compute.operators.blob_upload import BlobUploadOperator
from airflow_azure_compute.sensors.batch import BatchJobSensor

FILES = Path(__file__).resolve().parent / "batch_programs"


@dag(
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=2,
    tags=["azure-batch", "example"],
    params={
        "chunks": Param(4, type="integer", minimum=1),
        "pool_id": Param("words", type="string"),
        "python": Param("python3", type="string", description="Interpreter on the nodes"),
        "delete_pool": Param(False, type="boolean", description="Delete the pool if this run created it"),
    },
)
def count_words():
    split = BlobSplitOperator(
        task_id="split", source_path=str(FILES / "words.txt"), mode="lines", chunk_count="{{ params.chunks }}"
    )
    program = BlobUploadOperator(task_id="program", source=str(FILES / "word_count.py"), prefix="program/")
    pool = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={"pool_id": "{{ params.pool_id }}", "vm_size": "standard_d2s_v5",
                   "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
                   "node_agent_sku_id": "batch.node.ubuntu 22.04", "dedicated_nodes": 2},
        if_exists="reuse",
    )  # fmt: skip
    fanout = BatchRunTasksOperator(
        task_id="fanout",
        job={"pool_id": "{{ params.pool_id }}", "max_task_retries": 2},
        items=split.output["chunks"],
        command_line="{{ params.python }} word_count.py {chunk_file} out/{chunk_stem}.json",
        common_files=["program/word_count.py"],
        output_pattern="out/*.json",
    )
    wait = BatchJobSensor(task_id="wait", fanout=fanout.output, poke_interval=2)
    merge = BlobMergeOperator(task_id="merge", fanout=fanout.output, xcom_content="json")
    cleanup = BatchCleanupOperator(
        task_id="cleanup",
        fanout_task_ids=["fanout"],
        pool_ids=["{{ params.pool_id if params.delete_pool else '' }}"],
    )

    @task
    def total(merged: dict[str, Any]) -> dict[str, int]:
        """Add up the per-chunk counts (one JSON result per task, in chunk order)."""
        return {key: sum(r[key] for r in merged["content"]) for key in ("lines", "words")}

    [split, program, pool] >> fanout >> wait >> merge
    total(merge.output) >> cleanup.as_teardown(setups=[pool])


count_words()
