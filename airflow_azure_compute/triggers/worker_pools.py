"""Create a worker pool's container groups, then wait until every item has a result.

Like `ContainerGroupTrigger`, the trigger
creates the workers itself (from plans holding no secret; the workers' SAS URLs are signed here), so a
task killed before the triggerer picked it up has started nothing, and ``on_kill`` deletes every worker.
Progress (``n/N items done``) is one listing of the pool's result prefix per poll, logged to the task log
whenever it changes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_azure_compute.deferral import poll_delay
from airflow_azure_compute.exceptions import AzureComputeError
from airflow_azure_compute.hooks.aci_groups import GroupPlan, GroupProgress, OnKillAction, evaluate_group
from airflow_azure_compute.hooks.worker_pools import PoolLayout, PoolProgress, evaluate_pool
from airflow_azure_compute.triggers.base import SerializableTrigger
from airflow_azure_compute.triggers.container_instances import delete_for_good, ensure_group

MAX_POLL_ERRORS = 3
ON_KILL_TIMEOUT_S = 120.0
ON_KILL_SETTLE_S = 5.0


class WorkerPoolTrigger(SerializableTrigger):
    """Start the pool's workers (if missing) and poll its results until done, failed or past the deadline.

    :param layout: `to_dict` (queue, containers, prefix, item count).
    :param workers: ``{group name: GroupPlan.to_dict()}``.
    :param conn_id: ``azure_compute_aci`` connection id.
    :param blob_conn_id: ``azure_compute_blob`` connection of the pool's Storage account.
    :param poll_interval: seconds between polls.
    :param deadline: absolute epoch seconds; a ``timeout`` event fires after it.
    :param on_kill_action: ``delete`` (default), ``stop`` or ``keep`` the workers when the task is killed.
    """

    def __init__(
        self,
        *,
        layout: Mapping[str, Any],
        workers: Mapping[str, Mapping[str, Any]],
        conn_id: str | None = None,
        blob_conn_id: str | None = None,
        poll_interval: float = 5.0,
        deadline: float | None = None,
        on_kill_action: str = OnKillAction.DELETE.value,
    ) -> None:
        super().__init__()
        self.layout = PoolLayout.from_dict(layout)
        self.workers = {name: GroupPlan.from_dict(plan) for name, plan in workers.items()}
        self.conn_id = conn_id
        self.blob_conn_id = blob_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.on_kill_action = OnKillAction.parse(on_kill_action, field="on_kill_action")

    def _aci(self) -> Any:
        from airflow_azure_compute.hooks.container_instances import ContainerInstancesAsyncHook

        return ContainerInstancesAsyncHook(self.conn_id)

    async def _progress(self, blobs: Any) -> PoolProgress:
        layout = self.layout
        names = [n async for n in blobs.list_blob_names(layout.output_container, layout.prefix)]
        return PoolProgress.from_names(layout.total, layout.prefix, names)

    async def _workers(self, aci: Any, client: Any) -> dict[str, GroupProgress | None]:
        bodies = await asyncio.gather(*(aci.get_group(client, name) for name in self.workers))
        return {
            name: (evaluate_group(b) if b else None) for name, b in zip(self.workers, bodies, strict=True)
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_azure_compute.hooks.blob import BlobAsyncHook

        aci = self._aci()
        errors = 0
        last = ""
        async with aci.client() as client, BlobAsyncHook(self.blob_conn_id) as blobs:
            try:
                created = [
                    name for name, plan in self.workers.items() if await ensure_group(aci, client, name, plan)
                ]
            except AzureComputeError as err:
                yield TriggerEvent({"status": "error", "message": f"starting the workers: {err}"})
                return
            if created:
                self.log.info("started %d worker(s): %s", len(created), ", ".join(created))
            while True:
                try:  # workers first: results listed after they ended are final
                    workers = await self._workers(aci, client)
                    progress = await self._progress(blobs)
                    errors = 0
                except AzureComputeError as err:
                    errors += 1
                    self.log.warning("poll of the pool failed (%d in a row): %s", errors, err)
                    if errors >= MAX_POLL_ERRORS:
                        yield TriggerEvent({"status": "error", "message": str(err)})
                        return
                    await asyncio.sleep(self.poll_interval)
                    continue
                if progress.summary() != last:
                    last = progress.summary()
                    self.log.info("worker pool: %s", last)
                event = evaluate_pool(progress, workers, deadline=self.deadline, now=time.time())
                if event is not None:
                    yield TriggerEvent(event)
                    return
                await asyncio.sleep(poll_delay(self.poll_interval, self.deadline))

    async def on_kill(self) -> None:
        """A user killed the deferred task: delete (or stop) every worker, even one being created."""
        if self.on_kill_action is OnKillAction.KEEP:
            return
        aci = self._aci()
        async with aci.client() as client:
            if self.on_kill_action is OnKillAction.STOP:
                calls = [aci.stop_group(client, name) for name in self.workers]
            else:
                calls = [
                    delete_for_good(aci, client, name, settle_s=ON_KILL_SETTLE_S) for name in self.workers
                ]
            await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), ON_KILL_TIMEOUT_S)
        self.log.info("%s %d worker(s) on kill", self.on_kill_action.value, len(self.workers))


__all__ = ["WorkerPoolTrigger"]
