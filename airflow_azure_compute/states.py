"""Batch state sets and the pure decisions made on them (one per poll, unit-tested branch by branch).

Nothing here does I/O: the hooks fetch task counts, pools and nodes; `evaluate_tasks` and
`evaluate_pool` decide; triggers, sensors and operators act on the decision.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Final, Literal

from airflow_azure_compute.specs import FailurePolicy


class Outcome(str, Enum):
    """What a poll concluded."""

    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


#: Node states in which a node can take tasks.
NODE_USABLE: Final = frozenset({"idle", "running"})
#: Node states that mean the node will never become usable without intervention.
NODE_BROKEN: Final = frozenset({"starttaskfailed", "unusable"})
#: Task states that still need work (the job is not done while a task is in one of these).
TASK_PENDING: Final = frozenset({"active", "preparing", "running"})


@dataclass(frozen=True)
class TaskCounts:
    """The ``taskcounts`` of a job (or the same numbers computed from a prefix-scoped task list)."""

    active: int = 0
    running: int = 0
    completed: int = 0
    succeeded: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.active + self.running + self.completed

    @classmethod
    def from_states(cls, tasks: Iterable[tuple[str, str | None]]) -> TaskCounts:
        """Counts from ``(state, executionInfo.result)`` pairs (prefix-scoped mode)."""
        active = running = completed = failed = 0
        for state, result in tasks:
            if state == "completed":
                completed += 1
                failed += result == "failure"
            elif state in ("running", "preparing"):
                running += 1
            else:
                active += 1
        return cls(active, running, completed, completed - failed, failed)

    def as_dict(self) -> dict[str, int]:
        return {
            "active": self.active,
            "running": self.running,
            "completed": self.completed,
            "succeeded": self.succeeded,
            "failed": self.failed,
        }


@dataclass(frozen=True)
class Decision:
    """Result of `evaluate_tasks` (and of `decide_job`, which names the ``blockage`` it found)."""

    outcome: Outcome
    message: str
    blockage: str | None = None

    @property
    def status(self) -> Literal["success", "failed"]:
        """The event status of a final decision: ``success`` or ``failed``."""
        return "success" if self.outcome is Outcome.SUCCEEDED else "failed"


def allowed_failures(policy: FailurePolicy, total: int, tolerate_percent: float) -> int:
    """How many failed tasks the policy accepts before failing (fail-fast: none)."""
    if policy is FailurePolicy.TOLERATE:
        return math.floor(total * tolerate_percent / 100.0 + 1e-9)
    return 0


def evaluate_tasks(
    counts: TaskCounts,
    *,
    expected: int | None,
    policy: FailurePolicy = FailurePolicy.FAIL_FAST,
    tolerate_percent: float = 0.0,
) -> Decision:
    """Decide from one poll's counts.

    :param expected: how many tasks the fan-out created; ``None`` means "whatever the job holds".
    :param policy: see `FailurePolicy`.
    :param tolerate_percent: with ``TOLERATE``, the share of tasks allowed to fail.
    """
    total = max(expected or 0, counts.total)
    allowed = allowed_failures(policy, total, tolerate_percent)
    done = counts.completed >= total > 0 and counts.active == 0 and counts.running == 0
    summary = f"{counts.completed}/{total} done, {counts.failed} failed"
    if policy is FailurePolicy.FAIL_FAST and counts.failed:
        return Decision(Outcome.FAILED, f"{summary}: failing fast at the first failed task")
    if policy is FailurePolicy.TOLERATE and counts.failed > allowed:
        return Decision(
            Outcome.FAILED, f"{summary}: more than {tolerate_percent:g}% ({allowed} tasks) failed"
        )
    if not done:
        if total == 0 and expected == 0:
            return Decision(Outcome.SUCCEEDED, "no tasks to wait for")
        return Decision(Outcome.WAITING, summary)
    if counts.failed and policy is FailurePolicy.RUN_ALL:
        return Decision(Outcome.FAILED, f"{summary}: every task ran; {counts.failed} failed")
    return Decision(Outcome.SUCCEEDED, summary)


def progress_line(counts: TaskCounts, expected: int | None, *, rate: float | None, elapsed: float) -> str:
    """``done/total, running, failed, rate, ETA`` for the task log."""
    total = max(expected or 0, counts.total)
    remaining = max(total - counts.completed, 0)
    rate_txt = f"{rate:.1f} tasks/s" if rate else "rate n/a"
    eta = (
        f"ETA {_duration(remaining / rate)}"
        if rate and remaining
        else ("ETA 0s" if not remaining else "ETA n/a")
    )
    pct = 100.0 * counts.completed / total if total else 0.0
    return (
        f"{counts.completed}/{total} done ({pct:.1f}%), {counts.running} running, {counts.active} queued, "
        f"{counts.failed} failed, {rate_txt}, {eta}, elapsed {_duration(elapsed)}"
    )


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, sec = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass(frozen=True)
class PoolDecision:
    """Result of `evaluate_pool`."""

    outcome: Outcome
    message: str
    ready_nodes: int = 0


def evaluate_pool(
    pool: Mapping[str, Any], node_states: Iterable[str], *, min_ready_nodes: int
) -> PoolDecision:
    """Decide whether a pool is ready from its REST JSON and its nodes' states.

    Ready when at least ``min_ready_nodes`` are idle or running; failed at once when the pool reports
    resize errors, a node's start task failed, or the pool is being deleted.
    """
    states = list(node_states)
    ready = sum(s in NODE_USABLE for s in states)
    pool_id = pool.get("id", "?")
    if pool.get("state") == "deleting":
        return PoolDecision(Outcome.FAILED, f"pool {pool_id} is being deleted", ready)
    errors = pool.get("resizeErrors") or []
    if errors:
        text = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        return PoolDecision(Outcome.FAILED, f"pool {pool_id} resize failed: {text}", ready)
    broken = [s for s in states if s in NODE_BROKEN]
    if broken:
        return PoolDecision(
            Outcome.FAILED,
            f"pool {pool_id}: {len(broken)} node(s) {sorted(set(broken))} (start task failed or node unusable)",
            ready,
        )
    if ready >= min_ready_nodes:
        return PoolDecision(Outcome.SUCCEEDED, f"pool {pool_id}: {ready} node(s) ready", ready)
    if pool.get("allocationState") == "steady" and not pool.get("enableAutoScale"):
        target = int(pool.get("targetDedicatedNodes") or 0) + int(pool.get("targetLowPriorityNodes") or 0)
        if target < min_ready_nodes:
            return PoolDecision(
                Outcome.FAILED,
                f"pool {pool_id} targets {target} node(s), fewer than min_ready_nodes={min_ready_nodes}",
                ready,
            )
    return PoolDecision(
        Outcome.WAITING,
        f"pool {pool_id}: {ready}/{min_ready_nodes} node(s) ready ({len(states)} listed)",
        ready,
    )


#: Job states in which no more tasks will run.
JOB_ENDED: Final = frozenset({"terminating", "completed", "deleting"})


def might_be_stuck(counts: TaskCounts) -> bool:
    """Tasks wait and none runs: the one shape of a poll's counts that warrants looking further."""
    return counts.active > 0 and counts.running == 0


@dataclass(frozen=True)
class BlockageQuery:
    """One read `find_blockage` asks its driver for: ``kind`` is ``job`` (the job's JSON, or None),
    ``pool`` (the pool's JSON, or None), ``active`` (the active tasks with ``id``, ``dependsOn``) or
    ``failed`` (the failed tasks with ``id``, ``executionInfo``, ``exitConditions``)."""

    kind: str
    target: str
    prefix: str | None = None


def _dependency_ids(task: Mapping[str, Any]) -> list[str]:
    deps = task.get("dependsOn") or {}
    ids = [str(i).lower() for i in deps.get("taskIds") or []]
    for rng in deps.get("taskIdRanges") or []:
        ids.extend(str(i) for i in range(int(rng["start"]), int(rng["end"]) + 1))
    return ids


def blocks_dependents(task: Mapping[str, Any]) -> bool:
    """A failed task holds back the tasks depending on it (``dependencyAction`` ``block``, Batch's
    default for a failure) unless the exit options that apply to it say ``satisfy``."""
    conditions = task.get("exitConditions") or {}
    code = (task.get("executionInfo") or {}).get("exitCode")
    options: Mapping[str, Any] | None = None
    if code is not None:
        for entry in conditions.get("exitCodes") or []:
            if int(entry.get("code", -1)) == int(code):
                options = entry.get("exitOptions") or {}
                break
        else:
            for entry in conditions.get("exitCodeRanges") or []:
                if int(entry.get("start", 0)) <= int(code) <= int(entry.get("end", -1)):
                    options = entry.get("exitOptions") or {}
                    break
    if options is None:
        options = conditions.get("default") or {}
    return (options.get("dependencyAction") or "block") != "satisfy"


def blocked_tasks(
    active: Sequence[Mapping[str, Any]], failed: Sequence[Mapping[str, Any]]
) -> tuple[list[str], list[str]]:
    """``(blocked, blockers)``: the active tasks that can never run because a dependency failed (directly
    or through another blocked task), and the failed tasks that block them."""
    failing = {str(t["id"]).lower(): str(t["id"]) for t in failed if blocks_dependents(t)}
    deps = {str(t["id"]).lower(): _dependency_ids(t) for t in active}
    blocked: set[str] = set()
    changed = True
    while changed:
        changed = False
        for key, dep_ids in deps.items():
            if key not in blocked and any(d in failing or d in blocked for d in dep_ids):
                blocked.add(key)
                changed = True
    used = {d for key in blocked for d in deps[key] if d in failing}
    names = {str(t["id"]).lower(): str(t["id"]) for t in active}
    return sorted(names[k] for k in blocked), sorted(failing[k] for k in used)


def _ids(ids: Sequence[str], limit: int = 5) -> str:
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def find_blockage(
    job_id: str, counts: TaskCounts, *, prefix: str | None = None
) -> Generator[BlockageQuery, Any, str | None]:
    """Why no remaining task of ``job_id`` can ever run, or None when some can (or might).

    Sans-I/O: yields `BlockageQuery` reads and is sent their answers, so the sync sensor and the
    async trigger drive the same decision with their own client. Costs nothing unless the counts
    `might_be_stuck`; then one job GET, then one pool GET, and the two task lists only when tasks
    failed in a job that uses task dependencies. Blocked work: the job ended or was deleted with tasks
    never run; its pool does not exist, is being deleted, or has no node and no way to get one (no
    autoscale, zero targets); every waiting task depends, directly or not, on a failed task whose
    ``dependencyAction`` is ``block``.
    """
    if not might_be_stuck(counts):
        return None
    job = yield BlockageQuery("job", job_id)
    if job is None:
        return f"job {job_id} does not exist (deleted?) while {counts.active} task(s) never ran"
    if job.get("state") in JOB_ENDED:
        reason = (job.get("executionInfo") or {}).get("terminateReason")
        return (
            f"job {job_id} is {job.get('state')}"
            + (f" ({reason})" if reason else "")
            + f" with {counts.active} task(s) that never ran"
        )
    pool_id = str((job.get("poolInfo") or {}).get("poolId") or "")
    if pool_id:
        pool = yield BlockageQuery("pool", pool_id)
        if pool is None:
            return f"pool {pool_id} of job {job_id} does not exist; {counts.active} task(s) cannot run"
        if pool.get("state") == "deleting":
            return f"pool {pool_id} of job {job_id} is being deleted; {counts.active} task(s) cannot run"
        nodes = sum(
            int(pool.get(k) or 0)
            for k in (
                "currentDedicatedNodes",
                "currentLowPriorityNodes",
                "targetDedicatedNodes",
                "targetLowPriorityNodes",
            )
        )
        if pool.get("allocationState") == "steady" and not pool.get("enableAutoScale") and nodes == 0:
            return (
                f"pool {pool_id} of job {job_id} has zero nodes and no autoscale; "
                f"{counts.active} task(s) cannot run (resize the pool or enable autoscale)"
            )
    if counts.failed and job.get("usesTaskDependencies"):
        active = yield BlockageQuery("active", job_id, prefix)
        failed = yield BlockageQuery("failed", job_id, prefix)
        blocked, blockers = blocked_tasks(active, failed)
        if active and len(blocked) == len(active):
            return (
                f"{len(blocked)} task(s) can never run ({_ids(blocked)}): blocked by failed "
                f"dependencies {_ids(blockers)}"
            )
    return None


def evaluate_blockage(
    counts: TaskCounts,
    reason: str,
    *,
    expected: int | None,
    policy: FailurePolicy = FailurePolicy.FAIL_FAST,
    tolerate_percent: float = 0.0,
) -> Decision:
    """The wait's decision when no remaining task can run: failed, unless ``tolerate`` accepts the
    failed and never-run tasks together."""
    total = max(expected or 0, counts.total)
    never_run = max(total - counts.completed, 0)
    summary = f"{counts.completed}/{total} done, {counts.failed} failed, {never_run} never ran: {reason}"
    if policy is FailurePolicy.TOLERATE:
        allowed = allowed_failures(policy, total, tolerate_percent)
        if counts.failed + never_run <= allowed:
            return Decision(Outcome.SUCCEEDED, f"{summary} (within {tolerate_percent:g}%)")
    return Decision(Outcome.FAILED, summary)


def decide_job(
    job_id: str,
    counts: TaskCounts,
    *,
    prefix: str | None,
    expected: int | None,
    policy: FailurePolicy = FailurePolicy.FAIL_FAST,
    tolerate_percent: float = 0.0,
) -> Generator[BlockageQuery, Any, Decision | None]:
    """One poll's decision on a job's tasks, the one both the sync sensor and the async trigger make.

    Sans-I/O like `find_blockage`, which it runs only while the counts wait: None when they wait and
    some task can (or might) still run; else the final `Decision`, whose ``blockage`` names what
    stopped the wait early when the counts alone did not end it.
    """
    decision = evaluate_tasks(counts, expected=expected, policy=policy, tolerate_percent=tolerate_percent)
    if decision.outcome is not Outcome.WAITING:
        return decision
    reason = yield from find_blockage(job_id, counts, prefix=prefix)
    if reason is None:
        return None
    blocked = evaluate_blockage(
        counts, reason, expected=expected, policy=policy, tolerate_percent=tolerate_percent
    )
    return replace(blocked, blockage=reason)


def job_event(
    status: str,
    message: str,
    *,
    job_id: str,
    task_id_prefix: str | None,
    counts: TaskCounts | None = None,
    failed_tasks: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The event of a job wait (``BatchJobEvent``), whether the trigger or the sensor decided it."""
    return {
        "status": status,
        "job_id": job_id,
        "task_id_prefix": task_id_prefix,
        "counts": counts.as_dict() if counts else {},
        "failed_tasks": list(failed_tasks),
        "message": message,
    }


BLOCKED_SELECT: Final = ["id", "dependsOn"]
BLOCKER_SELECT: Final = ["id", "executionInfo", "exitConditions"]


def active_tasks_filter(prefix: str | None = None) -> str:
    """OData ``$filter`` for the tasks still waiting to run (optionally under an id prefix)."""
    base = "state eq 'active'"
    return f"startswith(id,'{prefix}') and {base}" if prefix else base


def failed_tasks_filter(prefix: str | None = None) -> str:
    """OData ``$filter`` for completed tasks whose result is failure (optionally under an id prefix)."""
    base = "executionInfo/result eq 'failure'"
    return f"startswith(id,'{prefix}') and {base}" if prefix else base


def prefix_filter(prefix: str) -> str:
    """OData ``$filter`` selecting a fan-out's tasks by id prefix."""
    return f"startswith(id,'{prefix}')"


#: ``$select`` for the prefix-scoped poll and the failed-task list.
SCOPED_SELECT: Final = ["id", "state", "executionInfo"]
FAILED_SELECT: Final = ["id", "executionInfo"]

__all__ = [
    "BLOCKED_SELECT",
    "BLOCKER_SELECT",
    "FAILED_SELECT",
    "JOB_ENDED",
    "NODE_BROKEN",
    "NODE_USABLE",
    "SCOPED_SELECT",
    "TASK_PENDING",
    "BlockageQuery",
    "Decision",
    "Outcome",
    "PoolDecision",
    "TaskCounts",
    "active_tasks_filter",
    "allowed_failures",
    "blocked_tasks",
    "blocks_dependents",
    "decide_job",
    "evaluate_blockage",
    "evaluate_pool",
    "evaluate_tasks",
    "failed_tasks_filter",
    "find_blockage",
    "job_event",
    "might_be_stuck",
    "prefix_filter",
    "progress_line",
]
