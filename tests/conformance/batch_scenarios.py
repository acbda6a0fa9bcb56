"""Replays of the Batch data-plane examples: each builds what its example presupposes, then sends
the example's request (ids made unique) and returns the emulator's answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.conformance.clients import BatchWire, Reply, Scenarios, unique, wait_for

DATA = Path(__file__).parent / "data" / "batch"

Scenario = Callable[["BatchWorld", dict[str, Any]], Reply]
SCENARIOS: Scenarios[BatchWorld] = Scenarios()
scenario = SCENARIOS.register

#: The start task of pools that get nodes (the examples' ``cmd /c`` lines are Windows-only).
START_TASK = {"commandLine": "/bin/sh -c 'echo hello'"}
FILE_TASK = "/bin/sh -c 'printf \"hello from task!\" > testFile.txt'"
IMAGE = {
    "imageReference": {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-focal", "sku": "20_04-lts"},
    "nodeAgentSKUId": "batch.node.ubuntu 20.04",
}


def load_example(name: str) -> dict[str, Any]:
    """Another kept example (a scenario may build what one example presupposes from another)."""
    return json.loads((DATA / f"{name}.json").read_text())  # type: ignore[no-any-return]


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

    def create(self, collection: str, body: dict[str, Any]) -> Reply:
        """POST ``body`` to ``/pools`` or ``/jobs``; what the service created is deleted at cleanup."""
        reply = self.wire.send("POST", f"/{collection}", body)
        if reply.status == 201:
            (self.created_pools if collection == "pools" else self.created_jobs).append(body["id"])
        return reply

    def pool(self, name: str, nodes: int = 0, **spec: Any) -> str:
        pool_id = unique(name)
        body = {"id": pool_id, "vmSize": "standard_d2s_v3", "virtualMachineConfiguration": IMAGE}
        body.update({"targetDedicatedNodes": nodes, **spec})
        self.ok(self.create("pools", body), 201)
        wait_for(lambda: self._steady(pool_id), what=f"pool {pool_id} to be steady")
        if nodes:
            wait_for(lambda: self._idle_nodes(pool_id) >= nodes, what=f"{nodes} idle node(s) in {pool_id}")
        return pool_id

    def one_node(self, name: str, **spec: Any) -> tuple[str, str]:
        """A new pool with one idle node (start task completed), and that node's id."""
        pool_id = self.pool(name, nodes=1, startTask=START_TASK, **spec)
        return pool_id, str(self.wire.send("GET", f"/pools/{pool_id}/nodes").body["value"][0]["id"])

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
        self.ok(self.create("jobs", {"id": job_id, "poolInfo": {"poolId": pool_id}, **spec}), 201)
        return job_id

    def idle_job(self) -> str:
        """A new job on the idle pool."""
        return self.job("jobId", self.idle_pool())

    def idle_task(self) -> str:
        """The path of a new task of a new job on the idle pool (it stays active)."""
        job_id = self.idle_job()
        return f"/jobs/{job_id}/tasks/{self.task(job_id, 'taskId')}"

    def wait_job(self, job_id: str, state: str) -> None:
        wait_for(
            lambda: self.wire.send("GET", f"/jobs/{job_id}").body["state"] == state,
            what=f"job {job_id} to be {state}",
        )

    def task(self, job_id: str, name: str, command: str = "cmd /c echo task", **spec: Any) -> str:
        task_id = unique(name)
        body = {"id": task_id, "commandLine": command, **spec}
        self.ok(self.wire.send("POST", f"/jobs/{job_id}/tasks", body), 201)
        return task_id

    def completed_task(self, job_id: str, name: str, command: str, **spec: Any) -> str:
        """A task of ``job_id`` that ran and completed."""
        task_id = self.task(job_id, name, command, **spec)
        wait_for(
            lambda: self.wire.send("GET", f"/jobs/{job_id}/tasks/{task_id}").body["state"] == "completed",
            what=f"task {task_id} to complete",
        )
        return task_id

    def new_file_task(self) -> tuple[str, str]:
        """A new job/task on the node pool that wrote ``wd/testFile.txt`` and completed."""
        job_id = self.job("files", self.node_pool())
        return job_id, self.completed_task(job_id, "task1", FILE_TASK)

    def finished_file_task(self) -> tuple[str, str]:
        """A shared job/task on the node pool that wrote ``wd/testFile.txt`` and completed."""
        if "file_task" not in self._cache:
            self._cache["file_task"] = self.new_file_task()
        return self._cache["file_task"]  # type: ignore[no-any-return]

    def node_of(self, job_id: str, task_id: str) -> str:
        return str(self.wire.send("GET", f"/jobs/{job_id}/tasks/{task_id}").body["nodeInfo"]["nodeId"])

    def cleanup(self) -> None:
        for job_id in self.created_jobs:
            self.wire.send("DELETE", f"/jobs/{job_id}")  # a deleted one answers 404, which is fine
        for pool_id in self.created_pools:
            self.wire.send("DELETE", f"/pools/{pool_id}")


def _task_file(job_task: tuple[str, str], example: dict[str, Any]) -> str:
    """The path of the example's file of the task ``(job_id, task_id)``."""
    job_id, task_id = job_task
    file_path = quote(example["parameters"]["filePath"].replace("\\", "/"), safe="")
    return f"/jobs/{job_id}/tasks/{task_id}/files/{file_path}"


def _file_on_node(world: BatchWorld, job_task: tuple[str, str]) -> str:
    """The path of ``wd/testFile.txt`` of the task ``(job_id, task_id)`` on its node of the node pool."""
    job_id, task_id = job_task
    node_id = world.node_of(job_id, task_id)
    path = quote(f"workitems/{job_id}/job-1/{task_id}/wd/testFile.txt", safe="")
    return f"/pools/{world.node_pool()}/nodes/{node_id}/files/{path}"


# ---------------------------------------------------------------------------------------- pools
def _create_pool(world: BatchWorld, example: dict[str, Any]) -> Reply:
    """The example's pool, without nodes (what is checked is the create's answer)."""
    pool = example["parameters"]["pool"]
    body = dict(pool, id=unique(pool["id"]), targetDedicatedNodes=0, targetLowPriorityNodes=0)
    return world.create("pools", body)


for _name in (
    "Pools_CreatePool_AcceleratedNetworking",
    "Pools_CreatePool_ConfidentialDiskEncryptionSet_ForUserSubscriptionAccounts",
    "Pools_CreatePool_DiskEncryptionSet_ForUserSubscriptionAccounts",
    "Pools_CreatePool_DualStackNetworking",
    "Pools_CreatePool_MountConfiguration",
    "Pools_CreatePool_OSDisk",
    "Pools_CreatePool_ResourceTags",
    "Pools_CreatePool_SecurityProfile",
    "Pools_CreatePool_VirtualMachineConfiguration",
    "Pools_CreatePool_VirtualMachineConfigurationWithContainers",
    "Pools_CreatePool_VirtualMachineConfigurationWithExtensions",
    "Pools_CreatePool_VirtualMachineConfigurationWithServiceArtifactReference",
):
    scenario(_name)(_create_pool)


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


#: The fields of a pool answer a client sets at creation (the rest is the service's).
POOL_CREATE_FIELDS = (
    "vmSize",
    "virtualMachineConfiguration",
    "networkConfiguration",
    "startTask",
    "taskSlotsPerNode",
    "taskSchedulingPolicy",
    "enableInterNodeCommunication",
    "resizeTimeout",
)


def _get_pool_as_created(world: BatchWorld, example: dict[str, Any]) -> Reply:
    """A pool created with the create-time fields of the example's answer (and its user-assigned
    identities), then read back; a refused create is the answer checked."""
    shown = example["responses"]["200"]["body"]
    body = {k: shown[k] for k in POOL_CREATE_FIELDS if k in shown}
    if "identity" in shown:
        identities = [
            {"resourceId": i["resourceId"]} for i in shown["identity"].get("userAssignedIdentities", [])
        ]
        body["identity"] = {"type": shown["identity"]["type"], "userAssignedIdentities": identities}
    body.update(id=unique(shown["id"]), targetDedicatedNodes=0)
    created = world.create("pools", body)
    if created.status != 201:
        return created
    return world.wire.send("GET", f"/pools/{body['id']}")


for _name in (
    "Pools_GetPool_AcceleratedNetworking",
    "Pools_GetPool_ConfidentialDiskEncryptionSet",
    "Pools_GetPool_CustomerManagedKey",
    "Pools_GetPool_DiskEncryptionSet",
    "Pools_GetPool_SecurityProfile",
    "Pools_GetPool_VirtualMachineConfigurationWithExtensions",
    "Pools_GetPool_VirtualMachineConfigurationWithOSDisk",
    "Pools_GetPool_VirtualMachineConfigurationWithServiceArtifactReference",
):
    scenario(_name)(_get_pool_as_created)


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
    pool_id, node_id = world.one_node("disablePool")
    return world.wire.send(
        "POST",
        f"/pools/{pool_id}/nodes/{node_id}/disablescheduling",
        example["parameters"]["nodeDisableSchedulingParameter"],
    )


@scenario("Nodes_RebootNode")
def _reboot_node(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id, node_id = world.one_node("rebootPool")
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
    return world.create("jobs", job)


@scenario("Jobs_CreateJob_Complex")
def _create_job_auto_pool(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.create("jobs", dict(example["parameters"]["job"], id=unique("jobId")))


@scenario("Jobs_GetJob")
def _get_job(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.idle_job()
    world.ok(world.wire.send("POST", f"/jobs/{job_id}/terminate", {}), 202)
    world.wait_job(job_id, "completed")
    return world.wire.send("GET", f"/jobs/{job_id}")


def _send_job(method: str) -> Scenario:
    """A scenario that sends the example's job (on the idle pool) to a new job with ``method``."""

    def send(world: BatchWorld, example: dict[str, Any]) -> Reply:
        job_id = world.idle_job()
        body = dict(example["parameters"]["job"], poolInfo={"poolId": world.idle_pool()})
        return world.wire.send(method, f"/jobs/{job_id}", body)

    return send


scenario("Jobs_UpdateJob")(_send_job("PATCH"))
scenario("Jobs_ReplaceJob")(_send_job("PUT"))


@scenario("Jobs_TerminateJob")
def _terminate_job(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.idle_job()
    return world.wire.send(
        "POST", f"/jobs/{job_id}/terminate", example["parameters"]["jobTerminateParameter"]
    )


@scenario("Jobs_DeleteJob")
def _delete_job(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.idle_job()
    return world.wire.send("DELETE", f"/jobs/{job_id}")


# ---------------------------------------------------------------------------------------- tasks
def _create_task(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.idle_job()
    task = dict(example["parameters"]["task"], id=unique(example["parameters"]["task"]["id"]))
    return world.wire.send("POST", f"/jobs/{job_id}/tasks", task)


scenario("Tasks_CreateTask_Basic")(_create_task)
scenario("Tasks_CreateTask_RequiredSlots")(_create_task)
scenario("Tasks_CreateTask_ExitConditions")(_create_task)


@scenario("Tasks_CreateTask_ContainerSettings")
def _create_container_task(world: BatchWorld, example: dict[str, Any]) -> Reply:
    """A container task goes to a pool whose nodes run containers (as Batch requires)."""
    image = example["parameters"]["task"]["containerSettings"]["imageName"]
    containers = {"type": "dockerCompatible", "containerImageNames": [image]}
    pool_id = world.pool(
        "containerPool", virtualMachineConfiguration={**IMAGE, "containerConfiguration": containers}
    )
    job_id = world.job("jobId", pool_id)
    task = dict(example["parameters"]["task"], id=unique(example["parameters"]["task"]["id"]))
    return world.wire.send("POST", f"/jobs/{job_id}/tasks", task)


@scenario("Tasks_CreateTaskCollection_Basic")
@scenario("Tasks_CreateTaskCollection_Complex")
def _task_collection(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.idle_job()
    tasks = [dict(t, id=unique(t["id"])) for t in example["parameters"]["taskCollection"]["value"]]
    renamed = {t["id"].rsplit("-", 1)[0]: t["id"] for t in tasks}
    reply = world.wire.send("POST", f"/jobs/{job_id}/addtaskcollection", {"value": tasks})
    for entry in example["responses"]["200"]["body"]["value"]:
        entry["taskId"] = renamed[entry["taskId"]]
    return reply


@scenario("Tasks_ListTasks")
def _list_tasks(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.idle_job()
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
    return world.wire.send("DELETE", world.idle_task())


@scenario("Tasks_ListTaskFiles")
def _list_task_files(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id, task_id = world.finished_file_task()
    return world.wire.send("GET", f"/jobs/{job_id}/tasks/{task_id}/files", query={"recursive": "false"})


@scenario("Tasks_GetTaskFile")
def _get_task_file(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.wire.send("GET", _task_file(world.finished_file_task(), example))


@scenario("Nodes_GetNodeFile")
def _get_node_file(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.wire.send("GET", _file_on_node(world, world.finished_file_task()))


@scenario("Tasks_GetTaskFileProperties")
def _task_file_properties(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.wire.send("HEAD", _task_file(world.finished_file_task(), example))


@scenario("Tasks_DeleteTaskFile")
def _delete_task_file(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.wire.send("DELETE", _task_file(world.new_file_task(), example), query={"recursive": "false"})


# ------------------------------------------------------------------- more pool, job and task operations
@scenario("Pools_DeletePool")
def _delete_pool(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.wire.send("DELETE", f"/pools/{world.pool('poolId')}")


@scenario("Pools_UpdatePool")
@scenario("Pools_Update_CustomerManagedKey_ForBatchManagedAccounts")
def _update_pool(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id = world.pool("poolId")  # no nodes: vmSize and the VM configuration may change
    return world.wire.send("PATCH", f"/pools/{pool_id}", example["parameters"]["pool"])


def _autoscale_pool(world: BatchWorld) -> str:
    pool_id = world.pool("autoscalePool")
    formula = {"autoScaleFormula": "$TargetDedicatedNodes=0", "autoScaleEvaluationInterval": "PT5M"}
    world.ok(world.wire.send("POST", f"/pools/{pool_id}/enableautoscale", formula), 200)
    return pool_id


@scenario("Pools_DisablePoolAutoScale")
def _disable_autoscale(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.wire.send("POST", f"/pools/{_autoscale_pool(world)}/disableautoscale")


@scenario("Pools_EvaluatePoolAutoscale")
def _evaluate_autoscale(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id = _autoscale_pool(world)
    body = example["parameters"]["evaluateAutoScaleOptions"]
    return world.wire.send("POST", f"/pools/{pool_id}/evaluateautoscale", body)


@scenario("Nodes_EnableNodeScheduling")
def _enable_scheduling(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id, node_id = _node(world, 1)
    disable = {"nodeDisableSchedulingOption": "requeue"}
    world.ok(world.wire.send("POST", f"/pools/{pool_id}/nodes/{node_id}/disablescheduling", disable), 200)
    return world.wire.send("POST", f"/pools/{pool_id}/nodes/{node_id}/enablescheduling")


@scenario("Nodes_ListNodeFiles")
def _list_node_files(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id, node_id = _node(world)
    return world.wire.send("GET", f"/pools/{pool_id}/nodes/{node_id}/files", query={"recursive": "false"})


@scenario("Nodes_GetNodeFileProperties")
def _node_file_properties(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.wire.send("HEAD", _file_on_node(world, world.finished_file_task()))


@scenario("Nodes_DeleteNodeFile")
def _delete_node_file(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.wire.send(
        "DELETE", _file_on_node(world, world.new_file_task()), query={"recursive": "false"}
    )


def _disabled_job(world: BatchWorld) -> str:
    job_id = world.idle_job()
    world.ok(world.wire.send("POST", f"/jobs/{job_id}/disable", {"disableTasks": "requeue"}), 202)
    world.wait_job(job_id, "disabled")
    return job_id


@scenario("Jobs_DisableJob")
def _disable_job(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.idle_job()
    return world.wire.send("POST", f"/jobs/{job_id}/disable", example["parameters"]["disableOptions"])


@scenario("Jobs_EnableJob")
def _enable_job(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.wire.send("POST", f"/jobs/{_disabled_job(world)}/enable")


@scenario("Jobs_ListJobs")
def _list_jobs(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = _disabled_job(world)  # the example's job was disabled, then enabled again
    world.ok(world.wire.send("POST", f"/jobs/{job_id}/enable"), 202)
    world.wait_job(job_id, "active")
    return world.wire.send("GET", "/jobs", query={"$filter": f"id eq '{job_id}'"})


@scenario("Jobs_GetJobTaskCounts")
def _task_counts(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.idle_job()
    world.task(job_id, "taskId")
    return world.wire.send("GET", f"/jobs/{job_id}/taskcounts")


@scenario("Jobs_ListJobPreparationAndReleaseTaskStatus")
def _prep_release_status(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.job(
        "myjob",
        world.node_pool(),
        jobPreparationTask={"id": "myjobpreptask", "commandLine": "/bin/true"},
        jobReleaseTask={"id": "myjobreleasetask", "commandLine": "/bin/true"},
    )
    world.completed_task(job_id, "task1", "/bin/true")
    world.ok(world.wire.send("POST", f"/jobs/{job_id}/terminate", {}), 202)

    def released() -> bool:
        status = world.wire.send("GET", f"/jobs/{job_id}/jobpreparationandreleasetaskstatus").body
        return any(
            (entry.get("jobReleaseTaskExecutionInfo") or {}).get("state") == "completed"
            for entry in status["value"]
        )

    wait_for(released, what="the job release task to complete")
    return world.wire.send("GET", f"/jobs/{job_id}/jobpreparationandreleasetaskstatus")


@scenario("Tasks_GetTask")
def _get_task(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.idle_job()  # no nodes: the task stays active, as in the example
    shown = example["responses"]["200"]["body"]
    task_id = world.task(
        job_id,
        shown["id"],
        shown["commandLine"],
        multiInstanceSettings=shown["multiInstanceSettings"],
        requiredSlots=shown["requiredSlots"],
    )
    return world.wire.send("GET", f"/jobs/{job_id}/tasks/{task_id}")


@scenario("Tasks_ListSubTasks")
def _list_subtasks(world: BatchWorld, example: dict[str, Any]) -> Reply:
    pool_id = world.pool("mpiPool", nodes=2, enableInterNodeCommunication=True, startTask=START_TASK)
    job_id = world.job("jobId", pool_id)
    settings = {"numberOfInstances": 2, "coordinationCommandLine": "/bin/true"}
    task_id = world.completed_task(job_id, "taskId", "/bin/true", multiInstanceSettings=settings)
    return world.wire.send("GET", f"/jobs/{job_id}/tasks/{task_id}/subtasksinfo")


@scenario("Tasks_ReplaceTask")
def _replace_task(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.wire.send("PUT", world.idle_task(), example["parameters"]["task"])


@scenario("Tasks_TerminateTask")
def _terminate_task(world: BatchWorld, example: dict[str, Any]) -> Reply:
    return world.wire.send("POST", f"{world.idle_task()}/terminate")


@scenario("Tasks_ReactivateTask")
def _reactivate_task(world: BatchWorld, example: dict[str, Any]) -> Reply:
    job_id = world.job("jobId", world.node_pool())
    task_id = world.completed_task(job_id, "taskId", "/bin/sh -c 'exit 3'")  # only a failed task reactivates
    return world.wire.send("POST", f"/jobs/{job_id}/tasks/{task_id}/reactivate")


@scenario("Nodes_Get_DualStackNetworking")
def _get_dual_stack_node(world: BatchWorld, example: dict[str, Any]) -> Reply:
    """A node of a pool with the dual stack example's network configuration."""
    create = load_example("Pools_CreatePool_DualStackNetworking")["parameters"]["pool"]
    pool_id, node_id = world.one_node(
        example["parameters"]["poolId"],
        vmSize=create["vmSize"],
        networkConfiguration=create["networkConfiguration"],
    )
    return world.wire.send("GET", f"/pools/{pool_id}/nodes/{node_id}")
