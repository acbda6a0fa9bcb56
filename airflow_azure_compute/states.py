"""Batch state sets and the pure decisions made on them (one per poll, unit-tested branch by branch).

Nothing here does I/O: the hooks fetch task counts, pools and nodes; `evaluate_tasks` and
`evaluate_pool` decide; triggers, sensors and operators act on the decision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

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
    """Result of `evaluate_tasks`."""

    outcome: Outcome
    message: str


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
    "FAILED_SELECT",
    "NODE_BROKEN",
    "NODE_USABLE",
    "SCOPED_SELECT",
    "TASK_PENDING",
    "Decision",
    "Outcome",
    "PoolDecision",
    "TaskCounts",
    "allowed_failures",
    "evaluate_pool",
    "evaluate_tasks",
    "failed_tasks_filter",
    "prefix_filter",
    "progress_line",
]
