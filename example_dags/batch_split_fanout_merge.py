"""Split → upload → pool → fan-out → deferred wait → merge → cleanup on Azure Batch (seed 002).

What it shows:

* an input of ``key,value`` records split into chunks on Blob Storage (names only go through XCom);
* a small Python program shipped as a resource file (read-only SAS) next to each chunk;
* a pool created or reused with an **autoscale formula** (and, with ``params.container_image``, a
  container configuration plus container task settings; registry credentials come from the Airflow
  connection named in ``params.registry_conn_id``, never from a template);
* a job with task retries and one task per chunk, submitted in bulk with deterministic ids;
* a deferred wait whose poll is one ``taskcounts`` request whatever the number of tasks;
* the per-chunk outputs (create/write SAS) merged in chunk order, checked against a local computation;
* cleanup as a teardown that deletes only what this run created.

Trigger it from the UI with a run config, e.g. ``{"records": 20000, "chunks": 16}``. Locally it runs
against the emulator and Azurite (``make demo``).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_azure_compute.ids import derive_id
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
    schedule=None,
    catchup=False,
    tags=["azure-batch", "example"],
    params={
        "records": Param(5000, type="integer", minimum=1),
        "chunks": Param(8, type="integer", minimum=1, maximum=10000),
        "seed": Param(42, type="integer"),
        "pool_id": Param("demo-split-fanout", type="string"),
        "vm_size": Param("standard_d2s_v5", type="string"),
        "max_nodes": Param(4, type="integer", minimum=1),
        "python": Param("python3", type="string", description="Interpreter on the nodes"),
        "container_image": Param("", type="string", description="Run tasks in this image ('' = on the node)"),
        "registry_server": Param("", type="string"),
        "registry_conn_id": Param(
            "", type="string", description="Connection with the registry login/password"
        ),
        "failure_policy": Param("fail_fast", enum=["fail_fast", "tolerate", "run_all"]),
    },
) as dag:

    @task
    def storage(**context: Any) -> dict[str, str]:
        """Per-run container name (lowercase, 3-63 chars) and the local input file."""
        ti = context["ti"]
        container = derive_id("demo", ti.dag_id.replace("_", "-"), ti.run_id, max_len=63, lower=True)
        params = context["params"]
        path = Path(f"/tmp/{container}-input.csv")
        path.write_text("\n".join(make_records(params["records"], params["seed"])) + "\n", encoding="utf-8")
        return {"container": container, "input": str(path)}

    where = storage()

    split = BlobSplitOperator(
        task_id="split",
        source_path=where["input"],
        container=where["container"],
        prefix="chunks/",
        mode="lines",
        chunk_count="{{ params.chunks }}",
    )
    upload_program = BlobUploadOperator(
        task_id="upload_program",
        source=str(PROGRAMS / "record_stats.py"),
        container=where["container"],
        prefix="program/",
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
        input_container=where["container"],
        common_files=["program/record_stats.py"],
        output_container=where["container"],
        output_prefix="outputs/",
        output_pattern="out/*.jsonl",
        container=task_container(),
    )
    # --8<-- [end:howto_operator_batch_run_tasks]

    # --8<-- [start:howto_sensor_batch_job]
    wait = BatchJobSensor(
        task_id="wait",
        job_id=fanout.output["job_id"],
        task_id_prefix=fanout.output["task_id_prefix"],
        expected_tasks=fanout.output["task_count"],
        owns_job=fanout.output["owns_job"],
        failure_policy="{{ params.failure_policy }}",
        poke_interval=2,
    )
    # --8<-- [end:howto_sensor_batch_job]

    merge = BlobMergeOperator(
        task_id="merge",
        container=where["container"],
        prefix="outputs/",
        expected_count=fanout.output["task_count"],
        mode="jsonl",
        output_blob="result/stats.jsonl",
    )

    @task
    def check(merged: dict[str, Any], where: dict[str, str], **context: Any) -> dict[str, dict[str, int]]:
        """Fold the per-chunk stats and compare with a local computation of the same input."""
        from airflow_azure_compute.hooks.blob import BlobHook

        params = context["params"]
        data = BlobHook().read_bytes(where["container"], "result/stats.jsonl").decode("utf-8")
        got: dict[str, dict[str, int]] = defaultdict(lambda: {"count": 0, "sum": 0})
        for line in data.splitlines():
            row = json.loads(line)
            got[row["key"]]["count"] += row["count"]
            got[row["key"]]["sum"] += row["sum"]
        want = expected_stats(params["records"], params["seed"])
        if dict(got) != want:
            raise ValueError(f"merged result differs from the local computation: {dict(got)} != {want}")
        return want

    # --8<-- [start:howto_operator_batch_cleanup]
    cleanup = BatchCleanupOperator(
        task_id="cleanup",
        fanout_task_ids=["fanout"],
        pool_ids=["{{ params.pool_id }}"],
        containers=[where["container"]],
    )
    # --8<-- [end:howto_operator_batch_cleanup]

    checked = check(merge.output, where)
    [split, upload_program, pool] >> fanout >> wait >> merge >> checked
    checked >> cleanup.as_teardown(setups=[pool])
