"""Every Blob and Batch operator and the sensor under ``.partial().expand()`` / ``.expand_kwargs()``.

Two inputs are split by a mapped split, each split's chunks fanned out by a mapped fan-out (one job per
map index), waited on by a mapped sensor and merged back to XCom by two mapped merges (``expand`` and
``expand_kwargs``); one cleanup finds the jobs of every map index and the run's workspace.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.operators.blob_merge import BlobMergeOperator
from airflow_azure_compute.operators.blob_split import BlobSplitOperator
from airflow_azure_compute.operators.blob_upload import BlobUploadOperator
from airflow_azure_compute.sensors.batch import BatchJobSensor

PROGRAM = Path(__file__).resolve().parent / "batch_programs" / "word_count.py"


def lines_of(index: int) -> list[str]:
    return [f"input {index} line {i} " + "word " * i for i in range(6 + index)]


with DAG(
    dag_id="mapped_workspace",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    params={"pool_id": Param("mapped-pool", type="string"), "python": Param("python3", type="string")},
) as dag:

    @task
    def inputs() -> list[str]:
        paths = []
        for index in range(2):
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
                f.write("\n".join(lines_of(index)) + "\n")
            paths.append(f.name)
        return paths

    split = BlobSplitOperator.partial(task_id="split", chunk_count=3).expand(source_path=inputs())
    program = BlobUploadOperator.partial(task_id="program", prefix="program/").expand(source=[str(PROGRAM)])
    pool = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={"pool_id": "{{ params.pool_id }}", "vm_size": "standard_d2s_v5",
                   "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
                   "node_agent_sku_id": "batch.node.ubuntu 22.04", "dedicated_nodes": 1},
    )  # fmt: skip
    fanout = BatchRunTasksOperator.partial(
        task_id="fanout",
        job={"pool_id": "{{ params.pool_id }}"},
        command_line="{{ params.python }} word_count.py {chunk_file} out/{chunk_stem}.json",
        common_files=["program/word_count.py"],
        output_pattern="out/*.json",
    ).expand(items=split.output.map(lambda result: result["chunks"]))
    wait = BatchJobSensor.partial(task_id="wait", poke_interval=1).expand(fanout=fanout.output)
    merge = BlobMergeOperator.partial(task_id="merge", xcom_content="json").expand(fanout=fanout.output)
    merge_kwargs = BlobMergeOperator.partial(task_id="merge_kwargs").expand_kwargs(
        fanout.output.map(lambda f: {"fanout": f, "xcom_content": "shards"})
    )
    cleanup = BatchCleanupOperator(
        task_id="cleanup", fanout_task_ids=["fanout"], pool_ids=["{{ params.pool_id }}"]
    )

    @task
    def totals(merged: list[dict[str, Any]]) -> list[int]:
        return [sum(r["lines"] for r in m["content"]) for m in merged]

    [program, pool] >> fanout
    wait >> [merge, merge_kwargs]
    totals(merge.output) >> cleanup.as_teardown(setups=[pool])
    merge_kwargs >> cleanup
