"""Create or reuse a Batch pool, then wait (deferred) until enough nodes are usable."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_azure_compute import pool_leases
from airflow_azure_compute.deferral import default_deferrable
from airflow_azure_compute.exceptions import (
    AzureComputeConfigError,
    AzureComputeRemoteError,
    DeadlineExceededError,
)
from airflow_azure_compute.ids import run_metadata, run_scope
from airflow_azure_compute.links import BatchPoolLink, batch_account_fields
from airflow_azure_compute.operators._batch_common import WaitsForPool, check_pool_wait, spec_fields

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

    from airflow_azure_compute.hooks.batch import BatchHook
    from airflow_azure_compute.specs import ExistingPolicy, PoolSpec

#: How long ``if_exists="recreate"`` waits for the old pool to disappear.
RECREATE_WAIT_S = 300


#: The lifetime of a pool mount's SAS when neither the operator nor the DAG says.
DEFAULT_MOUNT_SAS_EXPIRY = timedelta(hours=24)


def mount_expiry(explicit: timedelta | None, context: Context | Mapping[str, Any]) -> timedelta:
    """The pool mounts' SAS lifetime: ``explicit``, else the DAG's ``dagrun_timeout``, else 24 hours."""
    if explicit is not None:
        if explicit <= timedelta(0):
            raise AzureComputeConfigError("give a positive duration", field="mount_sas_expiry")
        return explicit
    dag = context.get("dag")
    timeout = getattr(dag, "dagrun_timeout", None)
    return timeout if isinstance(timeout, timedelta) and timeout > timedelta(0) else DEFAULT_MOUNT_SAS_EXPIRY


class BatchEnsurePoolOperator(WaitsForPool):
    """Make sure a pool shaped like ``pool_spec`` exists; optionally wait until ``min_ready_nodes`` are usable.

    Returns ``{"pool_id", "created"}``. The pool's metadata names the dag, run and task that created it,
    and every run that creates or reuses it records a lease there (see `airflow_azure_compute.pool_leases`):
    `BatchCleanupOperator` deletes a pool only when a run of its DAG created it and no other run holds it.

    :param pool_spec: a `PoolSpec` or a mapping of its fields.
    :param if_exists: ``reuse`` (check the shape, naming any difference), ``fail``, ``recreate``, or
        ``repurpose`` (reuse a pool whose start task differs: give it the spec's start task and resource
        files, restart its nodes so they run it, and wait until they are idle again).
    :param min_ready_nodes: wait until this many nodes are idle or running (0: do not wait; after a
        repurpose, every restarted node is waited for).
    :param deferrable: wait in the triggerer instead of on the worker (default: ``[operators]
        default_deferrable`` when set, else True).
    :param poll_interval: seconds between readiness polls.
    :param wait_timeout: absolute limit for readiness.
    :param mount_sas_expiry: how long the read+list SAS of the pool's blob mounts stays valid. Batch
        keeps it in the pool definition and blobfuse uses it for as long as the pool mounts the
        container, so it should end with the run: default the DAG's ``dagrun_timeout``, else 24 hours.
        A reused pool keeps the SAS of the run that created it; recreate the pool to renew it.

    Connections: see `BatchBaseOperator`.
    """

    template_fields: Sequence[str] = ("pool_spec", "if_exists", "min_ready_nodes", "azure_conn_id")
    template_fields_renderers = {"pool_spec": "json"}
    operator_extra_links = (BatchPoolLink(),)

    def __init__(
        self,
        *,
        pool_spec: PoolSpec | Mapping[str, Any],
        if_exists: str = "reuse",  # ExistingPolicy.REUSE (specs is not imported at DAG parsing)
        min_ready_nodes: int = 1,
        deferrable: bool | None = None,
        poll_interval: float = 10.0,
        wait_timeout: timedelta = timedelta(minutes=30),
        mount_sas_expiry: timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mount_sas_expiry = mount_sas_expiry
        self.pool_spec = spec_fields(pool_spec, "PoolSpec")
        self.if_exists = if_exists
        self.min_ready_nodes = min_ready_nodes
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.restarted = 0  # nodes a repurpose restarted (set by execute)

    def spec(self) -> PoolSpec:
        from airflow_azure_compute.specs import PoolSpec

        return PoolSpec.coerce(self.pool_spec)

    def execute(self, context: Context) -> dict[str, Any]:
        # specs/states are loaded when a task runs, not at DAG parsing.
        from airflow_azure_compute.specs import ExistingPolicy
        from airflow_azure_compute.states import Outcome, evaluate_pool

        spec = self.spec()
        try:
            policy = ExistingPolicy(self.if_exists)
        except ValueError:
            raise AzureComputeConfigError(
                f"{self.if_exists!r}; use one of {[p.value for p in ExistingPolicy]}", field="if_exists"
            ) from None
        hook = self.hook
        body = self.create_body(spec, context)
        self.restarted = 0
        created = self.ensure(hook, spec, policy, body)
        dag_id, run_id, _, _ = run_scope(context)
        while not created and not pool_leases.acquire(hook, spec.pool_id, dag_id, run_id):
            # Its last run's teardown deleted the pool between our check and our lease: make it again.
            self.log.info("pool %s went away before this run could lease it; ensuring it again", spec.pool_id)
            created = self.ensure(hook, spec, policy, body)
        BatchPoolLink.persist(context, pool_id=spec.pool_id, **batch_account_fields(hook.settings))
        result = {"pool_id": spec.pool_id, "created": created}
        if self.restarted:
            result["restarted_nodes"] = self.restarted
        self.min_ready_nodes = max(int(self.min_ready_nodes), self.restarted)
        if self.min_ready_nodes <= 0:
            return result
        decision = evaluate_pool(
            hook.get_pool(spec.pool_id) or {},
            hook.list_node_states(spec.pool_id),
            min_ready_nodes=self.min_ready_nodes,
        )
        if decision.outcome is Outcome.FAILED:
            raise AzureComputeRemoteError(decision.message, code="PoolNotReady")
        if decision.outcome is Outcome.SUCCEEDED:
            self.log.info("%s", decision.message)
            return result
        deadline = time.time() + self.wait_timeout.total_seconds()
        if self.deferrable:
            from airflow_azure_compute.triggers.batch import BatchPoolReadyTrigger

            self.defer_pool_wait(
                BatchPoolReadyTrigger, spec.pool_id, deadline, result, min_ready_nodes=self.min_ready_nodes
            )
        return self.wait_on_worker(hook, spec.pool_id, deadline, result)

    def wait_on_worker(
        self, hook: BatchHook, pool_id: str, deadline: float, result: dict[str, Any]
    ) -> dict[str, Any]:
        """Readiness polling on the worker (``deferrable=False``)."""
        from airflow_azure_compute.states import Outcome, evaluate_pool

        while time.time() < deadline:
            time.sleep(self.poll_interval)
            decision = evaluate_pool(
                hook.get_pool(pool_id) or {},
                hook.list_node_states(pool_id),
                min_ready_nodes=self.min_ready_nodes,
            )
            self.log.info("%s", decision.message)
            if decision.outcome is Outcome.SUCCEEDED:
                return result
            if decision.outcome is Outcome.FAILED:
                raise AzureComputeRemoteError(decision.message, code="PoolNotReady")
        raise DeadlineExceededError(f"pool {pool_id}: not ready before the deadline")

    def execute_complete(
        self, context: Context, event: Mapping[str, Any], result: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        check_pool_wait(self.log, event, code="PoolNotReady")
        return result or {"pool_id": event.get("pool_id"), "created": False}

    def create_body(self, spec: PoolSpec, context: Context) -> dict[str, Any]:
        """The create body, with registry credentials and mount SAS resolved from connections."""
        from airflow_azure_compute.hooks.secret_refs import connection_password, registry_login

        user = password = None
        if spec.container and spec.container.registry_conn_id:
            user, password = registry_login(
                spec.container.registry_conn_id, field="pool.container.registry_conn_id"
            )
        keys = {
            m.relative_mount_path: connection_password(
                m.account_key_conn_id, field="pool.file_share_mounts.account_key_conn_id"
            )
            for m in spec.file_share_mounts
        }
        passwords = {
            u.name: connection_password(u.password_conn_id, field="pool.user_accounts.password_conn_id")
            for u in spec.user_accounts
        }
        account, sas = None, {}
        if spec.mounts:
            from airflow_azure_compute.operators._blob_sas import BlobSasSource

            source = BlobSasSource(self.blob_conn_id, expiry=mount_expiry(self.mount_sas_expiry, context))
            account = source.account_name
            sas = {m.container_name: source.token(m.container_name, "rl") for m in spec.mounts}
        dag_id, run_id, _, _ = run_scope(context)
        return spec.to_wire(
            metadata={**run_metadata(context), **pool_leases.creation_metadata(dag_id, run_id)},
            registry_user=user,
            registry_password=password,
            mount_account=account,
            mount_sas=sas,
            file_share_keys=keys,
            user_passwords=passwords,
        )

    def ensure(self, hook: BatchHook, spec: PoolSpec, policy: ExistingPolicy, body: dict[str, Any]) -> bool:
        from airflow_azure_compute.specs import ExistingPolicy, pool_differences

        existing = hook.get_pool(spec.pool_id)
        if existing is not None and existing.get("state") != "deleting":
            if policy is ExistingPolicy.FAIL:
                raise AzureComputeRemoteError(
                    f"pool {spec.pool_id!r} already exists (if_exists='fail')", code="PoolExists", status=409
                )
            if policy is ExistingPolicy.REPURPOSE:
                self.repurpose(hook, spec, existing, body)
                return False
            if policy is ExistingPolicy.REUSE:
                diffs = pool_differences(spec, existing)
                if diffs:
                    raise AzureComputeConfigError(
                        f"pool {spec.pool_id!r} exists with a different shape: "
                        + "; ".join(diffs)
                        + ". Use if_exists='recreate', another pool_id, or match the spec",
                        field="pool",
                    )
                self.log.info("reusing pool %s (shape matches the spec)", spec.pool_id)
                return False
            self.log.info("recreating pool %s", spec.pool_id)
            hook.delete_pool(spec.pool_id)
            existing = hook.get_pool(spec.pool_id)
        if existing is not None:
            self._wait_gone(hook, spec.pool_id)
        created = hook.create_pool(body)
        if not created:  # lost a race with another run: treat like an existing pool
            return self.ensure(
                hook, spec, ExistingPolicy.REUSE if policy is not ExistingPolicy.FAIL else policy, body
            )
        self.log.info("created pool %s", spec.pool_id)
        return True

    def repurpose(
        self, hook: BatchHook, spec: PoolSpec, existing: Mapping[str, Any], body: Mapping[str, Any]
    ) -> None:
        """Reuse ``existing`` with the spec's start task: replace it and restart the nodes to run it.

        Any other difference (size, image, network...) cannot be changed in place: it is named and refused.
        """
        from airflow_azure_compute.specs import pool_shape_differences, start_task_differences

        diffs = pool_shape_differences(spec, existing)
        if diffs:
            raise AzureComputeConfigError(
                f"pool {spec.pool_id!r} cannot be repurposed: "
                + "; ".join(diffs)
                + ". Only the start task changes in place; use if_exists='recreate' or another pool_id",
                field="pool",
            )
        changes = start_task_differences(spec, existing)
        if not changes:
            self.log.info("reusing pool %s (its start task already matches)", spec.pool_id)
            return
        self.log.info("repurposing pool %s: %s", spec.pool_id, "; ".join(changes))
        hook.replace_start_task(existing, body.get("startTask"))
        for node in hook.list_nodes(spec.pool_id):
            if node["state"] in ("idle", "running", "starttaskfailed", "unusable"):
                hook.reboot_node(spec.pool_id, node["id"])
                self.restarted += 1
        self.log.info(
            "pool %s: %d node(s) restarting to run the new start task", spec.pool_id, self.restarted
        )

    def _wait_gone(self, hook: BatchHook, pool_id: str) -> None:
        # The one wait on the worker: a pool being deleted blocks re-creation under the same id.
        deadline = time.monotonic() + RECREATE_WAIT_S
        while hook.get_pool(pool_id) is not None:
            if time.monotonic() > deadline:
                raise DeadlineExceededError(f"pool {pool_id!r} still being deleted after {RECREATE_WAIT_S}s")
            time.sleep(1)


__all__ = ["BatchEnsurePoolOperator"]
