"""What a Batch task stops when Airflow gives up on it, shared by the operators that submit and wait
(the Python call and map, the multi-instance task) and by `BatchJobSensor`.

Airflow gives up on a task in three ways that reach the worker: a kill while the worker runs it
(``on_kill``), the task's own deadline while it polls (non-deferrable), and Airflow's trigger timeout,
which cancels the trigger without its ``on_kill`` and fails the task on a worker
(``resume_execution`` raises). A kill of a deferred task reaches only the trigger (its ``on_kill``).
A kill before the triggerer has picked the trigger up reaches nothing: for that window the operators
hold the job (`airflow_azure_compute.hooks.batch.BatchHook.hold_job`) until the trigger's first poll
releases it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_azure_compute.deferral import timed_out

if TYPE_CHECKING:
    from logging import Logger

    from airflow.sdk.definitions.context import Context

    from airflow_azure_compute.hooks.batch import BatchHook


@dataclass(frozen=True)
class BatchWork:
    """One task's remote work: the whole job when the run owns it, else the tasks under a prefix."""

    job_id: str
    task_prefix: str | None = None
    owns_job: bool = False

    def stop(self, hook: BatchHook, reason: str, log: Logger) -> None:
        """Terminate it; ``reason`` becomes the job's termination reason."""
        if not self.job_id:
            return
        if self.owns_job:
            log.info("terminating job %s (%s)", self.job_id, reason)
            hook.terminate_job(self.job_id, reason)
        elif self.task_prefix:
            n = hook.terminate_tasks(self.job_id, self.task_prefix)
            log.info("terminated %d task(s) %s* of job %s (%s)", n, self.task_prefix, self.job_id, reason)


class StopsBatchWork:
    """Mixin: ``on_kill`` and Airflow's trigger timeout stop this task's `BatchWork`, unless
    ``terminate_on_kill`` is False.

    A subclass records its work with `track_work` as soon as the job exists (so a kill while it
    submits stops it too) and, when the work can only be found from the context after a deferral,
    answers `work_of`.
    """

    terminate_on_kill: bool
    log: Any  # the operator's logger
    hook: Any  # the operator's BatchHook

    def track_work(self, work: BatchWork) -> None:
        self._work = work

    def work_of(self, context: Context) -> BatchWork | None:
        """This try's work when the worker resumes after a deferral (`track_work` was in another process)."""
        return getattr(self, "_work", None)

    def stop_work(self, reason: str, work: BatchWork | None = None, *, quiet: bool = False) -> None:
        """Stop ``work`` (default: the tracked one); ``quiet`` logs a failure to stop instead of raising it
        (the task's own error, e.g. a timeout, stays the one it fails with)."""
        work = work or getattr(self, "_work", None)
        if work is None or not self.terminate_on_kill:
            return
        try:
            work.stop(self.hook, reason, self.log)
        except Exception as err:
            if not quiet:
                raise
            self.log.warning("could not stop the work of job %s: %s", work.job_id, err)

    def on_kill(self) -> None:
        """Killed while the worker runs the task (submitting or polling): stop its work."""
        self.stop_work("AirflowTaskKilled")

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume from the trigger; a trigger timed out by Airflow (not by its own deadline) stops the work.

        Airflow cancels a timed-out trigger without calling its ``on_kill`` and fails the task here.
        """
        try:
            return super().resume_execution(next_method, next_kwargs, context)  # type: ignore[misc]
        except Exception as err:
            if timed_out(err) and self.terminate_on_kill:
                try:
                    work = self.work_of(context)
                except Exception as lookup:  # the timeout stays the error the task fails with
                    self.log.warning("could not find this try's work to stop: %s", lookup)
                else:
                    self.stop_work("AirflowTaskTimedOut", work, quiet=True)
            raise


__all__ = ["BatchWork", "StopsBatchWork"]
