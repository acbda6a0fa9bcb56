"""The lease rule of shared pools: which leases a pool carries and which of them still keep it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_azure_compute.pool_leases import (
    Lease,
    airflow_run_state,
    creation_metadata,
    lease_entry,
    lease_key,
    leases_of,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
TTL = timedelta(days=1)


def _pool(metadata: dict[str, str], created: str = "2026-12-01T10:00:00.000000Z") -> dict[str, object]:
    return {"creationTime": created, "metadata": [{"name": k, "value": v} for k, v in metadata.items()]}


def test_a_lease_key_is_per_run_and_stable() -> None:
    assert lease_key("d", "r1") == lease_key("d", "r1") != lease_key("d", "r2")
    assert lease_key("d", "r1") == lease_key("d", "r1").lower()  # Batch metadata names ignore case


def test_leases_of_reads_each_run_and_counts_the_creator() -> None:
    pool = _pool(
        {
            "airflow_dag_id": "d",
            "airflow_run_id": "creator",
            **lease_entry("d", "b", NOW),
            "airflow_lease_0123456789abcdef": "not json",
            "unrelated": "x",
        }
    )
    leases = leases_of(pool)
    assert leases[lease_key("d", "b")] == Lease(lease_key("d", "b"), "d", "b", NOW)
    creator = leases[lease_key("d", "creator")]
    assert (creator.run_id, creator.since) == ("creator", datetime(2026, 12, 1, 10, tzinfo=timezone.utc))
    assert leases["airflow_lease_0123456789abcdef"].since is None  # unreadable: only the age bound applies
    assert len(leases) == 3


def test_a_pool_created_with_leases_is_held_by_its_creator_only_through_its_own_lease() -> None:
    """Two teardowns that end together must not each keep the pool for the other: once the creating
    run has released its lease, it holds the pool no more (the implicit creator lease is for pools
    created without the `LEASED_MARK`)."""
    created = {"airflow_dag_id": "d", "airflow_run_id": "creator", **creation_metadata("d", "creator")}
    assert lease_key("d", "creator") in leases_of(_pool(created))
    released = {k: v for k, v in created.items() if k != lease_key("d", "creator")}
    assert leases_of(_pool(released)) == {}


@pytest.mark.parametrize(
    ("state", "age", "stale"),
    [
        ("running", timedelta(days=9), False),
        ("queued", timedelta(0), False),
        ("success", timedelta(0), True),
        ("failed", timedelta(0), True),
        (None, timedelta(hours=23), False),
        (None, timedelta(hours=25), True),
    ],
)
def test_a_lease_is_stale_when_its_run_ended_or_unknown_and_old(
    state: str | None, age: timedelta, stale: bool
) -> None:
    lease = Lease("k", "d", "r", NOW - age)
    assert lease.is_stale(lambda dag_id, run_id: state, NOW, TTL) is stale


def test_airflow_run_state_answers_none_when_airflow_cannot_tell() -> None:
    class TI:
        @staticmethod
        def get_dagrun_state(dag_id: str, run_id: str) -> str:
            if run_id == "known":
                return "running"
            raise LookupError("DagRun not found")

    ask = airflow_run_state(TI())
    assert (ask("d", "known"), ask("d", "unknown")) == ("running", None)
    assert airflow_run_state(object())("d", "known") is None  # no API to ask
