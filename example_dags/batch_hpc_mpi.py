"""An MPI job on an HPC pool, every day, with nothing left running afterwards (seed 001).

What it shows:

* an **HPC pool** made for the run: H-series VMs (``standard_hb120rs_v3``, InfiniBand/RDMA) on the
  HPC Ubuntu image, **inter-node communication**, one task slot per node, nodes in one region;
* a **start task** that installs the program's dependencies (``mpi4py`` and an MPI runtime) on every
  node as it joins, as an administrator;
* the MPI program and its launch scripts uploaded to the **run workspace**;
* one **multi-instance task**: every node runs the coordination command, then the primary starts one
  MPI rank per node with ``mpiexec``; the reduced result lands in the run workspace's output container;
* the job, the pool and the workspace deleted by a **teardown** that runs whatever happened, so no
  RDMA node is billed idle after the run.

Locally it runs against the emulator and Azurite: the "nodes" are processes on this machine, the
launch script uses MPICH's single-host process manager there, and ranks talk over shared memory.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_mpi import BatchRunMultiInstanceTaskOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.operators.blob_upload import BlobUploadOperator

PROGRAMS = Path(__file__).resolve().parent / "hpc_programs"


def expected_sum_of_squares(n: int) -> int:
    """What the MPI program must find: 1² + 2² + ... + n²."""
    return n * (n + 1) * (2 * n + 1) // 6


with DAG(
    dag_id="batch_hpc_mpi",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    max_active_runs=1,
    tags=["azure-batch", "hpc", "mpi", "example"],
    params={
        "nodes": Param(2, type="integer", minimum=1, maximum=100, description="MPI ranks, one per node"),
        "n": Param(1_000_000, type="integer", minimum=1, description="Sum the squares of 1..n"),
        "vm_size": Param("standard_hb120rs_v3", type="string", description="An RDMA-capable H-series size"),
        "spot_nodes": Param(
            0, type="integer", minimum=0, description="Extra spot nodes (cheaper, evictable)"
        ),
    },
) as dag:

    @task
    def workspace(**context: Any) -> dict[str, str]:
        """This run's workspace (containers named from dag and run id) and its HPC pool id."""
        from airflow_azure_compute.ids import derive_id
        from airflow_azure_compute.workspace import RunWorkspace

        ws = RunWorkspace.for_context(context)
        ti = context["ti"]
        return {**ws.to_dict(), "pool_id": derive_id("hpc", ti.dag_id, ti.run_id, max_len=64)}

    ws = workspace()

    upload = BlobUploadOperator(
        task_id="upload_programs",
        source=str(PROGRAMS),
        container=ws["container"],
        prefix="hpc/",
    )

    @task
    def hpc_pool(ws: dict[str, str], **context: Any) -> dict[str, Any]:
        """The pool spec (a PoolSpec mapping) for this run."""
        params = context["params"]
        # --8<-- [start:howto_batch_hpc_pool]
        return {
            "pool_id": ws["pool_id"],
            "vm_size": params["vm_size"],
            "image": "microsoft-dsvm:ubuntu-hpc:2204",  # InfiniBand drivers and MPI stacks preinstalled
            "node_agent_sku_id": "batch.node.ubuntu 22.04",
            "dedicated_nodes": params["nodes"],
            "spot_nodes": params["spot_nodes"],
            "inter_node_communication": True,  # required by multi-instance (MPI) tasks
            "task_slots_per_node": 1,  # likewise: one MPI task per node
            "node_placement": "regional",
            "start_task": {
                # runs on every node as it joins (and after a restart), before any task
                "command_line": (
                    "/bin/sh -c 'python3 -m pip install --disable-pip-version-check -q mpi4py mpich'"
                ),
                "elevated": True,
                "wait_for_success": True,
            },
        }
        # --8<-- [end:howto_batch_hpc_pool]

    pool = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec=hpc_pool(ws),
        if_exists="reuse",
        min_ready_nodes="{{ params.nodes }}",
        poll_interval=2,
    )

    # --8<-- [start:howto_operator_batch_mpi]
    mpi = BatchRunMultiInstanceTaskOperator(
        task_id="mpi",
        job={"pool_id": ws["pool_id"], "max_wall_clock_seconds": 3600},
        number_of_instances="{{ params.nodes }}",
        common_files=["mpi_sum_of_squares.py", "mpi_launch.sh", "mpi_coordinate.sh"],
        input_container=ws["container"],
        input_prefix="hpc/",
        coordination_command_line=(
            "/bin/sh -c '/bin/sh $AZ_BATCH_TASK_SHARED_DIR/mpi_coordinate.sh mpi_sum_of_squares.py'"
        ),
        command_line=(
            "/bin/sh -c '/bin/sh $AZ_BATCH_TASK_SHARED_DIR/mpi_launch.sh mpi_sum_of_squares.py {{ params.n }}'"
        ),
        output_pattern="out/*.json",
        poll_interval=2,
    )
    # --8<-- [end:howto_operator_batch_mpi]

    @task
    def check(result: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Read the reduced result from the run workspace and compare it with the closed form."""
        from airflow_azure_compute.hooks.blob import BlobHook

        params = context["params"]
        blob = f"{result['output_prefix']}result.json"
        data = json.loads(BlobHook().read_bytes(result["output_container"], blob))
        want = expected_sum_of_squares(params["n"])
        if data["sum_of_squares"] != want or data["world_size"] != params["nodes"]:
            raise ValueError(f"MPI result {data} differs from {want} over {params['nodes']} ranks")
        return data

    # --8<-- [start:howto_batch_hpc_teardown]
    cleanup = BatchCleanupOperator(
        task_id="cleanup",
        fanout_task_ids=["mpi"],  # the job id is derived again: found even if the MPI task failed
        pool_ids=[ws["pool_id"]],
        containers=[ws["container"], ws["output_container"]],
    )
    # --8<-- [end:howto_batch_hpc_teardown]

    checked = check(mpi.output)
    [upload, pool] >> mpi
    checked >> cleanup.as_teardown(setups=[pool])
