"""Replays of the Batch data-plane examples: each builds what its example presupposes, then sends
the example's request (ids made unique) and returns the emulator's answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from tests.conformance.clients import BatchWire, Reply, unique, wait_for

Scenario = Callable[["BatchWorld", dict[str, Any]], Reply]
SCENARIOS: dict[str, Scenario] = {}

#: The start task of pools that get nodes (the examples' ``cmd /c`` lines are Windows-only).
START_TASK = {"commandLine": "/bin/sh -c 'echo hello'"}
FILE_TASK = "/bin/sh -c 'printf \"hello from task!\" > testFile.txt'"
IMAGE = {
    "imageReference": {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-focal", "sku": "20_04-lts"},
    "nodeAgentSKUId": "batch.node.ubuntu 20.04",
}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[name] = fn
        return fn

    return register


class BatchWorld:
    """Prerequisite pools and jobs, created once per test session and shared by the replays."""

    def __init__(self, wire: BatchWire) -> None:
        self.wire = wire
        self._cache: dict[str, Any] = {}
        self.created_pools: list[str] = []
        self.created_jobs: list[str] = []

    def ok(self, reply: Reply, *statuses: int) -> Reply:
        if reply.status not in statuses:
            raise AssertionError(f"setup request failed: {reply.status} {reply.body}")
        return reply

    def pool(self, name: str, nodes: int = 0, **spec: Any) -> str:
        pool_id = unique(name)
        body = {"id": pool_id, "vmSize": "standard_d2s_v3", "virtualMachineConfiguration": IMAGE}
        body.update({"targetDedicatedNodes": nodes, **spec})
        self.ok(self.wire.send("POST", "/pools", body), 201)
        self.created_pools.append(pool_id)
        wait_for(lambda: self._steady(pool_id), what=f"pool {pool_id} to be steady")
        if nodes:
            wait_for(lambda: self._idle_nodes(pool_id) >= nodes, what=f"{nodes} idle node(s) in {pool_id}")
        return pool_id

    def _steady(self, pool_id: str) -> bool:
        return bool(self.wire.send("GET", f"/pools/{pool_id}").body["allocationState"] == "steady")

    def _idle_nodes(self, pool_id: str) -> int:
        nodes = self.wire.send("GET", f"/pools/{pool_id}/nodes").body or {"value": []}
        return sum(1 for n in nodes["value"] if n["state"] == "idle" and "startTaskInfo" in n)

    def node_pool(self) -> str:
        """A shared pool with two idle nodes (start task completed)."""
        if "node_pool" not in self._cache:
            self._cache["node_pool"] = self.pool("nodes", nodes=2, startTask=START_TASK, taskSlotsPerNode=2)
        return str(self._cache["node_pool"])

    def idle_pool(self) -> str:
        """A shared pool without nodes: tasks of its jobs stay active."""
        if "idle_pool" not in self._cache:
            self._cache["idle_pool"] = self.pool("idle", taskSlotsPerNode=2)
        return str(self._cache["idle_pool"])

    def job(self, name: str, pool_id: str, **spec: Any) -> str:
        job_id = unique(name)
        self.ok(self.wire.send("POST", "/jobs", {"id": job_id, "poolInfo": {"poolId": pool_id}, **spec}), 201)
        self.created_jobs.append(job_id)
        return job_id

    def task(self, job_id: str, name: str, command: str = "cmd /c echo task", **spec: Any) -> str:
        task_id = unique(name)
        body = {"id": task_id, "commandLine": command, **spec}
        self.ok(self.wire.send("POST", f"/jobs/{job_id}/tasks", body), 201)
        return task_id

    def finished_file_task(self) -> tuple[str, str]:
        """A job/task on the node pool that wrote ``wd/testFile.txt`` and completed."""
        key = "file_task"
        if key not in self._cache:
            job_id = self.job("files", self.node_pool())
            task_id = self.task(job_id, "task1", FILE_TASK)
            wait_for(
                lambda: self.wire.send("GET", f"/jobs/{job_id}/tasks/{task_id}").body["state"] == "completed",
                what="the file task to complete",
            )
            self._cache[key] = (job_id, task_id)
        return self._cache[key]  # type: ignore[no-any-return]

    def cleanup(self) -> None:
        for job_id in self.created_jobs:
            self.wire.send("DELETE", f"/jobs/{job_id}")  # a deleted one answers 404, which is fine
        for pool_id in self.created_pools:
            self.wire.send("DELETE", f"/pools/{pool_id}")


def _file_path(example: dict[str, Any]) -> str:
    return quote(example["parameters"]["filePath"].replace("\\", "/"), safe="")


# ---------------------------------------------------------------------------------------- pools
@scenario("Pools_CreatePool_AcceleratedNetworking")
def _create_pool(world: BatchWorld, example: dict[str, Any]) -> Reply:
    body = dict(example["parameters"]["pool"], id=unique("mypool01"), targetDedicatedNodes=0)
    reply = world.wire.send("POST", "/pools", body)
    if reply.status == 201:
        world.created_pools.append(body["id"])
    return reply


def _pool_like(world: BatchWorld, example_pool: dict[str, Any]) -> str:
    """A pool created from the create-time fields of an example's pool (no nodes)."""
    start = example_pool.get("startTask") or {}
    return world.pool(
        example_pool["id"],
        vmSize=example_pool["vmSize"],
        virtualMachineConfiguration={
            "imageReference": {
                k: v
                for k, v in example_pool["virtualMachineConfiguration"]["imageReference"].items()
                if k != "version"
            },
            "nodeAgentSKUId": example_pool["virtualMachineConfiguration"]["nodeAgentSKUId"],
        },
        startTask={"commandLine": start.get("commandLine", "/bin/true")},
    )


@scenario("Pools_GetPool_Basic")
def _get_pool(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id = _pool_like(world, example["responses"]["200"]["body"])
    return world.wire.send("GET", f"/pools/{pool_id}")


@scenario("Pools_ListPools_Basic")
def _list_pools(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id = _pool_like(world, example["responses"]["200"]["body"]["value"][0])
    return world.wire.send("GET", "/pools", query={"$filter": f"id eq '{pool_id}'"})


@scenario("Pools_PoolExists")
def _pool_exists(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.wire.send("HEAD", f"/pools/{world.idle_pool()}")


@scenario("Pools_ResizePool")
def _resize(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id = world.pool("resizePool")
    return world.wire.send("POST", f"/pools/{pool_id}/resize", example["parameters"]["resizeOptions"])


@scenario("Pools_StopPoolResize")
def _stop_resize(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id = world.pool("stopPool")
    world.ok(world.wire.send("POST", f"/pools/{pool_id}/resize", {"targetDedicatedNodes": 1}), 202)
    return world.wire.send("POST", f"/pools/{pool_id}/stopresize")


@scenario("Pools_EnablePoolAutoscale")
def _enable_autoscale(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id = world.pool("autoscalePool")
    return world.wire.send(
        "POST", f"/pools/{pool_id}/enableautoscale", example["parameters"]["enableAutoScaleOptions"]
    )


@scenario("Pools_RemoveNodes")
def _remove_nodes(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id = world.pool("removePool", nodes=2, startTask=START_TASK)
    nodes = [n["id"] for n in world.wire.send("GET", f"/pools/{pool_id}/nodes").body["value"]]
    return world.wire.send("POST", f"/pools/{pool_id}/removenodes", {"nodeList": nodes[:2]})


@scenario("Pools_ListPoolNodeCounts")
def _node_counts(world: BatchWorld, example: dict[str, Any]) -> Reply:
    expected = example["responses"]["200"]["body"]["value"]
    renamed = {}
    for entry in expected:
        renamed[entry["poolId"]] = world.pool(entry["poolId"])
    reply = world.wire.send("GET", "/nodecounts")
    for entry in expected:  # the example's pool names stand for the pools made here
        entry["poolId"] = renamed[entry["poolId"]]
    return reply


@scenario("Pools_ListSupportedImages")
def _supported_images(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.wire.send("GET", "/supportedimages")


# ---------------------------------------------------------------------------------------- nodes
def _node(world: BatchWorld, index: int = 0) -> tuple[str, str]:
    pool_id = world.node_pool()
    nodes = world.wire.send("GET", f"/pools/{pool_id}/nodes").body["value"]
    return pool_id, sorted(n["id"] for n in nodes)[index]


@scenario("Nodes_GetNode")
def _get_node(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id, node_id = _node(world)
    return world.wire.send("GET", f"/pools/{pool_id}/nodes/{node_id}")


@scenario("Nodes_ListNodes")
def _list_nodes(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.wire.send("GET", f"/pools/{world.node_pool()}/nodes")


@scenario("Nodes_DisableNodeScheduling")
def _disable_scheduling(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id = world.pool("disablePool", nodes=1, startTask=START_TASK)
    node_id = world.wire.send("GET", f"/pools/{pool_id}/nodes").body["value"][0]["id"]
    return world.wire.send(
        "POST",
        f"/pools/{pool_id}/nodes/{node_id}/disablescheduling",
        example["parameters"]["nodeDisableSchedulingParameter"],
    )


@scenario("Nodes_RebootNode")
def _reboot_node(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id = world.pool("rebootPool", nodes=1, startTask=START_TASK)
    node_id = world.wire.send("GET", f"/pools/{pool_id}/nodes").body["value"][0]["id"]
    return world.wire.send(
        "POST", f"/pools/{pool_id}/nodes/{node_id}/reboot", example["parameters"]["nodeRebootParameter"]
    )


@scenario("Pools_ReplacePoolProperties")
def _replace_pool_properties(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id = world.pool("replacePool")
    return world.wire.send("POST", f"/pools/{pool_id}/updateproperties", example["parameters"]["pool"])


# ---------------------------------------------------------------------------------------- jobs
@scenario("Jobs_CreateJob_Basic")
def _create_job(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job = dict(example["parameters"]["job"], id=unique("jobId"), poolInfo={"poolId": world.idle_pool()})
    reply = world.wire.send("POST", "/jobs", job)
    if reply.status == 201:
        world.created_jobs.append(job["id"])
    return reply


@scenario("Jobs_CreateJob_Complex")
def _create_job_auto_pool(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job = dict(example["parameters"]["job"], id=unique("jobId"))
    reply = world.wire.send("POST", "/jobs", job)
    if reply.status == 201:
        world.created_jobs.append(job["id"])
    return reply


@scenario("Jobs_GetJob")
def _get_job(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.job("jobId", world.idle_pool())
    world.ok(world.wire.send("POST", f"/jobs/{job_id}/terminate", {}), 202)
    wait_for(
        lambda: world.wire.send("GET", f"/jobs/{job_id}").body["state"] == "completed",
        what="the job to complete",
    )
    return world.wire.send("GET", f"/jobs/{job_id}")


@scenario("Jobs_UpdateJob")
def _update_job(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.job("jobId", world.idle_pool())
    body = dict(example["parameters"]["job"], poolInfo={"poolId": world.idle_pool()})
    return world.wire.send("PATCH", f"/jobs/{job_id}", body)


@scenario("Jobs_TerminateJob")
def _terminate_job(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.job("jobId", world.idle_pool())
    return world.wire.send(
        "POST", f"/jobs/{job_id}/terminate", example["parameters"]["jobTerminateParameter"]
    )


@scenario("Jobs_DeleteJob")
def _delete_job(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.job("jobId", world.idle_pool())
    return world.wire.send("DELETE", f"/jobs/{job_id}")


# ---------------------------------------------------------------------------------------- tasks
def _create_task(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.job("jobId", world.idle_pool())
    task = dict(example["parameters"]["task"], id=unique(example["parameters"]["task"]["id"]))
    return world.wire.send("POST", f"/jobs/{job_id}/tasks", task)


scenario("Tasks_CreateTask_Basic")(_create_task)
scenario("Tasks_CreateTask_RequiredSlots")(_create_task)


@scenario("Tasks_CreateTaskCollection_Complex")
def _task_collection(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.job("jobId", world.idle_pool())
    tasks = [dict(t, id=unique(t["id"])) for t in example["parameters"]["taskCollection"]["value"]]
    renamed = {t["id"].rsplit("-", 1)[0]: t["id"] for t in tasks}
    reply = world.wire.send("POST", f"/jobs/{job_id}/addtaskcollection", {"value": tasks})
    for entry in example["responses"]["200"]["body"]["value"]:
        entry["taskId"] = renamed[entry["taskId"]]
    return reply


@scenario("Tasks_ListTasks")
def _list_tasks(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.job("jobId", world.idle_pool())
    renamed = {}
    for entry in example["responses"]["200"]["body"]["value"]:
        retries = entry["constraints"]["maxTaskRetryCount"]
        renamed[entry["id"]] = world.task(
            job_id,
            entry["id"],
            entry["commandLine"],
            requiredSlots=entry["requiredSlots"],
            constraints={"maxTaskRetryCount": retries},
        )
        entry["id"] = renamed[entry["id"]]
    return world.wire.send("GET", f"/jobs/{job_id}/tasks")


@scenario("Tasks_DeleteTask")
def _delete_task(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.job("jobId", world.idle_pool())
    task_id = world.task(job_id, "taskId")
    return world.wire.send("DELETE", f"/jobs/{job_id}/tasks/{task_id}")


@scenario("Tasks_ListTaskFiles")
def _list_task_files(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id, task_id = world.finished_file_task()
    return world.wire.send("GET", f"/jobs/{job_id}/tasks/{task_id}/files", query={"recursive": "false"})


@scenario("Tasks_GetTaskFile")
def _get_task_file(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id, task_id = world.finished_file_task()
    return world.wire.send("GET", f"/jobs/{job_id}/tasks/{task_id}/files/{_file_path(example)}")


@scenario("Nodes_GetNodeFile")
def _get_node_file(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id, task_id = world.finished_file_task()
    node_id = world.wire.send("GET", f"/jobs/{job_id}/tasks/{task_id}").body["nodeInfo"]["nodeId"]
    path = quote(f"workitems/{job_id}/job-1/{task_id}/wd/testFile.txt", safe="")
    return world.wire.send("GET", f"/pools/{world.node_pool()}/nodes/{node_id}/files/{path}")


@scenario("Tasks_GetTaskFileProperties")
def _task_file_properties(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id, task_id = world.finished_file_task()
    return world.wire.send("HEAD", f"/jobs/{job_id}/tasks/{task_id}/files/{_file_path(example)}")


@scenario("Tasks_DeleteTaskFile")
def _delete_task_file(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.job("files", world.node_pool())
    task_id = world.task(job_id, "task1", FILE_TASK)
    wait_for(
        lambda: world.wire.send("GET", f"/jobs/{job_id}/tasks/{task_id}").body["state"] == "completed",
        what="the file task to complete",
    )
    return world.wire.send(
        "DELETE", f"/jobs/{job_id}/tasks/{task_id}/files/{_file_path(example)}", query={"recursive": "false"}
    )
