"""Leases on a shared Batch pool: which dag runs use it, so a teardown never deletes it under another run.

Every run that creates or reuses a pool (`BatchEnsurePoolOperator`) writes a lease into the pool's
metadata: the key derives from its dag and run (``airflow_lease_<digest>``), the value names them and
when the lease was taken. A run's teardown (`BatchCleanupOperator`) removes its own lease and deletes
the pool only when a run of its DAG created it and no other run holds a live lease; otherwise the pool
stays and the log names the runs holding it.

Every change is conditional on the ETag the pool had when it was read (``If-Match``): a lease written or
a pool deleted by another run in between turns the write into ``412 ConditionNotMet``, and the
decision is made again on a fresh read. So a run that takes a lease while another run's teardown
decides either lands first (the pool stays) or finds the pool being deleted (and creates it again).

A lease is stale, and no longer keeps the pool, when Airflow says its dag run has ended (any state
but ``queued`` or ``running``: the run finished without its teardown releasing it). When Airflow
cannot tell (the run is unknown to this Airflow, or the state cannot be asked), the lease is stale
once it is older than ``ttl``. A pool created with leases carries the ``airflow_leases`` mark, and its
creator's lease is the one written at creation: once released, it no longer holds the pool. On a pool
created without the mark (by an older release of this provider), the creating run (named by the pool's
``airflow_dag_id`` / ``airflow_run_id`` metadata) counts as a holder from the pool's creation time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_azure_compute.exceptions import AzureComputeRemoteError
from airflow_azure_compute.ids import DAG_KEY, RUN_KEY

if TYPE_CHECKING:
    from airflow_azure_compute.hooks.batch import BatchHook

log = logging.getLogger(__name__)

LEASE_PREFIX = "airflow_lease_"
#: Metadata mark of a pool created with leases: its creator holds it through its own lease only.
LEASED_MARK = "airflow_leases"
#: How old a lease whose run Airflow cannot find may be before it stops keeping the pool.
DEFAULT_LEASE_TTL = timedelta(days=1)
#: Dag run states in which a run still uses its pool.
LIVE_STATES = frozenset({"queued", "running"})
#: Conditional writes tried before giving up (each loser re-reads the pool and decides again).
MAX_ATTEMPTS = 20

#: Airflow's state of a dag run (``"running"``, ``"success"``...), or None when it cannot tell.
RunState = Callable[[str, str], "str | None"]


def lease_key(dag_id: str, run_id: str) -> str:
    """The metadata name of a run's lease (Batch metadata names are case-insensitive: lowercase hex)."""
    return LEASE_PREFIX + hashlib.sha256(f"{dag_id}\x1f{run_id}".encode()).hexdigest()[:16]


def lease_entry(dag_id: str, run_id: str, since: datetime | None = None) -> dict[str, str]:
    """``{key: value}`` of a run's lease, to add to a pool's metadata."""
    at = (since or datetime.now(timezone.utc)).isoformat()
    return {lease_key(dag_id, run_id): json.dumps({"dag_id": dag_id, "run_id": run_id, "since": at})}


def creation_metadata(dag_id: str, run_id: str) -> dict[str, str]:
    """The lease metadata a run puts in the pool it creates: its own lease and the `LEASED_MARK`."""
    return {LEASED_MARK: "1", **lease_entry(dag_id, run_id)}


@dataclass(frozen=True)
class Lease:
    """One run's hold on a pool."""

    key: str
    dag_id: str
    run_id: str
    since: datetime | None

    def __str__(self) -> str:
        return f"{self.dag_id}/{self.run_id}"

    def is_stale(self, run_state: RunState, now: datetime, ttl: timedelta) -> bool:
        """Whether the lease no longer keeps the pool (see the module's rule)."""
        state = run_state(self.dag_id, self.run_id)
        if state is not None:
            return state not in LIVE_STATES
        return self.since is None or now - self.since > ttl


def _time(value: object) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def leases_of(pool: Mapping[str, Any]) -> dict[str, Lease]:
    """The leases on a pool (its REST JSON), the creating run's included, by key."""
    metadata = {str(i.get("name")).lower(): str(i.get("value")) for i in pool.get("metadata") or ()}
    out: dict[str, Lease] = {}
    creator_dag, creator_run = metadata.get(DAG_KEY), metadata.get(RUN_KEY)
    if creator_dag and creator_run and LEASED_MARK not in metadata:
        key = lease_key(creator_dag, creator_run)
        out[key] = Lease(key, creator_dag, creator_run, _time(pool.get("creationTime")))
    for key, value in metadata.items():
        if not key.startswith(LEASE_PREFIX):
            continue
        try:
            data = json.loads(value)
            out[key] = Lease(key, str(data["dag_id"]), str(data["run_id"]), _time(data.get("since")))
        except (ValueError, TypeError, KeyError):
            out[key] = Lease(key, "?", "?", None)  # unreadable: kept only until the age bound
    return out


def _metadata(pool: Mapping[str, Any]) -> dict[str, str]:
    return {str(i.get("name")): str(i.get("value")) for i in pool.get("metadata") or ()}


def _lost_race(err: AzureComputeRemoteError) -> bool:
    return err.status == 412 or err.code == "ConditionNotMet"


def _gone(pool: Mapping[str, Any] | None) -> bool:
    return pool is None or pool.get("state") == "deleting"


def _conditional(pool_id: str, attempt: Callable[[], bool | None]) -> bool:
    """Run ``attempt`` (read, decide, conditional write) until it does not lose an ETag race."""
    for n in range(MAX_ATTEMPTS):
        try:
            result = attempt()
        except AzureComputeRemoteError as err:
            if not _lost_race(err):
                raise
            log.info("pool %s changed while this run updated it (ETag); reading it again", pool_id)
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2**n)))
            continue
        return bool(result)
    raise AzureComputeRemoteError(
        f"pool {pool_id!r}: lost {MAX_ATTEMPTS} ETag races in a row updating its leases",
        code="ConditionNotMet",
    )


def acquire(hook: BatchHook, pool_id: str, dag_id: str, run_id: str) -> bool:
    """Record that this run uses the pool; False when the pool is gone or being deleted (create it again)."""
    key = lease_key(dag_id, run_id)

    def attempt() -> bool:
        pool = hook.get_pool(pool_id)
        if _gone(pool):
            return False
        assert pool is not None
        metadata = _metadata(pool)
        if key in {k.lower() for k in metadata}:
            return True  # a retry of this run already holds it
        try:
            hook.replace_pool_metadata(
                pool_id, {**metadata, **lease_entry(dag_id, run_id)}, etag=pool["eTag"]
            )
        except AzureComputeRemoteError as err:
            if err.code in ("PoolNotFound", "PoolBeingDeleted"):
                return False
            raise
        return True

    return _conditional(pool_id, attempt)


@dataclass
class Release:
    """What `release` did: ``deleted`` the pool, or kept it for ``holders`` (runs with live leases)."""

    deleted: bool = False
    holders: list[str] = field(default_factory=list)
    created_here: bool = True  # a run of this DAG created the pool (else it is never deleted)


def release(
    hook: BatchHook,
    pool_id: str,
    dag_id: str,
    run_id: str,
    run_state: RunState,
    *,
    ttl: timedelta = DEFAULT_LEASE_TTL,
) -> Release:
    """Drop this run's lease (and stale ones); delete the pool when a run of this DAG created it and no
    other run holds it. A pool already gone is a `Release` with nothing deleted."""
    own = lease_key(dag_id, run_id)
    outcome = Release()

    def attempt() -> bool:
        pool = hook.get_pool(pool_id)
        if _gone(pool):
            outcome.deleted, outcome.holders = False, []
            return True
        assert pool is not None
        now = datetime.now(timezone.utc)
        others = {k: lease for k, lease in leases_of(pool).items() if k != own}
        live = {k: lease for k, lease in others.items() if not lease.is_stale(run_state, now, ttl)}
        metadata = _metadata(pool)
        outcome.holders = sorted(str(lease) for lease in live.values())
        outcome.created_here = {k.lower(): v for k, v in metadata.items()}.get(DAG_KEY) == dag_id
        if outcome.created_here and not live:
            outcome.deleted = hook.delete_pool(pool_id, etag=pool["eTag"])
            return True
        dropped = {own, *(k for k in others if k not in live and k.startswith(LEASE_PREFIX))}
        kept = {k: v for k, v in metadata.items() if k.lower() not in dropped}
        if kept != metadata:
            try:
                hook.replace_pool_metadata(pool_id, kept, etag=pool["eTag"])
            except AzureComputeRemoteError as err:
                if err.code not in ("PoolNotFound", "PoolBeingDeleted"):
                    raise
        return True

    _conditional(pool_id, attempt)
    return outcome


def airflow_run_state(ti: Any) -> RunState:
    """A `RunState` asking Airflow through the running task instance (``get_dagrun_state``).

    Answers None (cannot tell) when the task instance has no such call or Airflow does not know the run.
    """
    get = getattr(ti, "get_dagrun_state", None)

    def state(dag_id: str, run_id: str) -> str | None:
        if get is None:
            return None
        try:
            return str(getattr(value := get(dag_id=dag_id, run_id=run_id), "value", value))
        except Exception as err:  # an unknown run, or no API server to ask
            log.info("the state of dag run %s/%s is unknown (%s)", dag_id, run_id, err)
            return None

    return state


__all__ = [
    "DEFAULT_LEASE_TTL",
    "LEASED_MARK",
    "LEASE_PREFIX",
    "Lease",
    "Release",
    "acquire",
    "airflow_run_state",
    "creation_metadata",
    "lease_entry",
    "lease_key",
    "leases_of",
    "release",
]
