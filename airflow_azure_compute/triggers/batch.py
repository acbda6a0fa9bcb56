"""Batch triggers: wait for a job's tasks, or for a pool's nodes, on the native async client.

Each poll is one pure decision (`evaluate_tasks` / `evaluate_pool`) over what one or two requests
returned. Transient service errors (429, 5xx, resets) are retried with backoff inside an error budget
that counts the errors of the last ``error_window_s`` seconds (a long, healthy wait under recurring
throttling never spends it; a service failing without pause does); an absolute deadline
(epoch seconds) survives triggerer restarts because it is part of the serialized state.

``on_kill`` (a user killed the task) terminates this run's remote work; ``cleanup`` only closes
clients, so a triggerer restart or redistribution leaves the tasks running and the new trigger resumes.
A job the operator held while it added its tasks (`BatchHook.hold_job`) is released by the trigger's
first poll (``release_job``): a task killed before the triggerer ran its trigger leaves only held tasks.
"""

from __future__ import annotations

import asyncio
import random
import time
from abc import abstractmethod
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from airflow.triggers.base import TriggerEvent

from airflow_azure_compute.deferral import poll_delay
from airflow_azure_compute.hooks.batch import BatchAsyncHook, adrive_probe, backoff, is_transient
from airflow_azure_compute.specs import FailurePolicy
from airflow_azure_compute.states import (
    Outcome,
    TaskCounts,
    decide_job,
    evaluate_pool,
    job_event,
    progress_line,
)
from airflow_azure_compute.triggers.base import SerializableTrigger
from airflow_azure_compute.triggers.live_output import DEFAULT_MAX_BYTES, TaskOutputTail

if TYPE_CHECKING:
    from azure.batch.aio import BatchClient as AsyncBatchClient
    from typing_extensions import Required, Unpack

    class PollingArgs(TypedDict, total=False):
        """The keyword arguments of `_BatchPollingTrigger`, passed through by its subclasses."""

        conn_id: Required[str]
        deadline: Required[float]
        poll_interval: float
        error_budget: int
        error_window_s: float


EventStatus = Literal["success", "failed", "timeout", "error"]


class BatchJobEvent(TypedDict, total=False):
    """Payload of `BatchJobCompleteTrigger` events."""

    status: EventStatus
    job_id: str
    task_id_prefix: str | None
    counts: dict[str, int]
    failed_tasks: list[dict[str, Any]]
    message: str


class BatchPoolEvent(TypedDict, total=False):
    """Payload of `BatchPoolReadyTrigger` events."""

    status: EventStatus
    pool_id: str
    ready_nodes: int
    message: str


class ErrorWindow:
    """A transient-error budget per time window: at most ``budget`` errors in any ``window_s`` seconds.

    :param budget: errors tolerated within one window.
    :param window_s: the window's length in seconds.
    """

    def __init__(self, budget: int, window_s: float) -> None:
        self.budget = budget
        self.window_s = window_s
        self.times: deque[float] = deque()
        self.consecutive = 0

    @property
    def in_window(self) -> int:
        return len(self.times)

    def spend(self, now: float) -> bool:
        """Count one error at ``now``; True when the window holds more than the budget."""
        self.consecutive += 1
        self.times.append(now)
        while self.times and self.times[0] <= now - self.window_s:
            self.times.popleft()
        return len(self.times) > self.budget


class _BatchPollingTrigger(SerializableTrigger):
    """Shared loop: poll, decide, log, retry transient errors within a budget, honour the deadline.

    :param conn_id: ``azure_compute_batch`` connection id.
    :param deadline: absolute epoch seconds; a ``timeout`` event fires after it.
    :param poll_interval: seconds between polls.
    :param error_budget: transient errors tolerated within ``error_window_s``.
    :param error_window_s: the window of the error budget, in seconds.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        deadline: float,
        poll_interval: float = 10.0,
        error_budget: int = 20,
        error_window_s: float = 600.0,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.deadline = float(deadline)
        self.poll_interval = float(poll_interval)
        self.error_budget = int(error_budget)
        self.error_window_s = float(error_window_s)

    def hook(self) -> BatchAsyncHook:
        return BatchAsyncHook(self.conn_id)

    @abstractmethod
    async def poll(self, hook: BatchAsyncHook, client: AsyncBatchClient) -> dict[str, Any] | None:
        """One poll: an event payload when done, else None."""

    @abstractmethod
    def timeout_event(self) -> dict[str, Any]:
        """The event payload fields that identify what timed out."""

    def first_poll_delay(self) -> float:
        """Before the first poll: a random part of one interval.

        The operator checked once before deferring; spreading the first poll over one interval keeps a
        triggerer that (re)starts many triggers at once from firing all their requests together.
        """
        return random.uniform(0, self.poll_interval)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        await asyncio.sleep(self.first_poll_delay())
        hook = self.hook()
        errors = ErrorWindow(self.error_budget, self.error_window_s)
        try:
            async with hook.client() as client:
                while True:
                    try:
                        event = await self.poll(hook, client)
                    except Exception as err:
                        if not is_transient(err):
                            raise
                        if errors.spend(time.monotonic()):
                            yield TriggerEvent(
                                {
                                    **self.timeout_event(),
                                    "status": "error",
                                    "message": f"transient error budget ({self.error_budget} in "
                                    f"{self.error_window_s:g}s) spent; "
                                    f"last: {type(err).__name__}: {getattr(err, 'message', err)}",
                                }
                            )
                            return
                        delay = min(backoff(errors.consecutive, base=1.0), self.poll_interval * 3)
                        self.log.warning(
                            "transient error %d/%d in the last %gs (%s), retrying in %.1fs",
                            errors.in_window,
                            self.error_budget,
                            self.error_window_s,
                            type(err).__name__,
                            delay,
                        )
                        await asyncio.sleep(delay)
                        continue
                    errors.consecutive = 0
                    if event is not None:
                        yield TriggerEvent(event)
                        return
                    if time.time() >= self.deadline:
                        yield TriggerEvent(self.timeout_event())
                        return
                    await asyncio.sleep(poll_delay(self.poll_interval, self.deadline))
        except Exception as err:
            yield TriggerEvent(
                {
                    **self.timeout_event(),
                    "status": "error",
                    "message": f"{type(err).__name__}: {getattr(err, 'message', None) or err}",
                }
            )


class BatchJobCompleteTrigger(_BatchPollingTrigger):
    """Fires when a job's (or one fan-out's) tasks are done, or fail per the failure policy.

    Each poll costs one ``taskcounts`` request (``scope="job"``), or a filtered, ``$select``-ed, paged
    list of the tasks under ``task_id_prefix`` (``scope="prefix"``: ⌈n/1000⌉ requests, for jobs shared
    by several fan-outs). When the decision is final and tasks failed, one filtered list of the failed
    tasks follows. Only when tasks wait and none runs does a poll look further, for work that can never
    run (`find_blockage`: a missing or empty pool, an ended job,
    tasks blocked by failed dependencies); then the wait ends at once, per the failure policy.

    :param job_id: the Batch job.
    :param task_id_prefix: this fan-out's task-id prefix (scoping and ``on_kill``).
    :param expected_tasks: how many tasks the fan-out created (None: whatever the job holds).
    :param scope: ``job`` (taskcounts) or ``prefix``.
    :param failure_policy: see `FailurePolicy`.
    :param tolerate_percent: share of failed tasks tolerated with ``tolerate``.
    :param owns_job: this run created the job: ``on_kill`` terminates the whole job.
    :param terminate_on_kill: ``on_kill`` terminates the job this run owns (else this fan-out's tasks);
        False leaves everything running.
    :param failed_limit: at most this many failed tasks are reported in the event.
    :param progress_quiet_s: 0 logs the progress line at every poll; a positive value logs unchanged
        progress at most this often (changed progress is always logged), for triggerers that run
        thousands of waits on queued work.
    :param stream_output: task ids whose growing stdout/stderr is streamed into the log at each poll
        (see `airflow_azure_compute.triggers.live_output`).
    :param stream_output_bytes: at most this many bytes read per streamed file and poll.
    :param release_job: the operator held the job while adding its tasks (`BatchHook.hold_job`):
        the first poll, made at once, enables it (`BatchHook.release_job`), and polls repeat that until
        it is released.
    """

    def __init__(
        self,
        *,
        job_id: str,
        task_id_prefix: str | None = None,
        expected_tasks: int | None = None,
        scope: str = "job",
        failure_policy: str = FailurePolicy.FAIL_FAST.value,
        tolerate_percent: float = 0.0,
        owns_job: bool = False,
        terminate_on_kill: bool = True,
        failed_limit: int = 100,
        progress_quiet_s: float = 0.0,
        stream_output: list[str] | None = None,
        stream_output_bytes: int = DEFAULT_MAX_BYTES,
        release_job: bool = False,
        **polling: Unpack[PollingArgs],
    ) -> None:
        super().__init__(**polling)
        self.job_id = job_id
        self.stream_output = list(stream_output or [])
        self.stream_output_bytes = int(stream_output_bytes)
        self._tail = TaskOutputTail(job_id, self.stream_output, max_bytes=self.stream_output_bytes)
        self.progress_quiet_s = float(progress_quiet_s)
        self.task_id_prefix = task_id_prefix
        self.expected_tasks = expected_tasks
        self.scope = scope
        self.failure_policy = FailurePolicy(failure_policy)
        self.tolerate_percent = float(tolerate_percent)
        self.owns_job = bool(owns_job)
        self.terminate_on_kill = bool(terminate_on_kill)
        self.failed_limit = int(failed_limit)
        self.release_job = bool(release_job)
        self._released = not self.release_job
        self._started = time.monotonic()
        self._first_done: int | None = None
        self._last_counts: TaskCounts | None = None
        self._last_logged = 0.0

    def _base_event(
        self,
        status: EventStatus,
        message: str,
        counts: TaskCounts | None = None,
        failed_tasks: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        return job_event(
            status,
            message,
            job_id=self.job_id,
            task_id_prefix=self.task_id_prefix,
            counts=counts,
            failed_tasks=failed_tasks or [],
        )

    def timeout_event(self) -> dict[str, Any]:
        return self._base_event("timeout", f"job {self.job_id}: deadline passed before its tasks were done")

    async def counts(self, hook: BatchAsyncHook, client: AsyncBatchClient) -> TaskCounts:
        if self.scope == "prefix" and self.task_id_prefix:
            return await hook.get_scoped_counts(client, self.job_id, self.task_id_prefix)
        return await hook.get_task_counts(client, self.job_id)

    def rate(self, counts: TaskCounts) -> tuple[float | None, float]:
        elapsed = time.monotonic() - self._started
        if self._first_done is None:
            self._first_done = counts.completed
            return None, elapsed
        done = counts.completed - self._first_done
        return (done / elapsed if elapsed > 0 and done > 0 else None), elapsed

    def report_progress(self, counts: TaskCounts) -> None:
        """The progress line: at every poll, or per ``progress_quiet_s`` while the counts stand still."""
        rate, elapsed = self.rate(counts)
        now = time.monotonic()
        if counts == self._last_counts and now - self._last_logged < self.progress_quiet_s:
            return
        self._last_counts, self._last_logged = counts, now
        self.log.info(
            "job %s: %s", self.job_id, progress_line(counts, self.expected_tasks, rate=rate, elapsed=elapsed)
        )

    def first_poll_delay(self) -> float:
        """None while the job is held: its tasks wait for this poll."""
        return 0.0 if not self._released else super().first_poll_delay()

    async def poll(self, hook: BatchAsyncHook, client: AsyncBatchClient) -> dict[str, Any] | None:
        if not self._released:
            self._released = await hook.release_job(client, self.job_id)
            if self._released:
                self.log.info("job %s released: its tasks may start", self.job_id)
        await self._tail.poll(client, self.log)
        counts = await self.counts(hook, client)
        self.report_progress(counts)
        prefix = self.task_id_prefix if self.scope == "prefix" else None
        decision = await adrive_probe(
            decide_job(
                self.job_id,
                counts,
                prefix=prefix,
                expected=self.expected_tasks,
                policy=self.failure_policy,
                tolerate_percent=self.tolerate_percent,
            ),
            lambda query: hook.answer_query(client, query),
        )
        if decision is None:
            return None
        if decision.blockage:
            self.log.error("job %s: %s", self.job_id, decision.blockage)
        while await self._tail.poll(client, self.log):  # the rest of the output, then partial lines
            pass
        self._tail.flush(self.log)
        failed = (
            await hook.list_failed_tasks(client, self.job_id, prefix, limit=self.failed_limit)
            if counts.failed
            else []
        )
        return self._base_event(decision.status, decision.message, counts, failed)

    async def on_kill(self) -> None:
        """A user killed the task: terminate the job when this run owns it, else this fan-out's tasks.

        Airflow calls it when a user marks or clears the deferred task, not on a triggerer restart; a
        trigger timeout fails the task on a worker, where the sensor stops the same work.
        """
        if not self.terminate_on_kill:
            self.log.info("job %s left running on kill (terminate_on_kill=False)", self.job_id)
            return
        hook = self.hook()
        async with hook.client() as client:
            if self.owns_job:
                self.log.info("terminating job %s (owned by this run)", self.job_id)
                await asyncio.wait_for(hook.terminate_job(client, self.job_id, "AirflowTaskKilled"), 60)
            elif self.task_id_prefix:
                n = await asyncio.wait_for(hook.terminate_tasks(client, self.job_id, self.task_id_prefix), 60)
                self.log.info("terminated %d task(s) %s* of job %s", n, self.task_id_prefix, self.job_id)


class BatchPoolReadyTrigger(_BatchPollingTrigger):
    """Fires when at least ``min_ready_nodes`` of a pool are idle or running; fails at once on resize
    errors, start-task failures or unusable nodes. Each poll: one pool GET and one node list.

    :param pool_id: the Batch pool.
    :param min_ready_nodes: how many usable nodes are enough to go on.
    """

    def __init__(
        self,
        *,
        pool_id: str,
        min_ready_nodes: int = 1,
        **polling: Unpack[PollingArgs],
    ) -> None:
        super().__init__(**polling)
        self.pool_id = pool_id
        self.min_ready_nodes = int(min_ready_nodes)

    def timeout_event(self) -> dict[str, Any]:
        return {
            "status": "timeout",
            "pool_id": self.pool_id,
            "ready_nodes": 0,
            "message": f"pool {self.pool_id}: deadline passed before {self.min_ready_nodes} node(s) were ready",
        }

    async def poll(self, hook: BatchAsyncHook, client: AsyncBatchClient) -> dict[str, Any] | None:
        pool = await hook.get_pool(client, self.pool_id)
        if pool is None:
            return {
                "status": "failed",
                "pool_id": self.pool_id,
                "ready_nodes": 0,
                "message": "pool not found",
            }
        states = await hook.list_node_states(client, self.pool_id)
        decision = evaluate_pool(pool, states, min_ready_nodes=self.min_ready_nodes)
        self.log.info("%s", decision.message)
        if decision.outcome is Outcome.WAITING:
            return None
        status: EventStatus = "success" if decision.outcome is Outcome.SUCCEEDED else "failed"
        return {
            "status": status,
            "pool_id": self.pool_id,
            "ready_nodes": decision.ready_nodes,
            "message": decision.message,
        }


__all__ = [
    "BatchJobCompleteTrigger",
    "BatchJobEvent",
    "BatchPoolEvent",
    "BatchPoolReadyTrigger",
    "ErrorWindow",
]
