"""Resize a pool to a node count and wait (deferred) until it is steady; or stop a resize.

Only fixed-size pools can be resized: a pool with autoscale follows its formula, and Batch refuses the
request (409). The operator reads the pool first and names the setting instead. A retried task finds
the resize its earlier try started (same targets) and only waits.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_azure_compute.deferral import default_deferrable
from airflow_azure_compute.exceptions import (
    AzureComputeConfigError,
    AzureComputeRemoteError,
    DeadlineExceededError,
)
from airflow_azure_compute.links import BatchPoolLink, batch_account_fields
from airflow_azure_compute.operators._batch_common import BatchBaseOperator, WaitsForPool, check_pool_wait

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

#: ``nodeDeallocationOption``: what happens to tasks on nodes a shrink removes.
DEALLOCATION_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")


class BatchResizePoolOperator(WaitsForPool):
    """Resize a fixed-size pool to ``dedicated_nodes`` + ``spot_nodes``; returns the pool's node counts.

    Returns ``{"pool_id", "dedicated_nodes", "spot_nodes"}`` once the pool is steady at the target.
    Resize errors (allocation failures, quota, a stopped resize) fail the task with their codes.

    :param pool_id: the pool.
    :param dedicated_nodes: target number of dedicated nodes.
    :param spot_nodes: target number of spot (low-priority) nodes.
    :param resize_timeout_minutes: how long Batch tries to allocate (default: Batch's 15 minutes).
    :param node_deallocation: on a shrink: ``requeue`` (default), ``terminate``, ``taskcompletion``
        or ``retaineddata``.
    :param wait: wait until the pool is steady (False: return once the resize started).
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``, else True).
    :param poll_interval: seconds between polls.
    :param wait_timeout: absolute limit of the wait.
    :param stop_on_kill: killing the task stops the resize.

    Connections: see `BatchBaseOperator`.
    """

    template_fields: Sequence[str] = ("pool_id", "dedicated_nodes", "spot_nodes", "azure_conn_id")
    operator_extra_links = (BatchPoolLink(),)

    def __init__(
        self,
        *,
        pool_id: str,
        dedicated_nodes: int = 0,
        spot_nodes: int = 0,
        resize_timeout_minutes: int | None = None,
        node_deallocation: str | None = None,
        wait: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = 10.0,
        wait_timeout: timedelta = timedelta(minutes=30),
        stop_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_id = pool_id
        self.dedicated_nodes = dedicated_nodes
        self.spot_nodes = spot_nodes
        self.resize_timeout_minutes = resize_timeout_minutes
        self.node_deallocation = node_deallocation
        self.wait = wait
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.stop_on_kill = stop_on_kill

    def targets(self) -> tuple[int, int]:
        """The validated ``(dedicated, spot)`` targets."""
        from airflow_azure_compute.specs import check_batch_id

        check_batch_id(self.pool_id, "pool_id")
        out = []
        for name in ("dedicated_nodes", "spot_nodes"):
            try:
                value = int(getattr(self, name))
            except (TypeError, ValueError):
                raise AzureComputeConfigError(
                    f"{getattr(self, name)!r} is not a whole number", field=name
                ) from None
            if value < 0:
                raise AzureComputeConfigError("node counts cannot be negative", field=name)
            out.append(value)
        if self.node_deallocation is not None and self.node_deallocation not in DEALLOCATION_OPTIONS:
            raise AzureComputeConfigError(
                f"{self.node_deallocation!r}; use one of {list(DEALLOCATION_OPTIONS)}",
                field="node_deallocation",
            )
        if self.resize_timeout_minutes is not None and int(self.resize_timeout_minutes) < 5:
            raise AzureComputeConfigError("Batch needs at least 5 minutes", field="resize_timeout_minutes")
        return out[0], out[1]

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_azure_compute.triggers.batch_pool import evaluate_resize

        dedicated, spot = self.targets()
        hook = self.hook
        pool = hook.get_pool(self.pool_id)
        if pool is None:
            raise AzureComputeConfigError(f"pool {self.pool_id!r} does not exist", field="pool_id")
        if pool.get("enableAutoScale"):
            raise AzureComputeConfigError(
                f"pool {self.pool_id!r} has autoscale enabled: its formula sets the node counts. Change the "
                "formula, or create the pool with dedicated_nodes/spot_nodes instead of autoscale_formula",
                field="pool_id",
            )
        BatchPoolLink.persist(context, pool_id=self.pool_id, **batch_account_fields(hook.settings))
        wanted = (dedicated, spot)
        have = (int(pool.get("targetDedicatedNodes") or 0), int(pool.get("targetLowPriorityNodes") or 0))
        steady = pool.get("allocationState") == "steady"
        if have != wanted or (steady and pool.get("resizeErrors")):
            if not steady:
                raise AzureComputeRemoteError(
                    f"pool {self.pool_id!r} is already resizing to {have[0]} dedicated + {have[1]} spot node(s); "
                    "wait for it or stop it (BatchStopPoolResizeOperator) first",
                    code="PoolBeingResized",
                    status=409,
                )
            self.log.info("resizing pool %s to %d dedicated + %d spot node(s)", self.pool_id, dedicated, spot)
            hook.resize_pool(
                self.pool_id,
                dedicated_nodes=dedicated,
                spot_nodes=spot,
                resize_timeout_minutes=self.resize_timeout_minutes,
                deallocation=self.node_deallocation,
            )
        else:
            self.log.info(
                "pool %s already targets %d dedicated + %d spot node(s)", self.pool_id, dedicated, spot
            )
        result = {"pool_id": self.pool_id, "dedicated_nodes": dedicated, "spot_nodes": spot}
        if not self.wait:
            return result
        deadline = time.time() + self.wait_timeout.total_seconds()
        if self.deferrable:
            from airflow_azure_compute.triggers.batch_pool import BatchPoolResizeTrigger

            decision = evaluate_resize(hook.get_pool(self.pool_id) or {})
            if decision.outcome.value == "waiting":
                self.defer_pool_wait(
                    BatchPoolResizeTrigger, self.pool_id, deadline, result, stop_on_kill=self.stop_on_kill
                )
        while True:
            decision = evaluate_resize(hook.get_pool(self.pool_id) or {})
            self.log.info("%s", decision.message)
            if decision.outcome.value != "waiting":
                return self.execute_complete(
                    context, {"status": decision.outcome.value, "message": decision.message}, result
                )
            if time.time() > deadline:
                raise DeadlineExceededError(
                    f"pool {self.pool_id}: the resize was not over before the deadline"
                )
            time.sleep(self.poll_interval)

    def execute_complete(
        self, context: Context, event: Mapping[str, Any], result: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        check_pool_wait(self.log, event, code="PoolResizeFailed", success=("success", "succeeded"))
        return result or {"pool_id": self.pool_id}

    def on_kill(self) -> None:
        if self.stop_on_kill:
            self.hook.stop_pool_resize(self.pool_id)


class BatchStopPoolResizeOperator(BatchBaseOperator):
    """Stop a pool's ongoing resize; the pool keeps the nodes it has (returns ``{"pool_id"}``).

    :param pool_id: the pool.

    Connections: see `BatchBaseOperator`.
    """

    template_fields: Sequence[str] = ("pool_id", "azure_conn_id")

    def __init__(self, *, pool_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool_id = pool_id

    def execute(self, context: Context) -> dict[str, Any]:
        pool = self.hook.get_pool(self.pool_id)
        if pool is None:
            raise AzureComputeConfigError(f"pool {self.pool_id!r} does not exist", field="pool_id")
        if pool.get("allocationState") == "resizing":
            self.hook.stop_pool_resize(self.pool_id)
            self.log.info("stopping the resize of pool %s", self.pool_id)
        else:
            self.log.info("pool %s is %s: no resize to stop", self.pool_id, pool.get("allocationState"))
        return {"pool_id": self.pool_id}


__all__ = ["BatchResizePoolOperator", "BatchStopPoolResizeOperator"]
