"""In-memory Batch entities (pools, nodes, jobs, tasks) and their wire JSON.

Entities keep the create body as received (camelCase) in ``spec`` and add the service-owned fields.
Ids are case-insensitive: containers are keyed by ``id.lower()``. Task counts are kept incrementally
by `Job.set_task_state`, so ``taskcounts`` never scans.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow_azure_compute.emulator.batch import defaults
from airflow_azure_compute.emulator.batch.secret_fields import without_secrets
from airflow_azure_compute.emulator.batch.wire import format_duration, iso, new_etag, now, parse_duration

TASK_STATES = ("active", "preparing", "running", "completed")
_COUNT_KEY = {"active": "active", "preparing": "running", "running": "running", "completed": "completed"}


def _stamp() -> tuple[str, datetime]:
    return new_etag(), now()


@dataclass
class Node:
    """A compute node: ``slots`` task slots, booting through creating → starting → (start task) → idle."""

    id: str
    pool_id: str
    is_dedicated: bool
    root: Path
    slots: int
    state: str = "creating"
    state_time: datetime = field(default_factory=now)
    allocation_time: datetime = field(default_factory=now)
    scheduling_state: str = "enabled"
    next_at: float | None = None  # loop time of the next boot step
    running: dict[tuple[str, str], Task] = field(default_factory=dict)  # (job key, task key) -> task
    used_slots: int = 0
    total_tasks_run: int = 0
    total_tasks_succeeded: int = 0
    start_task_info: dict[str, Any] | None = None
    start_task_run: asyncio.Task[None] | None = None
    prepped_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # job key -> prep info
    prep_runs: dict[str, asyncio.Task[bool]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    leaving: bool = False

    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state, self.state_time = state, now()

    @property
    def free_slots(self) -> int:
        return self.slots - self.used_slots

    @property
    def schedulable(self) -> bool:
        return self.state in ("idle", "running") and self.scheduling_state == "enabled" and not self.leaving

    def refresh_busy_state(self) -> None:
        if self.state in ("idle", "running"):
            self.set_state("running" if self.running else "idle")

    def wire(
        self,
        pool_url: str,
        vm_size: str,
        start_task: dict[str, Any] | None,
        vm_configuration: dict[str, Any] | None = None,
        network: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        counter = self.id.rsplit("_", 1)[0][-4:]  # ids end with the pool's node counter, then _d or _p
        number = int(counter) if counter.isdigit() else 1
        ip_families = ((network or {}).get("publicIPAddressConfiguration") or {}).get("ipFamilies") or []
        dual_stack = any(str(f).lower() == "ipv6" for f in ip_families)
        out: dict[str, Any] = {
            "id": self.id,
            "url": f"{pool_url}/nodes/{self.id}",
            "state": self.state,
            "schedulingState": self.scheduling_state,
            "stateTransitionTime": iso(self.state_time),
            "lastBootTime": iso(self.allocation_time),
            "allocationTime": iso(self.allocation_time),
            "ipAddress": "127.0.0.1",
            "affinityId": f"TVM:{self.id}",
            "vmSize": vm_size,
            "totalTasksRun": self.total_tasks_run,
            "runningTasksCount": len(self.running),
            "runningTaskSlotsCount": self.used_slots,
            "totalTasksSucceeded": self.total_tasks_succeeded,
            "isDedicated": self.is_dedicated,
            "recentTasks": [
                {"taskUrl": t.url, "jobId": t.job.id, "taskId": t.id, "taskState": t.state}
                for t in list(self.running.values())[:10]
            ],
            "nodeAgentInfo": {"version": "emulator", "lastUpdateTime": iso(self.allocation_time)},
            "endpointConfiguration": {"inboundEndpoints": _inbound_endpoints(network, number, dual_stack)},
        }
        if dual_stack:
            out["ipv6Address"] = "::1"
        image = (vm_configuration or {}).get("imageReference")
        if isinstance(image, dict):
            vm = defaults.virtual_machine_configuration(vm_configuration or {})
            # exactVersion: the version the node was created from ("latest" resolves to none here)
            reference = {
                **vm["imageReference"],
                "exactVersion": vm["imageReference"].get("version", "latest"),
            }
            out["virtualMachineInfo"] = {"imageReference": reference}
        if start_task:
            out["startTask"] = defaults.start_task(start_task)
        if self.start_task_info:
            out["startTaskInfo"] = self.start_task_info
        if self.errors:
            out["errors"] = self.errors
        return without_secrets(out)


def _inbound_endpoints(network: dict[str, Any] | None, number: int, dual_stack: bool) -> list[dict[str, Any]]:
    """The inbound endpoints of the pool's ``number``-th node (from 1): one per inbound NAT pool of the
    pool's network configuration (and its IPv6 twin on a dual stack pool), else Batch's default SSH
    rule, each node on its own frontend port of the range; all answer on loopback here."""
    nat_pools = (((network or {}).get("endpointConfiguration") or {}).get("inboundNATPools")) or [
        {"name": "SSHRule", "protocol": "tcp", "backendPort": 22, "frontendPortRangeStart": 50000}
    ]
    endpoints = []
    for nat in nat_pools:
        for suffix, address in (("", "127.0.0.1"), ("-ipv6", "::1")) if dual_stack else (("", "127.0.0.1"),):
            endpoints.append(
                {
                    "name": f"{nat.get('name')}{suffix}.{number}",
                    "protocol": str(nat.get("protocol") or "tcp").lower(),
                    "publicIPAddress": address,
                    "publicFQDN": "localhost",
                    "frontendPort": int(nat.get("frontendPortRangeStart") or 50000) + number - 1,
                    "backendPort": int(nat.get("backendPort") or 22),
                }
            )
    return endpoints


@dataclass
class Pool:
    """A pool: targets, allocation state, nodes, autoscale settings and injected resize errors."""

    id: str
    spec: dict[str, Any]
    base_url: str
    state: str = "active"
    allocation_state: str = "steady"
    etag: str = field(default_factory=new_etag)
    last_modified: datetime = field(default_factory=now)
    creation_time: datetime = field(default_factory=now)
    state_time: datetime = field(default_factory=now)
    allocation_time: datetime = field(default_factory=now)
    target_dedicated: int = 0
    target_low_priority: int = 0
    deallocation_option: str = "requeue"
    resize_done_at: float | None = None
    stop_done_at: float | None = None  # loop time a stop-resize settles (allocationState ``stopping``)
    resize_errors: list[dict[str, Any]] | None = None
    injected_resize_error: dict[str, Any] | None = None
    enable_autoscale: bool = False
    autoscale_formula: str | None = None
    autoscale_interval: timedelta = timedelta(minutes=15)
    autoscale_run: dict[str, Any] | None = None
    autoscale_next_at: float | None = None
    nodes: dict[str, Node] = field(default_factory=dict)
    node_counter: int = 0
    gone_at: float | None = None

    @property
    def url(self) -> str:
        return f"{self.base_url}/pools/{self.id}"

    @property
    def slots_per_node(self) -> int:
        return max(1, int(self.spec.get("taskSlotsPerNode") or 1))

    def touch(self) -> None:
        self.etag, self.last_modified = _stamp()

    def set_allocation(self, state: str) -> None:
        if state != self.allocation_state:
            self.allocation_state, self.allocation_time = state, now()
            self.touch()

    def current(self, dedicated: bool) -> int:
        return sum(1 for n in self.nodes.values() if n.is_dedicated == dedicated and not n.leaving)

    def wire(self) -> dict[str, Any]:
        spec = self.spec
        out: dict[str, Any] = {
            k: v for k, v in spec.items() if k not in ("targetDedicatedNodes", "targetLowPriorityNodes")
        }
        out.update(
            {
                "id": self.id,
                "url": self.url,
                "eTag": self.etag,
                "lastModified": iso(self.last_modified),
                "creationTime": iso(self.creation_time),
                "state": self.state,
                "stateTransitionTime": iso(self.state_time),
                "allocationState": self.allocation_state,
                "allocationStateTransitionTime": iso(self.allocation_time),
                "taskSlotsPerNode": self.slots_per_node,
                "currentDedicatedNodes": self.current(True),
                "currentLowPriorityNodes": self.current(False),
                "targetDedicatedNodes": self.target_dedicated,
                "targetLowPriorityNodes": self.target_low_priority,
                "enableAutoScale": self.enable_autoscale,
                "resizeTimeout": spec.get("resizeTimeout") or "PT15M",
            }
        )
        if self.enable_autoscale:
            out["autoScaleFormula"] = self.autoscale_formula
            out["autoScaleEvaluationInterval"] = format_duration(self.autoscale_interval)
        else:
            out.pop("autoScaleFormula", None)
            out.pop("autoScaleEvaluationInterval", None)
        if self.autoscale_run and self.enable_autoscale:
            out["autoScaleRun"] = self.autoscale_run
        if self.resize_errors:
            out["resizeErrors"] = self.resize_errors
        # read-only: the mode nodes talk to Batch in ("default" resolves to classic, as the examples show)
        simplified = str(spec.get("targetNodeCommunicationMode") or "").lower() == "simplified"
        out["currentNodeCommunicationMode"] = "simplified" if simplified else "classic"
        if isinstance(spec.get("identity"), dict):
            out["identity"] = defaults.pool_identity(spec["identity"])
        return without_secrets(defaults.pool(out))


@dataclass(kw_only=True)
class _Tracked:
    """State, timestamps and eTag shared by jobs and tasks (the state before the last change is kept)."""

    state: str = "active"
    etag: str = field(default_factory=new_etag)
    last_modified: datetime = field(default_factory=now)
    creation_time: datetime = field(init=False)
    state_time: datetime = field(init=False)
    previous_state: str | None = None
    previous_state_time: datetime | None = None

    def __post_init__(self) -> None:
        # one clock read for all three (a 10,000-task fan-out creates 10,000 of these)
        self.creation_time = self.state_time = self.last_modified

    def touch(self) -> None:
        self.etag, self.last_modified = _stamp()

    def enter_state(self, state: str) -> bool:
        """Move to ``state``, remembering the previous one; ``False`` when already in it."""
        if state == self.state:
            return False
        self.previous_state, self.previous_state_time = self.state, self.state_time
        self.state, self.state_time = state, now()
        return True

    def _wire_tracked(self, url: str) -> dict[str, Any]:
        return {
            "url": url,
            "eTag": self.etag,
            "lastModified": iso(self.last_modified),
            "creationTime": iso(self.creation_time),
            "state": self.state,
            "stateTransitionTime": iso(self.state_time),
        }

    def _wire_previous(self, out: dict[str, Any]) -> None:
        if self.previous_state:
            out["previousState"] = self.previous_state
            out["previousStateTransitionTime"] = iso(self.previous_state_time)


@dataclass
class Task(_Tracked):
    """A task of a job; ``spec`` is the create body; state changes go through the job."""

    id: str
    job: Job
    spec: dict[str, Any]
    execution: dict[str, Any] = field(default_factory=lambda: {"retryCount": 0, "requeueCount": 0})
    node_info: dict[str, Any] | None = None
    node: Node | None = None
    other_nodes: list[Node] = field(default_factory=list)  # a multi-instance task's subtask nodes
    subtasks: list[dict[str, Any]] | None = None  # a multi-instance task's subtasksinfo entries
    task_dir: Path | None = None
    run: asyncio.Task[None] | None = None
    job_manager: bool = False  # the job's ``jobManagerTask`` (its completion may end the job)
    generation: int = 0  # bumped whenever a run is abandoned (terminate, requeue, delete)
    dep_ids: list[str] | None = None  # lowercase ids of dependencies, expanded once
    dep_cursor: int = 0  # dependencies before this index have succeeded

    @property
    def key(self) -> str:
        return self.id.lower()

    @property
    def url(self) -> str:
        return f"{self.job.url}/tasks/{self.id}"

    @property
    def required_slots(self) -> int:
        return max(1, int(self.spec.get("requiredSlots") or 1))

    @property
    def depends_on(self) -> dict[str, Any] | None:
        deps = self.spec.get("dependsOn")
        return deps if deps and (deps.get("taskIds") or deps.get("taskIdRanges")) else None

    def max_retries(self) -> int:
        own = (self.spec.get("constraints") or {}).get("maxTaskRetryCount")
        if own is not None:
            return int(own)
        return int((self.job.spec.get("constraints") or {}).get("maxTaskRetryCount") or 0)

    def max_wall_clock(self) -> timedelta | None:
        return parse_duration((self.spec.get("constraints") or {}).get("maxWallClockTime"))

    def view(self) -> Mapping[str, Any]:
        """A lazy read-only view of `wire` for ``$filter``/``$select`` (computes only what is read)."""
        return _TaskView(self)

    def wire(self) -> dict[str, Any]:
        out = defaults.task_like(self.spec)
        constraints = dict(self.spec.get("constraints") or {})
        constraints.setdefault("maxWallClockTime", format_duration(self.max_wall_clock()))
        constraints.setdefault("retentionTime", "P7D")
        constraints["maxTaskRetryCount"] = self.max_retries()
        out.update(self._wire_tracked(self.url))
        out.update(
            {
                "constraints": constraints,
                "requiredSlots": self.required_slots,
                "executionInfo": self.execution,
            }
        )
        self._wire_previous(out)
        if self.node_info:
            out["nodeInfo"] = self.node_info
        return without_secrets(out)


class _TaskView(Mapping[str, Any]):
    _CHEAP: dict[str, Any] = {
        "id": lambda t: t.id,
        "state": lambda t: t.state,
        "executionInfo": lambda t: t.execution,
        "nodeInfo": lambda t: t.node_info,
        "url": lambda t: t.url,
        "eTag": lambda t: t.etag,
        "requiredSlots": lambda t: t.required_slots,
        "previousState": lambda t: t.previous_state,
    }

    def __init__(self, task: Task) -> None:
        self._task = task
        self._full: dict[str, Any] | None = None

    def __getitem__(self, key: str) -> Any:
        getter = self._CHEAP.get(key)
        if getter is not None:
            value = getter(self._task)
            if value is None:
                raise KeyError(key)
            return value
        if self._full is None:
            self._full = self._task.wire()
        return self._full[key]

    def __iter__(self) -> Iterator[str]:
        if self._full is None:
            self._full = self._task.wire()
        return iter(self._full)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class TaskCounts:
    """Incremental ``taskCounts`` and ``taskSlotCounts`` of a job."""

    tasks: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("active", "running", "completed", "succeeded", "failed"), 0)
    )
    slots: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("active", "running", "completed", "succeeded", "failed"), 0)
    )

    def add(self, task: Task, state: str, result: str | None, sign: int) -> None:
        key = _COUNT_KEY[state]
        self.tasks[key] += sign
        self.slots[key] += sign * task.required_slots
        if state == "completed":
            outcome = "failed" if result == "failure" else "succeeded"
            self.tasks[outcome] += sign
            self.slots[outcome] += sign * task.required_slots

    def wire(self) -> dict[str, Any]:
        return {"taskCounts": dict(self.tasks), "taskSlotCounts": dict(self.slots)}


@dataclass
class Job(_Tracked):
    """A job: its tasks (keyed by lowercase id, in creation order), a ready queue and counts."""

    id: str
    spec: dict[str, Any]
    base_url: str
    execution: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    queue: deque[Task] = field(default_factory=deque)
    blocked: dict[str, Task] = field(default_factory=dict)
    waiting: dict[str, list[Task]] = field(default_factory=dict)  # dependency key -> blocked tasks
    counts: TaskCounts = field(default_factory=TaskCounts)
    gone_at: float | None = None
    prep_status: dict[str, dict[str, Any]] = field(default_factory=dict)  # node id -> status entry
    auto_pool_id: str | None = None  # the pool made from ``poolInfo.autoPoolSpecification``

    def __post_init__(self) -> None:
        super().__post_init__()
        self.execution = {"startTime": iso(self.creation_time), "poolId": self.pool_id}

    @property
    def key(self) -> str:
        return self.id.lower()

    @property
    def url(self) -> str:
        return f"{self.base_url}/jobs/{self.id}"

    @property
    def pool_id(self) -> str:
        return self.auto_pool_id or str((self.spec.get("poolInfo") or {}).get("poolId") or "")

    @property
    def priority(self) -> int:
        return int(self.spec.get("priority") or 0)

    def set_state(self, state: str) -> None:
        if self.enter_state(state):
            self.touch()

    def add_task(self, task: Task) -> None:
        self.tasks[task.key] = task
        self.counts.add(task, "active", None, +1)
        self.queue.append(task)

    def remove_task(self, task: Task) -> None:
        self.tasks.pop(task.key, None)
        self.blocked.pop(task.key, None)
        self.counts.add(task, task.state, task.execution.get("result"), -1)

    def set_task_state(self, task: Task, state: str, **execution: Any) -> None:
        """Move ``task`` to ``state`` (updating counts), merging ``execution`` into executionInfo."""
        self.counts.add(task, task.state, task.execution.get("result"), -1)
        task.enter_state(state)
        for name, value in execution.items():
            if value is None:
                task.execution.pop(name, None)
            else:
                task.execution[name] = value
        task.touch()
        self.counts.add(task, task.state, task.execution.get("result"), +1)

    @property
    def unfinished(self) -> int:
        return self.counts.tasks["active"] + self.counts.tasks["running"]

    def wire(self) -> dict[str, Any]:
        out = dict(self.spec)
        constraints = dict(self.spec.get("constraints") or {})
        constraints.setdefault("maxWallClockTime", format_duration(None))
        constraints.setdefault("maxTaskRetryCount", 0)
        out.update(self._wire_tracked(self.url))
        out.update(
            {
                "priority": self.priority,
                "maxParallelTasks": self.spec.get("maxParallelTasks", -1),
                "allowTaskPreemption": bool(self.spec.get("allowTaskPreemption", False)),
                "constraints": constraints,
                "onAllTasksComplete": self.spec.get("onAllTasksComplete") or "noaction",
                "onTaskFailure": self.spec.get("onTaskFailure") or "noaction",
                "usesTaskDependencies": bool(self.spec.get("usesTaskDependencies", False)),
                "executionInfo": self.execution,
            }
        )
        self._wire_previous(out)
        return without_secrets(defaults.job(out))
