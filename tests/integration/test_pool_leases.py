"""Shared pools: overlapping runs lease a pool, and a teardown deletes it only when no other run holds it.

Real operators and the real Batch SDK against the emulator, which answers ``If-Match`` as Batch does
(412 ``ConditionNotMet``). The Airflow side is the stand-in task instance, given the dag-run states
Airflow would answer (``get_dagrun_state``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_azure_compute import pool_leases
from airflow_azure_compute.exceptions import AzureComputeRemoteError
from airflow_azure_compute.hooks.batch import BatchHook
from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from tests.integration._batch_env import POOL_BASE, fresh
from tests.integration.ops_support import FakeTI, context_for

pytestmark = pytest.mark.integration

DAG = "shared_pool_dag"


@dataclass
class RunStates:
    """What Airflow answers for ``get_dagrun_state``: a run it does not know raises, as the API does."""

    states: dict[str, str] = field(default_factory=dict)

    def __call__(self, *, dag_id: str, run_id: str) -> str:
        if run_id not in self.states:
            raise LookupError(f"DagRun {dag_id}/{run_id} not found")
        return self.states[run_id]


@dataclass
class LeasingTI(FakeTI):
    get_dagrun_state: Callable[..., str] | None = None


def _ctx(run_id: str, task_id: str, states: RunStates) -> dict[str, Any]:
    return context_for(LeasingTI(dag_id=DAG, task_id=task_id, run_id=run_id, get_dagrun_state=states))


def _ensure(pool_id: str, run_id: str, states: RunStates) -> dict[str, Any]:
    op = BatchEnsurePoolOperator(
        task_id="pool", pool_spec={**POOL_BASE, "pool_id": pool_id, "dedicated_nodes": 0}, min_ready_nodes=0
    )
    return op.execute(_ctx(run_id, "pool", states))


def _cleanup(pool_id: str, run_id: str, states: RunStates, **kwargs: Any) -> dict[str, list[str]]:
    op = BatchCleanupOperator(task_id="cleanup", pool_ids=[pool_id], workspace=False, **kwargs)
    return op.execute(_ctx(run_id, "cleanup", states))


def _alive(pool: dict[str, Any] | None) -> bool:
    return pool is not None and pool.get("state") != "deleting"


def _lease_runs(pool: dict[str, Any] | None) -> set[str]:
    assert pool is not None
    return {
        lease.run_id
        for key, lease in pool_leases.leases_of(pool).items()
        if key in {str(i["name"]).lower() for i in pool.get("metadata") or ()}
    }


@pytest.fixture
def hook(batch_env: dict[str, Any]) -> BatchHook:
    return BatchHook("azure_compute_batch_default")


def test_the_first_run_to_end_keeps_the_pool_the_last_deletes_it(hook: BatchHook) -> None:
    pool_id, run_a, run_b = fresh("pool"), fresh("run-a"), fresh("run-b")
    states = RunStates({run_a: "running", run_b: "running"})
    assert _ensure(pool_id, run_a, states)["created"] is True
    assert _ensure(pool_id, run_b, states)["created"] is False
    assert _lease_runs(hook.get_pool(pool_id)) == {run_a, run_b}

    # A ends first: its lease goes, the pool stays for B (B's job would fail without it).
    assert _cleanup(pool_id, run_a, states) == {"deleted": [], "kept": [f"pool:{pool_id}"]}
    pool = hook.get_pool(pool_id)
    assert _alive(pool) and _lease_runs(pool) == {run_b}

    # B ends: A (the creator) has ended, nobody else holds it, so B's teardown deletes it.
    states.states[run_a] = "success"
    assert _cleanup(pool_id, run_b, states) == {"deleted": [f"pool:{pool_id}"], "kept": []}
    assert not _alive(hook.get_pool(pool_id))


def test_a_pool_created_outside_the_dag_is_leased_but_never_deleted(hook: BatchHook) -> None:
    pool_id, run_id = fresh("pool"), fresh("run")
    states = RunStates({run_id: "running"})
    other = RunStates({"creator": "running"})
    BatchEnsurePoolOperator(
        task_id="pool", pool_spec={**POOL_BASE, "pool_id": pool_id, "dedicated_nodes": 0}, min_ready_nodes=0
    ).execute(context_for(LeasingTI(dag_id="another_dag", run_id="creator", get_dagrun_state=other)))
    _ensure(pool_id, run_id, states)
    other.states["creator"] = "success"
    states.states["creator"] = "success"
    assert _cleanup(pool_id, run_id, states) == {"deleted": [], "kept": [f"pool:{pool_id}"]}
    pool = hook.get_pool(pool_id)
    assert _alive(pool) and run_id not in _lease_runs(pool)


@pytest.mark.parametrize(
    ("holder_state", "lease_age", "deleted"),
    [
        ("failed", timedelta(0), True),  # the run ended without its teardown: stale
        ("running", timedelta(days=30), False),  # Airflow says it runs: live, whatever its age
        (None, timedelta(days=2), True),  # Airflow does not know the run: stale past the bound
        (None, timedelta(minutes=5), False),  # ... and live within it
    ],
)
def test_a_stale_lease_does_not_pin_the_pool(
    hook: BatchHook, holder_state: str | None, lease_age: timedelta, deleted: bool
) -> None:
    pool_id, run_id, holder = fresh("pool"), fresh("run"), fresh("gone-run")
    states = RunStates({run_id: "running"})
    if holder_state:
        states.states[holder] = holder_state
    _ensure(pool_id, run_id, states)
    pool = hook.get_pool(pool_id)
    assert pool is not None
    since = datetime.now(timezone.utc) - lease_age
    metadata = {str(i["name"]): str(i["value"]) for i in pool["metadata"]}
    hook.replace_pool_metadata(
        pool_id, {**metadata, **pool_leases.lease_entry("other_dag", holder, since)}, etag=pool["eTag"]
    )
    result = _cleanup(pool_id, run_id, states, pool_lease_ttl=timedelta(days=1))
    assert result["deleted"] == ([f"pool:{pool_id}"] if deleted else [])
    assert _alive(hook.get_pool(pool_id)) is not deleted


def test_a_stale_etag_is_refused_with_condition_not_met(hook: BatchHook) -> None:
    pool_id = fresh("pool")
    _ensure(pool_id, fresh("run"), RunStates())
    pool = hook.get_pool(pool_id)
    assert pool is not None
    metadata = {str(i["name"]): str(i["value"]) for i in pool["metadata"]}
    hook.replace_pool_metadata(pool_id, {**metadata, "k": "1"}, etag=pool["eTag"])
    moved = hook.get_pool(pool_id)
    assert moved is not None and moved["eTag"] != pool["eTag"]  # every update moves the ETag
    for call in (
        lambda: hook.replace_pool_metadata(pool_id, {**metadata, "k": "2"}, etag=pool["eTag"]),
        lambda: hook.delete_pool(pool_id, etag=pool["eTag"]),
    ):
        with pytest.raises(AzureComputeRemoteError) as info:
            call()
        assert (info.value.status, info.value.code) == (412, "ConditionNotMet")
    kept = hook.get_pool(pool_id)
    assert _alive(kept) and {"name": "k", "value": "1"} in kept["metadata"]  # type: ignore[index]
    assert hook.delete_pool(pool_id, etag=kept["eTag"]) is True  # type: ignore[index]


class InterleavingHook(BatchHook):
    """The real hook, with another run's call slipped in just before this run's next conditional write."""

    def __init__(self, conn_id: str, before_write: Callable[[], None]) -> None:
        super().__init__(conn_id)
        self.before_write: Callable[[], None] | None = before_write
        self.writes = 0

    def _interleave(self) -> None:
        self.writes += 1
        if self.before_write is not None:
            call, self.before_write = self.before_write, None
            call()

    def replace_pool_metadata(self, pool_id: str, metadata: Any, *, etag: str) -> None:
        self._interleave()
        super().replace_pool_metadata(pool_id, metadata, etag=etag)

    def delete_pool(self, pool_id: str, *, etag: str | None = None) -> bool:
        self._interleave()
        return super().delete_pool(pool_id, etag=etag)


def test_a_lease_that_loses_the_etag_race_is_written_again(hook: BatchHook) -> None:
    pool_id, run_a, run_b, run_c = fresh("pool"), fresh("run-a"), fresh("run-b"), fresh("run-c")
    _ensure(pool_id, run_a, RunStates())
    racing = InterleavingHook(
        "azure_compute_batch_default", lambda: pool_leases.acquire(hook, pool_id, DAG, run_c)
    )
    assert pool_leases.acquire(racing, pool_id, DAG, run_b) is True
    assert racing.writes == 2  # the first write lost to run C's lease (412), the second landed
    assert _lease_runs(hook.get_pool(pool_id)) == {run_a, run_b, run_c}  # neither lease was lost


def test_a_delete_that_loses_to_a_new_lease_keeps_the_pool(hook: BatchHook) -> None:
    pool_id, run_a, run_b = fresh("pool"), fresh("run-a"), fresh("run-b")
    states = RunStates({run_a: "running", run_b: "running"})
    _ensure(pool_id, run_a, states)
    # Run A's teardown reads the pool with no other lease, decides to delete it; run B leases it first.
    racing = InterleavingHook(
        "azure_compute_batch_default", lambda: pool_leases.acquire(hook, pool_id, DAG, run_b)
    )
    run_state = pool_leases.airflow_run_state(LeasingTI(get_dagrun_state=states))
    released = pool_leases.release(racing, pool_id, DAG, run_a, run_state)
    assert (released.deleted, released.holders, racing.writes) == (False, [f"{DAG}/{run_b}"], 2)
    pool = hook.get_pool(pool_id)
    assert _alive(pool) and _lease_runs(pool) == {run_b}


def test_a_lease_taken_while_the_pool_is_deleted_creates_it_again(hook: BatchHook) -> None:
    pool_id, run_a, run_b = fresh("pool"), fresh("run-a"), fresh("run-b")
    states = RunStates({run_a: "running", run_b: "running"})
    _ensure(pool_id, run_a, states)
    pool = hook.get_pool(pool_id)
    assert pool is not None
    hook.delete_pool(pool_id, etag=pool["eTag"])  # A's teardown won: the pool is going
    result = _ensure(pool_id, run_b, states)  # B finds it deleting, waits, and makes its own
    assert result["created"] is True
    pool = hook.get_pool(pool_id)
    assert _alive(pool) and _lease_runs(pool) == {run_b}
    assert _cleanup(pool_id, run_b, states)["deleted"] == [f"pool:{pool_id}"]
