"""Wait for a pool resize to settle: ``allocationState`` back to ``steady`` with the target node counts.

One pool GET per poll, decided by the pure `evaluate_resize`. Resize errors (``resizeErrors``:
allocation failures, quota, ``ResizeStopped``) end the wait at once and are reported with their codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_azure_compute.states import Outcome, PoolDecision
from airflow_azure_compute.triggers.batch import _BatchPollingTrigger

if TYPE_CHECKING:
    from azure.batch.aio import BatchClient as AsyncBatchClient
    from typing_extensions import Unpack

    from airflow_azure_compute.hooks.batch import BatchAsyncHook
    from airflow_azure_compute.triggers.batch import PollingArgs


def evaluate_resize(pool: Mapping[str, Any]) -> PoolDecision:
    """Succeeded when the pool is steady at its targets; failed on resize errors or deletion."""
    pool_id = pool.get("id", "?")
    current = (
        int(pool.get("currentDedicatedNodes") or 0),
        int(pool.get("currentLowPriorityNodes") or 0),
    )
    target = (
        int(pool.get("targetDedicatedNodes") or 0),
        int(pool.get("targetLowPriorityNodes") or 0),
    )
    ready = sum(current)
    if pool.get("state") == "deleting":
        return PoolDecision(Outcome.FAILED, f"pool {pool_id} is being deleted", ready)
    allocation = pool.get("allocationState")
    errors = pool.get("resizeErrors") or []
    if allocation == "steady" and errors:
        text = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        return PoolDecision(
            Outcome.FAILED,
            f"pool {pool_id} resize ended at {current[0]} dedicated + {current[1]} spot node(s), "
            f"target {target[0]} + {target[1]}: {text}",
            ready,
        )
    if allocation == "steady" and current == target:
        return PoolDecision(
            Outcome.SUCCEEDED,
            f"pool {pool_id} steady at {current[0]} dedicated + {current[1]} spot node(s)",
            ready,
        )
    return PoolDecision(
        Outcome.WAITING,
        f"pool {pool_id} {allocation}: {current[0]}/{target[0]} dedicated, {current[1]}/{target[1]} spot",
        ready,
    )


class BatchPoolResizeTrigger(_BatchPollingTrigger):
    """Fires when a pool's resize is over (see `evaluate_resize`).

    :param pool_id: the Batch pool.
    :param stop_on_kill: a user killing the task stops the resize (the pool keeps the nodes it has).
    """

    def __init__(
        self,
        *,
        pool_id: str,
        stop_on_kill: bool = True,
        **polling: Unpack[PollingArgs],
    ) -> None:
        super().__init__(**polling)
        self.pool_id = pool_id
        self.stop_on_kill = bool(stop_on_kill)

    def timeout_event(self) -> dict[str, Any]:
        return {
            "status": "timeout",
            "pool_id": self.pool_id,
            "message": f"pool {self.pool_id}: the resize was not over before the deadline",
        }

    async def poll(self, hook: BatchAsyncHook, client: AsyncBatchClient) -> dict[str, Any] | None:
        pool = await hook.get_pool(client, self.pool_id)
        if pool is None:
            return {"status": "failed", "pool_id": self.pool_id, "message": f"pool {self.pool_id} not found"}
        decision = evaluate_resize(pool)
        self.log.info("%s", decision.message)
        if decision.outcome is Outcome.WAITING:
            return None
        status = "success" if decision.outcome is Outcome.SUCCEEDED else "failed"
        return {
            "status": status,
            "pool_id": self.pool_id,
            "nodes": decision.ready_nodes,
            "message": decision.message,
        }

    async def on_kill(self) -> None:
        """A user killed the task: stop the resize (when ``stop_on_kill``)."""
        if not self.stop_on_kill:
            return
        hook = self.hook()
        async with hook.client() as client:
            self.log.info("stopping the resize of pool %s", self.pool_id)
            await client.begin_stop_pool_resize(self.pool_id, polling_interval=1)


__all__ = ["BatchPoolResizeTrigger", "evaluate_resize"]
