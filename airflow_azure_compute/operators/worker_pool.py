"""A pool of Container Instances workers fed from a Storage queue: enqueue, start, wait, harvest, clean up.

One task does the whole round trip of seed 004's pattern. It stages every item in the run workspace (one
blob each), sends one message per item on the pool's own queue, and defers; the trigger starts the N
worker container groups (each runs `airflow_azure_compute.runtime.queue_worker` around the user's
function), logs ``n/N items done``, and fires once every item has a result. The task then reads the
results back in input order (the XCom value, like the Batch map's), reports poison items by index, and
deletes the workers, the queue and the pool's blobs per ``cleanup``.

Names derive from dag, run, task and map index: a retried task finds its queue, its workers and the
results its first try already got, and enqueues only the items still missing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_azure_compute.cleanup import CleanupPolicy, run_then_clean_up, should_delete
from airflow_azure_compute.deferral import deadline_after, default_deferrable
from airflow_azure_compute.exceptions import (
    AzureComputeConfigError,
    AzureComputeError,
    DeadlineExceededError,
    RemoteWorkFailedError,
)
from airflow_azure_compute.hooks.aci_groups import (
    ContainerSpec,
    GroupPlan,
    OnKillAction,
    derive_group_name,
    evaluate_group,
)
from airflow_azure_compute.hooks.worker_pools import (
    PoolLayout,
    PoolProgress,
    WorkerSettings,
    evaluate_pool,
    item_blob,
    plan_workers,
)
from airflow_azure_compute.ids import run_metadata, run_scope
from airflow_azure_compute.lineage import LineageMixin
from airflow_azure_compute.links import ContainerWorkersLink, arm_scope
from airflow_azure_compute.operators.container_instances import record_group

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

    from airflow_azure_compute.hooks.blob import BlobHook
    from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook
    from airflow_azure_compute.hooks.storage_queue import StorageQueueHook


def _number(value: Any, field: str) -> float:
    """A number given as such or as a rendered template."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise AzureComputeConfigError(f"{field} must be a number, got {value!r}", field=field) from None


class ContainerInstancesWorkerPoolOperator(LineageMixin, BaseOperator):
    """Process ``items`` with N Container Instances workers taking them from a Storage queue.

    Returns the results in input order (each the value the worker function returned). Items that failed
    on ``max_dequeue`` takes are poison: the task fails and names each by index with its error.

    OpenLineage gets the staged items' prefix as input and the first worker's container group as the
    ``externalQuery`` run facet. The results' prefix is an output, and an Asset event through the
    task's ``AssetAlias`` outlets (by default ``outputs_alias(dag_id, task_id)``, extra ``{"items"}``),
    only when ``cleanup`` keeps it after success (``keep``): deleted results are not reported.

    :param items: the work items, JSON values (templated); one queue message each.
    :param image: the worker image; it runs ``command`` (default: ``python -m
        airflow_azure_compute.runtime.queue_worker <handler>``).
    :param handler: ``module:function`` or ``/path/file.py:function`` the default command serves.
    :param command: argv overriding the default command (it must speak the worker protocol of
        `airflow_azure_compute.runtime.queue_worker`).
    :param workers: number of worker container groups.
    :param cpu: CPU cores per worker.
    :param memory_gb: memory per worker, in GB.
    :param environment: plain environment variables of the workers (templated).
    :param secure_environment: ``{VARIABLE: key}`` read from ``secure_env_conn_id`` at run time.
    :param secure_env_conn_id: connection holding the secure values.
    :param registry_conn_id: image registry login (as for `ContainerInstancesRunGroupOperator`).
    :param identity: managed identities of the worker groups.
    :param subnet_ids: subnets to deploy the workers into.
    :param queue_name: the pool's queue (3-63 lower-case letters, digits, hyphens); default derived from
        dag, run, task and map index.
    :param max_dequeue: takes per item before it is a poison item.
    :param visibility_timeout: seconds a taken item stays hidden from the other workers (longer than an
        item takes).
    :param worker_idle: a worker exits after this many seconds without a message.
    :param azure_conn_id: ``azure_compute_aci`` connection (subscription, resource group, region).
    :param blob_conn_id: ``azure_compute_blob`` connection of the Storage account holding the run
        workspace and the queue; it needs an account key (the workers' SAS URLs are signed with it).
    :param location: region of the workers; default the ACI connection's.
    :param cleanup: what happens to workers, queue and the pool's blobs at the end: ``delete``
        (default), ``delete_on_success`` or ``keep``.
    :param poll_interval: seconds between progress polls.
    :param timeout: give up after this long (absolute deadline across the deferral).
    :param on_kill_action: ``delete`` (default), ``stop`` or ``keep`` the workers if the task is killed.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``, else True).
    """

    template_fields: Sequence[str] = (
        "items",
        "image",
        "handler",
        "command",
        "environment",
        "workers",
        "worker_idle",
        "queue_name",
        "azure_conn_id",
        "blob_conn_id",
        "location",
    )
    template_fields_renderers = {"items": "json", "environment": "json"}
    operator_extra_links = (ContainerWorkersLink(),)
    ui_color = "#0078d4"

    def __init__(
        self,
        *,
        items: Sequence[Any] | str,
        image: str,
        handler: str | None = None,
        command: Sequence[str] = (),
        workers: int | str = 4,
        cpu: float = 1.0,
        memory_gb: float = 1.5,
        environment: Mapping[str, str] | None = None,
        secure_environment: Mapping[str, str] | None = None,
        secure_env_conn_id: str | None = None,
        registry_conn_id: str | None = None,
        identity: str | Sequence[str] | None = None,
        subnet_ids: Sequence[str] = (),
        queue_name: str | None = None,
        max_dequeue: int = 3,
        visibility_timeout: float = 300,
        worker_idle: float | str = 30,
        azure_conn_id: str | None = None,
        blob_conn_id: str | None = None,
        location: str | None = None,
        cleanup: CleanupPolicy | str = CleanupPolicy.DELETE,
        poll_interval: float = 5.0,
        timeout: timedelta | float | None = None,
        on_kill_action: OnKillAction | str = OnKillAction.DELETE,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if int(max_dequeue) < 1:
            raise AzureComputeConfigError(
                f"max_dequeue must be at least 1, got {max_dequeue!r}", field="max_dequeue"
            )
        if not handler and not command:
            raise AzureComputeConfigError(
                "give handler (module:function the worker runs) or a command speaking the worker protocol",
                field="handler",
            )
        self.items = items
        self.image = image
        self.handler = handler
        self.command = command
        self.workers = workers
        self.cpu = cpu
        self.memory_gb = memory_gb
        self.environment = environment
        self.secure_environment = dict(secure_environment or {})
        self.secure_env_conn_id = secure_env_conn_id
        self.registry_conn_id = registry_conn_id
        self.identity = identity
        self.subnet_ids = subnet_ids
        self.queue_name = queue_name
        self.worker_idle = worker_idle
        self.max_dequeue = int(max_dequeue)
        self.visibility_timeout = visibility_timeout
        self.azure_conn_id = azure_conn_id
        self.blob_conn_id = blob_conn_id
        self.location = location
        self.cleanup = CleanupPolicy.parse(cleanup, field="cleanup")
        self.poll_interval = float(poll_interval)
        self.timeout = timeout
        self.on_kill_action = OnKillAction.parse(on_kill_action, field="on_kill_action")
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self._layout: PoolLayout | None = None
        self._names: list[str] = []
        self.declare_outputs_alias(kwargs.get("outlets"))

    # -- hooks -------------------------------------------------------------------------------------------

    def _aci(self) -> ContainerInstancesHook:
        from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook

        return ContainerInstancesHook(self.azure_conn_id)

    def _blob(self) -> BlobHook:
        from airflow_azure_compute.hooks.blob import BlobHook

        return BlobHook(self.blob_conn_id)

    def account_name(self) -> str | None:
        """The storage account of the run workspace (names Assets and lineage datasets)."""
        return self._blob().settings.account_name

    def _queue(self) -> StorageQueueHook:
        from airflow_azure_compute.hooks.storage_queue import StorageQueueHook

        return StorageQueueHook(self.blob_conn_id)

    # -- inputs ------------------------------------------------------------------------------------------

    @property
    def settings(self) -> WorkerSettings:
        """How the workers take items (from the rendered fields)."""
        return WorkerSettings(
            max_dequeue=self.max_dequeue,
            visibility_timeout_s=int(self.visibility_timeout),
            idle_s=_number(self.worker_idle, "worker_idle"),
        )

    def _worker_count(self) -> int:
        count = int(_number(self.workers, "workers"))
        if count < 1:
            raise AzureComputeConfigError(
                f"workers must be at least 1, got {self.workers!r}", field="workers"
            )
        return count

    def _items(self) -> list[Any]:
        items = json.loads(self.items) if isinstance(self.items, str) else self.items
        if not isinstance(items, Sequence) or isinstance(items, (str, bytes)) or not items:
            raise AzureComputeConfigError("items must be a non-empty list of JSON values", field="items")
        try:
            json.dumps(list(items))
        except (TypeError, ValueError) as err:
            raise AzureComputeConfigError(f"items must be JSON values: {err}", field="items") from None
        return list(items)

    def _worker_spec(self) -> ContainerSpec:
        command = list(self.command) or [
            "python",
            "-m",
            "airflow_azure_compute.runtime.queue_worker",
            str(self.handler),
        ]
        return ContainerSpec(
            name="worker",
            image=self.image,
            command=command,
            environment=dict(self.environment or {}),
            secure_environment=self.secure_environment,
            cpu=self.cpu,
            memory_gb=self.memory_gb,
        )

    def _layout_for(self, context: Context, total: int) -> tuple[PoolLayout, list[str]]:
        from airflow_azure_compute.hooks.storage_queue import validate_queue_name
        from airflow_azure_compute.workspace import RunWorkspace

        scope = run_scope(context)
        key = derive_group_name("wp", *scope)[: 63 - 5].rstrip("-")
        queue = validate_queue_name(self.queue_name or key)
        ws = RunWorkspace.for_context(context)
        layout = PoolLayout(
            queue=queue,
            container=ws.container,
            output_container=ws.output_container,
            prefix=ws.path("pools", key + "/"),
            total=total,
        )
        return layout, [f"{key}-w{i}" for i in range(self._worker_count())]

    def _plans(
        self, context: Context, layout: PoolLayout, names: list[str], location: str
    ) -> dict[str, GroupPlan]:
        from airflow_azure_compute.hooks.secret_refs import registries_from

        plans = plan_workers(
            names,
            self._worker_spec(),
            layout,
            self.settings,
            blob_conn_id=self.blob_conn_id or "azure_compute_blob_default",
            location=location,
            registries=registries_from(self.registry_conn_id),
            registry_conn_id=self.registry_conn_id,
            secure_env_conn_id=self.secure_env_conn_id,
            identity=self.identity,
            subnet_ids=list(self.subnet_ids),
            tags=run_metadata(context),
        )
        for plan in plans.values():
            plan.check_connections()
        return plans

    # -- execution ---------------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        from airflow_azure_compute.hooks.secret_refs import resolve_secrets

        items = self._items()
        layout, names = self._layout_for(context, len(items))
        aci = self._aci()
        plans = self._plans(context, layout, names, self.location or aci.settings.region or "")
        bodies = {name: resolve_secrets(plan) for name, plan in plans.items()}  # every secret resolvable
        self._layout, self._names = layout, names
        ContainerWorkersLink.persist(context, **arm_scope(aci.settings))
        pending = self._stage(context, layout, items)
        self.log.info(
            "worker pool: %d item(s), %d already done, %d enqueued on %s; %d worker(s)",
            len(items), len(items) - len(pending), len(pending), layout.queue, len(names),
        )  # fmt: skip
        deadline = deadline_after(self.timeout)
        if self.deferrable:
            from airflow_azure_compute.triggers.worker_pools import WorkerPoolTrigger

            self.defer(
                trigger=WorkerPoolTrigger(
                    layout=layout.to_dict(),
                    workers={name: plan.to_dict() for name, plan in plans.items()},
                    conn_id=self.azure_conn_id,
                    blob_conn_id=self.blob_conn_id,
                    poll_interval=self.poll_interval,
                    deadline=deadline,
                    on_kill_action=self.on_kill_action.value,
                ),
                method_name="execute_complete",
            )
        return self._with_cleanup(context, lambda: self._run_here(aci, layout, bodies, deadline))

    def _stage(self, context: Context, layout: PoolLayout, items: list[Any]) -> list[int]:
        """Upload the items not done yet and enqueue one message each (a retry skips finished items)."""
        blob, queue = self._blob(), self._queue()
        metadata = run_metadata(context)
        for container in dict.fromkeys((layout.container, layout.output_container)):
            blob.create_container(container, metadata)
        done = PoolProgress.from_names(
            layout.total,
            layout.prefix,
            (b.name for b in blob.list_blobs(layout.output_container, layout.prefix)),
        ).done
        pending = [i for i in range(len(items)) if i not in done]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(
                pool.map(
                    lambda i: blob.upload_bytes(
                        layout.container,
                        item_blob(layout.prefix, i),
                        json.dumps(items[i]).encode(),
                        overwrite=True,
                    ),
                    pending,
                )
            )
        queue.create_queue(layout.queue, metadata)
        queue.clear(layout.queue)
        queue.send_messages(
            layout.queue, (json.dumps({"item": i, "blob": item_blob(layout.prefix, i)}) for i in pending)
        )
        return pending

    def _run_here(
        self,
        aci: ContainerInstancesHook,
        layout: PoolLayout,
        bodies: Mapping[str, dict[str, Any]],
        deadline: float | None,
    ) -> Any:
        """The non-deferrable path: start the workers and poll on the worker."""
        import time

        for name, body in bodies.items():
            if aci.get_group(name) is None:
                aci.create_group(name, body)
        last = ""
        while True:
            # Workers first: results listed after they ended are final.
            workers = {n: (evaluate_group(g) if (g := aci.get_group(n)) else None) for n in bodies}
            names = [b.name for b in self._blob().list_blobs(layout.output_container, layout.prefix)]
            progress = PoolProgress.from_names(layout.total, layout.prefix, names)
            if progress.summary() != last:
                last = progress.summary()
                self.log.info("worker pool: %s", last)
            event = evaluate_pool(progress, workers, deadline=deadline, now=time.time())
            if event is not None:
                return self._finish(event)
            time.sleep(self.poll_interval)

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        items = self._items()
        self._layout, self._names = self._layout_for(context, len(items))
        return self._with_cleanup(context, lambda: self._finish(event))

    def _finish(self, event: Mapping[str, Any]) -> list[Any]:
        assert self._layout is not None
        layout = self._layout
        status = event.get("status")
        self.log.info("worker pool: %s (%s)", status, event.get("summary", "-"))
        if status == "timeout":
            raise DeadlineExceededError(str(event.get("message")), code="Timeout")
        if status != "done":
            self._print_worker_logs()
            raise RemoteWorkFailedError(str(event.get("message") or status), code="WorkerPoolFailed")
        failed = list(event.get("failed_items") or [])
        if failed:
            self._print_worker_logs()
            reports = self._read([layout.result(i, failed=True) for i in failed])
            lines = [
                f"item {i}: {r.get('error')} ({r.get('attempts')} takes)"
                for i, r in zip(failed, reports, strict=True)
            ]
            raise RemoteWorkFailedError(
                f"{len(failed)} of {layout.total} items failed on every take (poison): "
                + "; ".join(lines[:20]),
                code="PoisonItems",
            )
        results = self._read([layout.result(i) for i in range(layout.total)])
        return [r.get("value") for r in results]

    def _read(self, names: list[str]) -> list[dict[str, Any]]:
        assert self._layout is not None
        blob, container = self._blob(), self._layout.output_container
        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(lambda n: json.loads(blob.read_bytes(container, n)), names))

    def _print_worker_logs(self, tail: int = 50) -> None:
        aci = self._aci()
        for name in self._names:
            try:
                content = aci.get_logs(name, "worker", tail=tail, timestamps=False)
            except AzureComputeError as err:
                self.log.warning("logs of worker %s unavailable: %s", name, err)
                continue
            for line in content.splitlines():
                self.log.info("[%s] %s", name, line)

    def _with_cleanup(self, context: Context, step: Any) -> Any:
        def step_then_report() -> Any:
            value = step()
            self._report(context)
            return value

        def clean_up(succeeded: bool) -> None:
            if should_delete(self.cleanup, succeeded):
                self._clean_up()

        return run_then_clean_up(step_then_report, clean_up)

    def _report(self, context: Context) -> None:
        """Lineage of a pool that succeeded; its results as an Asset when ``cleanup`` keeps them."""
        layout = self._layout
        assert layout is not None
        if self._names:
            record_group(self, self._aci(), self._names[0])
        self.report_inputs(layout.container, [layout.prefix])
        if not should_delete(self.cleanup, True):
            self.report_outputs(context, layout.output_container, [layout.prefix], {"items": layout.total})

    def _clean_up(self) -> None:
        """Delete the workers, the queue and the pool's blobs (never hiding the task's own outcome)."""
        layout = self._layout
        assert layout is not None
        steps: list[tuple[str, Callable[[], object]]] = [
            (f"worker {n}", functools.partial(self._aci().delete_group, n)) for n in self._names
        ]
        steps += [
            (f"queue {layout.queue}", lambda: self._queue().delete_queue(layout.queue)),
            ("pool inputs", lambda: self._blob().delete_prefix(layout.container, layout.prefix)),
            ("pool results", lambda: self._blob().delete_prefix(layout.output_container, layout.prefix)),
        ]
        for what, step in steps:
            try:
                step()
            except AzureComputeError as err:
                self.log.warning("cleanup of %s failed: %s", what, err)
        self.log.info("worker pool cleaned up (cleanup=%s)", self.cleanup.value)

    def on_kill(self) -> None:
        if self.on_kill_action is OnKillAction.KEEP:
            return
        aci = self._aci()
        for name in self._names:
            if self.on_kill_action is OnKillAction.STOP:
                aci.stop_group(name)
            else:
                aci.delete_group(name, wait=False)


__all__ = ["ContainerInstancesWorkerPoolOperator"]
