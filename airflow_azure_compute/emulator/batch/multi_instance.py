"""Multi-instance (MPI) tasks: one primary and N-1 subtasks on N nodes of an inter-node pool.

What Batch documents, reproduced here:

- the task is scheduled only on a pool with ``enableInterNodeCommunication`` and ``taskSlotsPerNode`` 1;
  on any other pool it is never scheduled and stays ``active`` (Azure refuses nothing at submission);
- it waits until ``numberOfInstances`` nodes are free at once, and holds all of them while it runs;
- every instance downloads ``commonResourceFiles`` into its task directory (``AZ_BATCH_TASK_SHARED_DIR``,
  one level above the working directory) and runs ``coordinationCommandLine``; only when every
  coordination command succeeded does the primary (subtask 0) run the task's own command line (the
  application command), with the task's own resource and output files;
- a failing coordination command fails the task, and ``failureInfo`` names the subtask and its node;
  the outcome (exit code, result, retries) is the primary's;
- every instance sees ``AZ_BATCH_HOST_LIST`` (``ip,ip``), ``AZ_BATCH_NODE_LIST`` (``ip;ip``),
  ``AZ_BATCH_MASTER_NODE`` (``ip:port``), ``AZ_BATCH_TASK_SHARED_DIR``, ``AZ_BATCH_IS_CURRENT_NODE_MASTER``
  and ``CCP_NODES``;
- ``GET /jobs/{job}/tasks/{task}/subtasksinfo`` lists the instances (`subtask_wire`).

Emulated nodes share this machine's loopback address, so the lists repeat ``127.0.0.1``. Background
services a coordination command leaves running are stopped when it exits (Azure keeps them until the
task ends): an MPI launcher that needs no daemon (``mpiexec`` of MPICH's ``gforker`` on one machine)
works as on a single host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_azure_compute.emulator.batch.wire import iso, now

if TYPE_CHECKING:
    from airflow_azure_compute.emulator.batch.engine import BatchEngine
    from airflow_azure_compute.emulator.batch.model import Node, Pool, Task

#: The port Batch reserves on the master node (documented as ``AZ_BATCH_MASTER_NODE=ip:6000``).
MASTER_PORT = 6000
NODE_IP = "127.0.0.1"


def settings(task: Task) -> dict[str, Any] | None:
    value = task.spec.get("multiInstanceSettings")
    return value if isinstance(value, dict) else None


def instances(task: Task) -> int:
    return max(1, int((settings(task) or {}).get("numberOfInstances") or 1))


def pool_accepts(pool: Pool) -> bool:
    """Whether Batch would ever schedule a multi-instance task on ``pool``."""
    return bool(pool.spec.get("enableInterNodeCommunication")) and pool.slots_per_node == 1


def pick_nodes(nodes: Sequence[Node], count: int) -> list[Node] | None:
    """``count`` schedulable nodes with every slot free, or None when there are not enough yet."""
    free = [n for n in nodes if n.schedulable and n.used_slots == 0]
    return free[:count] if len(free) >= count else None


def environment(nodes: Sequence[Node], index: int, shared_dir: str) -> dict[str, str]:
    """The multi-instance variables instance ``index`` sees (0 is the primary, on the master node)."""
    ips = [NODE_IP for _ in nodes]
    return {
        "AZ_BATCH_HOST_LIST": ",".join(ips),
        "AZ_BATCH_NODE_LIST": ";".join(ips),
        "AZ_BATCH_MASTER_NODE": f"{ips[0]}:{MASTER_PORT}",
        "AZ_BATCH_TASK_SHARED_DIR": shared_dir,
        "AZ_BATCH_IS_CURRENT_NODE_MASTER": "true" if index == 0 else "false",
        "CCP_NODES": " ".join([str(len(ips)), *(f"{ip} 1" for ip in ips)]),
    }


def node_info(pool: Pool, node: Node, job_id: str, task_id: str) -> dict[str, Any]:
    root = f"workitems/{job_id}/job-1/{task_id}"
    return {
        "affinityId": f"TVM:{node.id}",
        "nodeUrl": f"{pool.url}/nodes/{node.id}",
        "poolId": pool.id,
        "nodeId": node.id,
        "taskRootDirectory": root,
        "taskRootDirectoryUrl": f"{pool.url}/nodes/{node.id}/files/{root}",
    }


def _set_state(sub: dict[str, Any], state: str) -> None:
    if sub.get("state") != state:
        if sub.get("state"):
            sub["previousState"] = sub["state"]
            sub["previousStateTransitionTime"] = sub.get("stateTransitionTime")
        sub["state"] = state
        sub["stateTransitionTime"] = iso(now())


def _finish(sub: dict[str, Any], result: Any) -> None:
    _set_state(sub, "completed")
    sub["endTime"] = iso(result.end_time)
    sub["result"] = result.result
    if result.exit_code is not None:
        sub["exitCode"] = result.exit_code
    if result.failure_info:
        sub["failureInfo"] = result.failure_info


def subtask_wire(task: Task) -> list[dict[str, Any]]:
    """The ``subtasksinfo`` entries of ``task`` (empty until it is scheduled, or for a plain task)."""
    return [dict(s) for s in getattr(task, "subtasks", None) or []]


async def run(engine: BatchEngine, pool: Pool, nodes: list[Node], task: Task) -> Any:
    """Coordinate on every node, then run the application on the primary; the primary's result.

    Returns the runner's result for the task (the failing coordination command's, when one failed).
    A cancelled run (task terminated, deleted, requeued) completes the subtasks still running.
    """
    started = iso(now())
    subs: list[dict[str, Any]] = []
    for index, node in enumerate(nodes):
        sub = {"id": index, "nodeInfo": node_info(pool, node, task.job.id, task.id), "startTime": started}
        _set_state(sub, "running")
        subs.append(sub)
    task.subtasks = subs
    try:
        return await _run(engine, pool, nodes, task, subs)
    except asyncio.CancelledError:
        for sub in subs:
            if sub.get("state") != "completed":
                _set_state(sub, "completed")
                sub["endTime"] = iso(now())
                sub["result"] = "failure"
        raise


async def _run(
    engine: BatchEngine, pool: Pool, nodes: list[Node], task: Task, subs: list[dict[str, Any]]
) -> Any:
    job = task.job
    spec = settings(task) or {}

    runner = engine.runner
    dirs = [runner.task_dir_for(node.root, job.id, task.id, "task") for node in nodes]
    envs = [environment(nodes, i, str(dirs[i])) for i in range(len(nodes))]
    base_env = engine._prep_env(job, nodes[0])
    coordination = spec.get("coordinationCommandLine")
    common = list(spec.get("commonResourceFiles") or [])
    if coordination or common:
        results = await asyncio.gather(
            *(
                _coordinate(
                    engine, pool, node, task, str(coordination or ""), common, {**base_env, **envs[i]}
                )
                for i, node in enumerate(nodes)
            )
        )
        failed = [(i, r) for i, r in enumerate(results) if r.result != "success"]
        for i, result in enumerate(results):
            if i > 0 or failed:
                _finish(subs[i], result)
        if failed:
            index, result = failed[0]
            failure = dict(result.failure_info or {})
            details = list(failure.get("details") or [])
            details += [
                {"name": "SubtaskId", "value": str(index)},
                {"name": "NodeId", "value": nodes[index].id},
            ]
            failure["details"] = details
            failure["message"] = (
                f"The coordination command of subtask {index} on node {nodes[index].id} failed: "
                f"{failure.get('message') or 'exit code ' + str(result.exit_code)}"
            )
            result.failure_info = failure
            return result
    result = await engine._execute(
        pool, nodes[0], job, "task", task.id, task.spec, {**base_env, **envs[0]}, task=task
    )
    _finish(subs[0], result)
    return result


async def _coordinate(
    engine: BatchEngine,
    pool: Pool,
    node: Node,
    task: Task,
    command: str,
    common: list[dict[str, Any]],
    env: dict[str, str],
) -> Any:
    """Common resource files into the task directory, then the coordination command (if any)."""
    runner = engine.runner
    task_dir = runner.task_dir_for(node.root, task.job.id, task.id, "task")
    if common:
        from airflow_azure_compute.emulator.batch.run_blob import download_resource_files
        from airflow_azure_compute.emulator.batch.run_failures import TaskFailure
        from airflow_azure_compute.emulator.batch.runner import TaskRunResult

        task_dir.mkdir(parents=True, exist_ok=True)
        began = now()
        try:
            assert engine.http is not None
            await download_resource_files(engine.http, common, task_dir)
        except TaskFailure as exc:
            return TaskRunResult(None, "failure", exc.to_wire(), began, now(), task_dir)
    if not command:
        from airflow_azure_compute.emulator.batch.runner import TaskRunResult

        return TaskRunResult(0, "success", None, now(), now(), task_dir)
    coordination = {
        "commandLine": command,
        "environmentSettings": task.spec.get("environmentSettings") or [],
        "constraints": task.spec.get("constraints") or {},
    }
    return await engine._execute(pool, node, task.job, "task", task.id, coordination, env, task=task)


__all__ = ["environment", "instances", "pick_nodes", "pool_accepts", "run", "settings", "subtask_wire"]
