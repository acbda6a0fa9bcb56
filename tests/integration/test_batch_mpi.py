"""Multi-instance (MPI) tasks against the emulator and Azurite: a real mpi4py program over MPICH.

The pool is made through the operator (inter-node communication, one slot per node); the MPI program
and its launch scripts are uploaded to the run workspace; the task runs its coordination command on
every emulated node and ``mpiexec`` on the primary; the reduced result is read back from Blob.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_azure_compute.exceptions import AzureComputeConfigError, BatchTasksFailedError
from airflow_azure_compute.hooks.batch import BatchHook
from airflow_azure_compute.hooks.blob import BlobHook
from airflow_azure_compute.operators.batch_mpi import BatchRunMultiInstanceTaskOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.workspace import RunWorkspace
from tests.integration._batch_env import POOL_BASE, fresh, pool_body
from tests.integration.ops_support import FakeTI, context_for, execute

pytestmark = pytest.mark.integration

PROGRAMS = Path(__file__).resolve().parents[2] / "example_dags" / "hpc_programs"
N = 1000
EXPECTED = sum(i * i for i in range(1, N + 1))


def _pool(pool_id: str, nodes: int, **extra: Any) -> dict[str, Any]:
    return {
        **POOL_BASE,
        "pool_id": pool_id,
        "dedicated_nodes": nodes,
        "inter_node_communication": True,
        "start_task": {"command_line": "/bin/sh -c 'python3 -c \"import mpi4py\"'", "elevated": True},
        **extra,
    }


@pytest.fixture(scope="module")
def mpi_pool(batch_env: dict[str, Any]) -> str:
    pool_id = fresh("mpi")
    op = BatchEnsurePoolOperator(
        task_id="pool", pool_spec=_pool(pool_id, 4), min_ready_nodes=4, poll_interval=0.2
    )
    execute(op, context_for(FakeTI(task_id="pool", run_id=fresh("run"))))
    return pool_id


def _staged(run_id: str) -> tuple[FakeTI, dict[str, Any], RunWorkspace]:
    ti = FakeTI(task_id="mpi", run_id=run_id)
    ctx = context_for(ti)
    workspace = RunWorkspace.for_context(ctx)
    blob = BlobHook("azure_compute_blob_default")
    blob.create_container(workspace.container)  # the inputs; the operator makes the output container
    for path in PROGRAMS.iterdir():
        blob.upload_bytes(workspace.container, path.name, path.read_bytes(), overwrite=True)
    return ti, ctx, workspace


def _mpi_op(pool_id: str, instances: int, **extra: Any) -> BatchRunMultiInstanceTaskOperator:
    kwargs: dict[str, Any] = {
        "coordination_command_line": (
            "/bin/sh -c '/bin/sh $AZ_BATCH_TASK_SHARED_DIR/mpi_coordinate.sh mpi_sum_of_squares.py'"
        ),
        "command_line": f"/bin/sh -c '/bin/sh $AZ_BATCH_TASK_SHARED_DIR/mpi_launch.sh mpi_sum_of_squares.py {N}'",
        "common_files": ["mpi_sum_of_squares.py", "mpi_launch.sh", "mpi_coordinate.sh"],
        "poll_interval": 0.2,
        **extra,
    }
    return BatchRunMultiInstanceTaskOperator(
        task_id="mpi", job={"pool_id": pool_id}, number_of_instances=instances, **kwargs
    )


@pytest.mark.parametrize("instances", [2, 4])
def test_mpi_program_reduces_across_nodes(mpi_pool: str, instances: int) -> None:
    _, ctx, workspace = _staged(fresh("run"))
    op = _mpi_op(mpi_pool, instances)
    result = execute(op, ctx)
    assert result["exit_code"] == 0
    assert result["output_container"] == workspace.output_container
    lineage = op.get_openlineage_facets_on_complete(None)  # what OpenLineage gets: job, inputs, outputs
    assert lineage.run_facets["externalQuery"].externalQueryId == result["job_id"]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [
        (f"wasbs://{workspace.output_container}@devstoreaccount1", result["output_prefix"])
    ]
    assert {(d.namespace, d.name) for d in lineage.inputs} == {
        (f"wasbs://{workspace.container}@devstoreaccount1", name)
        for name in ("mpi_sum_of_squares.py", "mpi_launch.sh", "mpi_coordinate.sh")
    }
    blob = BlobHook("azure_compute_blob_default")
    data = json.loads(blob.read_bytes(result["output_container"], result["output_prefix"] + "result.json"))
    assert data["sum_of_squares"] == EXPECTED
    assert data["world_size"] == instances
    subtasks = BatchHook("azure_compute_batch_default").list_subtasks(result["job_id"], result["task_id"])
    assert [s["id"] for s in subtasks] == list(range(instances))
    assert {s["state"] for s in subtasks} == {"completed"}
    assert len({s["nodeInfo"]["nodeId"] for s in subtasks}) == instances  # one node per instance


def test_multi_instance_environment_on_every_node(mpi_pool: str) -> None:
    """Each instance sees the documented variables; the primary is the master."""
    _, ctx, _ = _staged(fresh("run"))
    op = BatchRunMultiInstanceTaskOperator(
        task_id="mpi",
        job={"pool_id": mpi_pool},
        number_of_instances=2,
        coordination_command_line="/bin/sh -c 'env | grep -E \"^(AZ_BATCH|CCP_)\" | sort'",
        command_line="/bin/sh -c 'mkdir -p out && env | grep -E \"^(AZ_BATCH|CCP_)\" | sort > out/env.txt'",
        poll_interval=0.2,
    )
    result = execute(op, ctx)
    env = dict(
        line.split("=", 1)
        for line in BlobHook("azure_compute_blob_default")
        .read_bytes(result["output_container"], result["output_prefix"] + "env.txt")
        .decode()
        .splitlines()
    )
    assert env["AZ_BATCH_HOST_LIST"] == "127.0.0.1,127.0.0.1"
    assert env["AZ_BATCH_NODE_LIST"] == "127.0.0.1;127.0.0.1"
    assert env["AZ_BATCH_MASTER_NODE"] == "127.0.0.1:6000"
    assert env["AZ_BATCH_IS_CURRENT_NODE_MASTER"] == "true"
    assert env["CCP_NODES"] == "2 127.0.0.1 1 127.0.0.1 1"
    assert env["AZ_BATCH_TASK_SHARED_DIR"] == env["AZ_BATCH_TASK_DIR"]
    assert env["AZ_BATCH_TASK_WORKING_DIR"] == env["AZ_BATCH_TASK_DIR"] + "/wd"
    assert env["AZ_BATCH_NODE_STARTUP_DIR"].endswith("/startup")
    hook = BatchHook("azure_compute_batch_default")
    subtask = hook.list_subtasks(result["job_id"], result["task_id"])[1]
    node = subtask["nodeInfo"]["nodeId"]
    # the subtask's coordination output, on its own node: it is not the master
    data = b"".join(
        hook.client.download_node_file(
            mpi_pool, node, f"workitems/{result['job_id']}/job-1/{result['task_id']}/stdout.txt"
        )
    ).decode()
    assert "AZ_BATCH_IS_CURRENT_NODE_MASTER=false" in data


def test_failing_coordination_names_the_subtask(mpi_pool: str) -> None:
    _, ctx, _ = _staged(fresh("run"))
    op = _mpi_op(
        mpi_pool,
        3,
        coordination_command_line=(
            "/bin/sh -c 'if [ \"$AZ_BATCH_IS_CURRENT_NODE_MASTER\" = false ]; then echo no fabric >&2; exit 7; fi'"
        ),
    )
    with pytest.raises(BatchTasksFailedError) as info:
        execute(op, ctx)
    message = str(info.value)
    assert "coordination_command_line failed on subtask(s)" in message
    assert "coordination command of subtask" in message
    assert "exit code 7" in message
    # An Airflow retry (same run, same Batch task id) runs the failed task again instead of re-reading it.
    (task_id,) = info.value.failed_task_ids
    hook = BatchHook("azure_compute_batch_default")
    job_id = next(
        j.id for j in hook.client.list_jobs() if any(t.id == task_id for t in hook.client.list_tasks(j.id))
    )
    first_end = (hook.get_task(job_id, task_id) or {})["executionInfo"]["endTime"]
    with pytest.raises(BatchTasksFailedError):
        execute(op, ctx)
    again = (hook.get_task(job_id, task_id) or {})["executionInfo"]
    assert again["startTime"] > first_end


def test_pool_without_inter_node_communication_is_refused_before_submission(
    batch_env: dict[str, Any],
) -> None:
    pool_id = fresh("plain")
    execute(
        BatchEnsurePoolOperator(
            task_id="pool",
            pool_spec={**POOL_BASE, "pool_id": pool_id, "dedicated_nodes": 1},
            min_ready_nodes=0,
        ),
        context_for(FakeTI(task_id="pool")),
    )
    _, ctx, workspace = _staged(fresh("run"))
    with pytest.raises(AzureComputeConfigError, match="inter-node communication") as info:
        _mpi_op(pool_id, 2).execute(ctx)
    assert info.value.field == "multi_instance"
    assert not BlobHook("azure_compute_blob_default").container_exists(workspace.output_container)
    hook = BatchHook("azure_compute_batch_default")
    assert not [j for j in hook.client.list_jobs() if (j.pool_info.pool_id or "").lower() == pool_id.lower()]


def test_more_instances_than_nodes_is_refused(mpi_pool: str) -> None:
    _, ctx, _ = _staged(fresh("run"))
    with pytest.raises(AzureComputeConfigError, match="5 instances but pool") as info:
        _mpi_op(mpi_pool, 5).execute(ctx)
    assert info.value.field == "multi_instance.number_of_instances"


def test_emulator_keeps_a_multi_instance_task_active_on_a_plain_pool(batch_env: dict[str, Any]) -> None:
    """What Azure does with such a task (it never schedules it): why the operator refuses it first."""
    import time

    from azure.batch import models

    hook = BatchHook("azure_compute_batch_default")
    pool_id, job_id = fresh("plain"), fresh("job")
    hook.create_pool(pool_body(pool_id, targetDedicatedNodes=2))
    hook.create_job({"id": job_id, "poolInfo": {"poolId": pool_id}})
    hook.client.create_task(
        job_id,
        models.BatchTaskCreateOptions(
            {"id": "mi", "commandLine": "/bin/true", "multiInstanceSettings": {"numberOfInstances": 2}}
        ),
    )
    deadline = time.monotonic() + 30
    while sorted(hook.list_node_states(pool_id)) != ["idle", "idle"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    hook.create_task(job_id, {"id": "plain", "commandLine": "/bin/true"})
    while (hook.get_task(job_id, "plain") or {}).get("state") != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert (hook.get_task(job_id, "mi") or {}).get("state") == "active"
    hook.delete_job(job_id)
    hook.delete_pool(pool_id)


LISTEN_CHECK = """
import json, os, socket
from pathlib import Path

import psutil
from mpi4py import MPI

comm = MPI.COMM_WORLD
comm.Barrier()  # every rank has its transport up
mine = [
    c.laddr.ip
    for c in psutil.Process().net_connections(kind="inet")
    if c.status == psutil.CONN_LISTEN or c.type == socket.SOCK_DGRAM
]
group = os.getpgid(0)  # the task's process group: its shell, mpiexec and the ranks
launcher = [
    c.laddr.ip
    for p in psutil.Process().parents()
    if os.getpgid(p.pid) == group
    for c in p.net_connections(kind="inet")
    if c.status == psutil.CONN_LISTEN
]
found = comm.gather(mine + launcher, root=0)
peer = comm.allreduce(1)
if comm.Get_rank() == 0:
    out = Path(os.environ["AZ_BATCH_TASK_WORKING_DIR"]) / "out"
    out.mkdir(exist_ok=True)
    (out / "listen.json").write_text(json.dumps({"addresses": found, "ranks": peer}))
"""


def test_mpi_ranks_and_launcher_listen_on_loopback_only(mpi_pool: str) -> None:
    """The emulated MPI run binds nothing beyond 127.0.0.1 (ranks, and every process above them)."""
    _, ctx, workspace = _staged(fresh("run"))
    BlobHook("azure_compute_blob_default").upload_bytes(
        workspace.container, "listen_check.py", LISTEN_CHECK.encode(), overwrite=True
    )
    op = _mpi_op(
        mpi_pool,
        2,
        command_line="/bin/sh -c '/bin/sh $AZ_BATCH_TASK_SHARED_DIR/mpi_launch.sh listen_check.py'",
        common_files=["listen_check.py", "mpi_launch.sh", "mpi_coordinate.sh"],
        coordination_command_line="/bin/sh -c '/bin/sh $AZ_BATCH_TASK_SHARED_DIR/mpi_coordinate.sh listen_check.py'",
    )
    result = execute(op, ctx)
    data = json.loads(
        BlobHook("azure_compute_blob_default").read_bytes(
            result["output_container"], result["output_prefix"] + "listen.json"
        )
    )
    assert data["ranks"] == 2
    addresses = {a for per_rank in data["addresses"] for a in per_rank}
    assert addresses <= {"127.0.0.1"}, addresses


def test_terminating_a_multi_instance_task_completes_its_subtasks(mpi_pool: str) -> None:
    import time

    hook = BatchHook("azure_compute_batch_default")
    job_id = fresh("job")
    hook.create_job({"id": job_id, "poolInfo": {"poolId": mpi_pool}})
    hook.create_task(
        job_id,
        {
            "id": "long",
            "commandLine": "/bin/sh -c 'sleep 60'",
            "multiInstanceSettings": {"numberOfInstances": 2},
        },
    )
    deadline = time.monotonic() + 30
    while (hook.get_task(job_id, "long") or {}).get("state") != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert {s["state"] for s in hook.list_subtasks(job_id, "long")} == {"running"}
    hook.client.terminate_task(job_id, "long")
    while {s["state"] for s in hook.list_subtasks(job_id, "long")} != {"completed"}:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    task = hook.get_task(job_id, "long") or {}
    assert task["state"] == "completed" and task["executionInfo"]["result"] == "failure"
    hook.delete_job(job_id)
