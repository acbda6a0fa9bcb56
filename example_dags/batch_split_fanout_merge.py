"""Split → upload → pool → fan-out → deferred wait → merge → cleanup on Azure Batch (seed 002).

What it shows:

* an input of ``key,value`` records split into chunks on Blob Storage (names only go through XCom);
* a small Python program shipped as a resource file (read-only SAS) next to each chunk;
* a pool created or reused with an **autoscale formula** (and, with ``params.container_image``, a
  container configuration plus container task settings; registry credentials come from the Airflow
  connection named in ``params.registry_conn_id``, never from a template);
* a job with task retries and one task per chunk, submitted in bulk with deterministic ids;
* a deferred wait whose poll is one ``taskcounts`` request whatever the number of tasks;
* the per-chunk outputs (create/write SAS) merged in chunk order and handed to the DAG through XCom,
  checked against a local computation;
* no container or prefix named anywhere: every run works in its own workspace, so runs never collide;
* cleanup as a teardown that deletes only what this run created, its workspace included; the pool is
  shared by overlapping runs (``max_active_runs=2``) through leases, and goes with the last of them.

It runs every day; trigger it from the UI (the form's defaults work) or with a run config, e.g.
``{"records": 20000, "chunks": 16}``. Locally it runs against the emulator and Azurite (``make demo``).
"""

from __future__ import annotations

import random
import tempfile
from collections import defaultdict
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

PROGRAMS = Path(__file__).resolve().parent / "batch_programs"
KEYS = ("alpha", "beta", "gamma", "delta", "epsilon")


def make_records(count: int, seed: int) -> list[str]:
    """The input: deterministic ``key,value`` lines (the check recomputes the same ones)."""
    rng = random.Random(seed)
    return [f"{rng.choice(KEYS)},{rng.randint(0, 1000)}" for _ in range(count)]


def expected_stats(count: int, seed: int) -> dict[str, dict[str, int]]:
    stats: dict[str, dict[str, int]] = defaultdict(lambda: {"count": 0, "sum": 0})
    for line in make_records(count, seed):
        key, value = line.split(",")
        stats[key]["count"] += 1
        stats[key]["sum"] += int(value)
    return dict(stats)


with DAG(
    dag_id="batch_split_fanout_merge",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    max_active_runs=2,
    tags=["azure-batch", "example"],
    params={
        "records": Param(5000, type="integer", minimum=1),
        "chunks": Param(8, type="integer", minimum=1, maximum=10000),
        "seed": Param(42, type="integer"),
        "pool_id": Param("demo-split-fanout", type="string"),
        "vm_size": Param("standard_d2s_v5", type="string"),
        "max_nodes": Param(4, type="integer", minimum=1),
        "python": Param("python3", type="string", description="Interpreter on the nodes"),
        "container_image": Param(
            None, type=["null", "string"], description="Run tasks in this image (empty = on the node)"
        ),
        "registry_server": Param(None, type=["null", "string"]),
        "registry_conn_id": Param(
            None, type=["null", "string"], description="Connection with the registry login/password"
        ),
        "failure_policy": Param("fail_fast", enum=["fail_fast", "tolerate", "run_all"]),
    },
) as dag:

    @task
    def make_input(**context: Any) -> str:
        """The input: a local file of the run config's records (a real DAG reads its own data)."""
        params = context["params"]
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8") as f:
            f.write("\n".join(make_records(params["records"], params["seed"])) + "\n")
        return f.name

    split = BlobSplitOperator(
        task_id="split", source_path=make_input(), mode="lines", chunk_count="{{ params.chunks }}"
    )
    upload_program = BlobUploadOperator(
        task_id="upload_program", source=str(PROGRAMS / "record_stats.py"), prefix="program/"
    )

    @task
    def pool_shape(**context: Any) -> dict[str, Any]:
        """The pool spec from the run config (a PoolSpec mapping)."""
        p = context["params"]
        # --8<-- [start:howto_batch_pool_spec]
        spec: dict[str, Any] = {
            "pool_id": p["pool_id"],
            "vm_size": p["vm_size"],
            "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
            "node_agent_sku_id": "batch.node.ubuntu 22.04",
            "autoscale_formula": (
                f"pending = $PendingTasks.GetSample(1);"
                f"$TargetDedicatedNodes = max(1, min({p['max_nodes']}, pending));"
                "$NodeDeallocationOption = taskcompletion;"
            ),
            "autoscale_evaluation_minutes": 5,
            "task_slots_per_node": 2,
        }
        if p["container_image"]:
            spec["container"] = {
                "images": [p["container_image"]],
                "registry_server": p["registry_server"] or None,
                "registry_conn_id": p["registry_conn_id"] or None,
            }
        # --8<-- [end:howto_batch_pool_spec]
        return spec

    @task
    def task_container(**context: Any) -> dict[str, str]:
        """Container task settings when the run config names an image ({} = run on the node)."""
        image = context["params"]["container_image"]
        return {"image_name": image} if image else {}

    # --8<-- [start:howto_operator_batch_ensure_pool]
    pool = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec=pool_shape(),
        if_exists="reuse",
        min_ready_nodes=1,
        poll_interval=2,
    )
    # --8<-- [end:howto_operator_batch_ensure_pool]

    # --8<-- [start:howto_operator_batch_run_tasks]
    fanout = BatchRunTasksOperator(
        task_id="fanout",
        job={"pool_id": "{{ params.pool_id }}", "max_task_retries": 2, "max_wall_clock_seconds": 3600},
        items=split.output["chunks"],
        command_line="{{ params.python }} record_stats.py {chunk_file} out/{chunk_stem}.jsonl",
        common_files=["program/record_stats.py"],
        output_pattern="out/*.jsonl",
        container=task_container(),
    )
    # --8<-- [end:howto_operator_batch_run_tasks]

    # --8<-- [start:howto_sensor_batch_job]
    wait = BatchJobSensor(
        task_id="wait", fanout=fanout.output, failure_policy="{{ params.failure_policy }}", poke_interval=2
    )
    # --8<-- [end:howto_sensor_batch_job]

    # --8<-- [start:howto_operator_blob_merge_xcom]
    merge = BlobMergeOperator(
        task_id="merge",
        fanout=fanout.output,
        mode="jsonl",
        output_blob="result/stats.jsonl",
        xcom_content="jsonl",
    )
    # --8<-- [end:howto_operator_blob_merge_xcom]

    @task
    def check(merged: dict[str, Any], **context: Any) -> dict[str, dict[str, int]]:
        """Fold the per-chunk stats and compare with a local computation of the same input."""
        params = context["params"]
        got: dict[str, dict[str, int]] = defaultdict(lambda: {"count": 0, "sum": 0})
        for row in merged["content"]:
            got[row["key"]]["count"] += row["count"]
            got[row["key"]]["sum"] += row["sum"]
        want = expected_stats(params["records"], params["seed"])
        if dict(got) != want:
            raise ValueError(f"merged result differs from the local computation: {dict(got)} != {want}")
        return want

    # --8<-- [start:howto_operator_batch_cleanup]
    cleanup = BatchCleanupOperator(
        task_id="cleanup", fanout_task_ids=["fanout"], pool_ids=["{{ params.pool_id }}"]
    )
    # --8<-- [end:howto_operator_batch_cleanup]

    checked = check(merge.output)
    [split, upload_program, pool] >> fanout >> wait >> merge >> checked
    checked >> cleanup.as_teardown(setups=[pool])
