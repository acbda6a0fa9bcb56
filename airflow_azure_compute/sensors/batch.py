"""Wait for a Batch job (or one fan-out's tasks in a shared job): deferrable, one request per poll."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_azure_compute.deferral import deadline_after, default_deferrable, timed_out, to_seconds
from airflow_azure_compute.exceptions import (
    AzureComputeConfigError,
    AzureComputeRemoteError,
    BatchTasksFailedError,
    DeadlineExceededError,
)
from airflow_azure_compute.lineage import LineageMixin
from airflow_azure_compute.links import BatchJobLink, batch_account_fields
from airflow_azure_compute.operators._batch_work import BatchWork, StopsBatchWork

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

    from airflow_azure_compute.hooks.batch import BatchHook
    from airflow_azure_compute.specs import FailurePolicy
    from airflow_azure_compute.states import TaskCounts


def format_forensics(report: Sequence[Mapping[str, Any]]) -> str:
    """The failed tasks' exit code, failureInfo and output tails, for the log."""
    blocks = []
    for f in report:
        head = (
            f"task {f.get('id')}: exit code {f.get('exit_code')}, "
            f"failure {f.get('failure_code')}: {f.get('failure_message')}, retries {f.get('retry_count')}"
        )
        tails = "".join(
            f"\n--- {name} (last 4 KB) ---\n{(f.get(name) or '').rstrip()}"
            for name in ("stderr.txt", "stdout.txt")
        )
        blocks.append(head + tails)
    return "\n\n".join(blocks)


def summarize_failures(failed: Sequence[Mapping[str, Any]], report: Sequence[Mapping[str, Any]]) -> str:
    """One line per failed task (first lines of stderr), for the raised error."""
    by_id = {r.get("id"): r for r in report}
    lines = []
    for f in failed[:10]:
        r = by_id.get(f.get("id"), {})
        last = next((ln for ln in reversed((r.get("stderr.txt") or "").splitlines()) if ln.strip()), "")
        lines.append(
            f"{f.get('id')} (exit {f.get('exit_code')}, {f.get('failure_code')})"
            + (f": {last[:200]}" if last else "")
        )
    more = f"; and {len(failed) - 10} more" if len(failed) > 10 else ""
    return "; ".join(lines) + more


class BatchJobSensor(StopsBatchWork, LineageMixin, BaseSensorOperator):
    """Wait until a job's tasks (or those under ``task_id_prefix``) are done, per a failure policy.

    Work that can never run ends the wait at once instead of at ``timeout``: tasks blocked by failed
    dependencies (their ``dependencyAction`` is ``block``), a job whose pool does not exist, is being
    deleted or has zero nodes and no autoscale, a job that ended or was deleted with tasks never run.
    The message names the blocking tasks or the pool. This costs nothing while tasks run.

    Deferred (default), each poll is one ``taskcounts`` request in the triggerer, whatever the job size;
    with ``scope="prefix"`` it is a filtered, ``$select``-ed, paged task list (⌈n/1000⌉ requests of about
    100 bytes per task) so several fan-outs can share a job. When tasks failed, the failed ones are listed
    once and the first ``forensics_limit`` get their exit code, failureInfo and the last 4 KB of
    ``stderr.txt``/``stdout.txt`` written to the log and summarized in the error.

    Returns ``{"job_id", "task_id_prefix", "counts", "failed_task_ids"}`` (the latter non-empty only
    under ``tolerate``).

    Given ``fanout=``, the wait that succeeds reports the fan-out's outputs prefix
    (``wasbs://<output container>@<account>/<output prefix>``, extra ``{"tasks", "failed"}``) as an
    Asset event through the sensor's ``AssetAlias`` outlets, by default
    ``outputs_alias(dag_id, task_id)`` of the sensor, and as its OpenLineage output with the job as the
    ``externalQuery`` run facet: the outputs exist once the tasks are done, not when they are submitted.

    :param fanout: a fan-out's result (``fanout.output``): the defaults of ``job_id``,
        ``task_id_prefix``, ``expected_tasks`` and ``owns_job``. With a mapped fan-out, map the sensor
        over it: ``BatchJobSensor.partial(task_id="wait").expand(fanout=fanout.output)``.
    :param job_id: the Batch job (usually ``fanout.output["job_id"]``).
    :param task_id_prefix: this fan-out's prefix (``fanout.output["task_id_prefix"]``).
    :param expected_tasks: how many tasks to wait for (``fanout.output["task_count"]``).
    :param scope: ``job`` (one taskcounts request per poll) or ``prefix``.
    :param failure_policy: ``fail_fast``, ``tolerate`` or ``run_all``.
    :param tolerate_percent: with ``tolerate``: share of tasks allowed to fail.
    :param owns_job: the run created the job (``fanout.output["owns_job"]``): killing the task
        terminates the job; otherwise only this fan-out's tasks.
    :param terminate_on_kill: stop that work when the task is killed or times out (default), so no
        Batch task keeps running for a task Airflow gave up on; False leaves the job and its tasks
        running (e.g. for another DAG to pick up).
    :param forensics_limit: how many failed tasks get stdout/stderr tails.
    :param progress_quiet_s: see `BatchJobCompleteTrigger`
        (0: a progress line at every poll).
    :param stream_output: a chosen few Batch tasks whose growing stdout/stderr the deferred wait
        streams into the task log (ranged reads of the new bytes only; templated): task ids, or
        integer indexes into the fan-out (``[0]`` is its first task, whatever the fan-out's size).
    :param stream_output_bytes: at most this many bytes read per streamed file and poll.
    :param error_budget: transient errors tolerated within any 10-minute window of the wait (the
        budget renews, so a long wait under recurring throttling is not failed by it).
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable`` when set,
        else True).
    :param azure_conn_id: the ``azure_compute_batch`` connection.
    """

    template_fields: Sequence[str] = (
        "fanout",
        "job_id",
        "task_id_prefix",
        "expected_tasks",
        "owns_job",
        "failure_policy",
        "tolerate_percent",
        "stream_output",
        "azure_conn_id",
    )
    operator_extra_links = (BatchJobLink(),)
    ui_color = "#cfe8fc"

    def __init__(
        self,
        *,
        job_id: str | None = None,
        fanout: Mapping[str, Any] | None = None,
        task_id_prefix: str | None = None,
        expected_tasks: int | None = None,
        scope: str = "job",
        failure_policy: str = "fail_fast",  # FailurePolicy.FAIL_FAST (specs is not imported at DAG parsing)
        tolerate_percent: float = 0.0,
        owns_job: bool = False,
        terminate_on_kill: bool = True,
        forensics_limit: int = 5,
        progress_quiet_s: float = 0.0,
        stream_output: list[str] | None = None,
        stream_output_bytes: int = 64 * 1024,
        error_budget: int = 20,
        deferrable: bool | None = None,
        azure_conn_id: str = "azure_compute_batch_default",
        poke_interval: float = 10.0,
        timeout: timedelta | float = 24 * 3600.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)  # op.output["key"] for each returned key
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.job_id: str = job_id or ""
        self.fanout = fanout
        self.task_id_prefix = task_id_prefix
        self.expected_tasks = expected_tasks
        self.scope = scope
        self.failure_policy = failure_policy
        self.tolerate_percent = tolerate_percent
        self.owns_job = owns_job
        self.terminate_on_kill = terminate_on_kill
        self.forensics_limit = forensics_limit
        self.progress_quiet_s = progress_quiet_s
        self.stream_output = stream_output
        self.stream_output_bytes = stream_output_bytes
        self.error_budget = error_budget
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.azure_conn_id = azure_conn_id
        if fanout is not None:
            self.declare_outputs_alias(kwargs.get("outlets"))

    @property
    def hook(self) -> BatchHook:
        from airflow_azure_compute.hooks.batch import BatchHook

        return BatchHook(self.azure_conn_id)

    def _apply_fanout(self) -> None:
        """Fill what was not given from the fan-out's result."""
        if self.fanout is None or self.fanout == "":
            return
        if not isinstance(self.fanout, Mapping) or "job_id" not in self.fanout:
            raise AzureComputeConfigError(
                "expected a fan-out's result (fanout.output), with job_id, task_id_prefix and task_count",
                field="fanout",
            )
        self.job_id = self.job_id or self.fanout["job_id"]
        self.task_id_prefix = self.task_id_prefix or self.fanout.get("task_id_prefix")
        if self.expected_tasks in (None, "", "None"):
            self.expected_tasks = self.fanout.get("task_count")
        self.owns_job = bool(self.owns_job or self.fanout.get("owns_job"))

    def _check(self) -> FailurePolicy:
        # specs/states are loaded when a task runs, not at DAG parsing.
        from airflow_azure_compute.specs import FailurePolicy, check_batch_id

        self._apply_fanout()
        if not self.job_id:
            raise AzureComputeConfigError("give job_id, or fanout=fanout.output", field="job_id")
        check_batch_id(self.job_id, "job_id")
        if self.scope not in ("job", "prefix"):
            raise AzureComputeConfigError(f"{self.scope!r}; use 'job' or 'prefix'", field="scope")
        if self.scope == "prefix" and not self.task_id_prefix:
            raise AzureComputeConfigError("scope='prefix' needs task_id_prefix", field="task_id_prefix")
        if not 0 <= float(self.tolerate_percent) <= 100:
            raise AzureComputeConfigError("must be between 0 and 100", field="tolerate_percent")
        try:
            return FailurePolicy(self.failure_policy)
        except ValueError:
            raise AzureComputeConfigError(
                f"{self.failure_policy!r}; use one of {[p.value for p in FailurePolicy]}",
                field="failure_policy",
            ) from None

    @property
    def expected(self) -> int | None:
        return int(self.expected_tasks) if self.expected_tasks not in (None, "", "None") else None

    def counts(self, hook: BatchHook) -> TaskCounts:
        if self.scope == "prefix" and self.task_id_prefix:
            return hook.get_scoped_counts(self.job_id, self.task_id_prefix)
        return hook.get_task_counts(self.job_id)

    def execute(self, context: Context) -> Any:
        policy = self._check()
        self.track_work(self.work_of(context))
        hook = self.hook
        BatchJobLink.persist(context, job_id=self.job_id, **batch_account_fields(hook.settings))
        if not self.deferrable:
            try:
                return super().execute(context)
            except Exception as err:
                if timed_out(err):
                    self.stop_work("AirflowTaskTimedOut", quiet=True)
                raise
        # Short-circuit: one taskcounts request; a job already done never defers.
        event = self.evaluate_now(hook, policy)
        if event is not None:
            return self.execute_complete(context, event)
        from airflow_azure_compute.triggers.batch import BatchJobCompleteTrigger

        self.defer(
            trigger=BatchJobCompleteTrigger(
                job_id=self.job_id,
                conn_id=self.azure_conn_id,
                deadline=deadline_after(self.timeout) or 0.0,
                poll_interval=float(self.poke_interval),
                error_budget=self.error_budget,
                task_id_prefix=self.task_id_prefix,
                expected_tasks=self.expected,
                scope=self.scope,
                failure_policy=policy.value,
                tolerate_percent=float(self.tolerate_percent),
                owns_job=bool(self.owns_job),
                terminate_on_kill=bool(self.terminate_on_kill),
                progress_quiet_s=float(self.progress_quiet_s),
                stream_output=self._streamed_task_ids(),
                stream_output_bytes=int(self.stream_output_bytes),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=to_seconds(self.timeout) or 0) if self.timeout else None,
        )

    def _streamed_task_ids(self) -> list[str]:
        """``stream_output`` as Batch task ids (an integer is an index into the fan-out's tasks)."""
        from airflow_azure_compute.specs import task_id_for

        ids: list[str] = []
        for item in self.stream_output or []:
            if isinstance(item, int) and not isinstance(item, bool):
                if not self.task_id_prefix or self.expected is None or not 0 <= item < self.expected:
                    raise AzureComputeConfigError(
                        f"index {item} needs task_id_prefix and expected_tasks above it "
                        "(pass the fan-out's output, e.g. fanout=fanout.output)",
                        field="stream_output",
                    )
                ids.append(task_id_for(self.task_id_prefix, item, self.expected))
            else:
                ids.append(str(item))
        return ids

    def evaluate_now(self, hook: BatchHook, policy: FailurePolicy) -> dict[str, Any] | None:
        """One poll on the worker: an event dict when done, else None."""
        from airflow_azure_compute.hooks.batch import drive_probe
        from airflow_azure_compute.states import decide_job, job_event, progress_line

        counts = self.counts(hook)
        self.log.info("job %s: %s", self.job_id, progress_line(counts, self.expected, rate=None, elapsed=0.0))
        prefix = self.task_id_prefix if self.scope == "prefix" else None
        decision = drive_probe(
            decide_job(
                self.job_id,
                counts,
                prefix=prefix,
                expected=self.expected,
                policy=policy,
                tolerate_percent=float(self.tolerate_percent),
            ),
            hook.answer_query,
        )
        if decision is None:
            return None
        if decision.blockage:
            self.log.error("job %s: %s", self.job_id, decision.blockage)
        failed = hook.list_failed_tasks(self.job_id, prefix, limit=100) if counts.failed else []
        return job_event(
            decision.status,
            decision.message,
            job_id=self.job_id,
            task_id_prefix=self.task_id_prefix,
            counts=counts,
            failed_tasks=failed,
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        event = self.evaluate_now(self.hook, self._check())
        if event is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self.execute_complete(context, event))

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> dict[str, Any]:
        self._apply_fanout()
        status = event.get("status")
        failed: list[dict[str, Any]] = list(event.get("failed_tasks") or [])
        report = self.forensics(failed)
        if status == "success":
            self.log.info("job %s: %s", self.job_id, event.get("message"))
            self.report_fanout_outputs(context, event, len(failed))
            return {
                "job_id": self.job_id,
                "task_id_prefix": self.task_id_prefix,
                "counts": dict(event.get("counts") or {}),
                "failed_task_ids": [f["id"] for f in failed],
            }
        if status == "timeout":
            self.stop_work("AirflowTaskTimedOut", self.work_of(context), quiet=True)
            raise DeadlineExceededError(str(event.get("message")))
        if status == "failed":
            raise BatchTasksFailedError(
                f"job {self.job_id}: {event.get('message')}. Failed: {summarize_failures(failed, report)}",
                failed_task_ids=[str(f["id"]) for f in failed],
            )
        raise AzureComputeRemoteError(f"job {self.job_id}: {event.get('message')}", code="TriggerError")

    def account_name(self) -> str | None:
        """The storage account of the fan-out's outputs (from its result)."""
        return self.fanout.get("output_account") if isinstance(self.fanout, Mapping) else None

    def report_fanout_outputs(self, context: Context, event: Mapping[str, Any], failed: int) -> None:
        """The fan-out's outputs prefix as an Asset event and OpenLineage output; the job as facet."""
        self.record_lineage(external_id=self.job_id, source=self.hook.settings.endpoint)
        fanout = self.fanout if isinstance(self.fanout, Mapping) else {}
        if fanout.get("output_container"):
            counts = event.get("counts") or {}
            tasks = self.expected if self.expected is not None else counts.get("completed")
            self.report_outputs(
                context,
                str(fanout["output_container"]),
                [str(fanout.get("output_prefix") or "")],
                {"tasks": tasks, "failed": failed},
            )

    def forensics(self, failed: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Exit code, failureInfo and output tails of the first ``forensics_limit`` failed tasks, logged."""
        if not failed:
            return []
        hook = self.hook
        report = [hook.task_forensics(self.job_id, f) for f in failed[: self.forensics_limit]]
        self.log.error(
            "job %s: %d failed task(s); forensics:\n%s", self.job_id, len(failed), format_forensics(report)
        )
        return report

    def work_of(self, context: Context) -> BatchWork:
        """The job when this run owns it, else this fan-out's tasks (see ``owns_job``).

        A sensor killed before its trigger ran stops nothing: the fan-out's job is the DAG's teardown's
        to delete (`BatchCleanupOperator`), see the reliability page of the docs.
        """
        self._apply_fanout()
        return BatchWork(self.job_id, self.task_id_prefix, owns_job=bool(self.owns_job))


__all__ = ["BatchJobSensor", "format_forensics", "summarize_failures"]
