"""Pure retry logic: retry-then-reconcile, the Storage Retry-After backoff, the per-window error budget."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from airflow_azure_compute.exceptions import AzureComputeConflictError, AzureComputeRemoteError
from airflow_azure_compute.hooks import idempotent
from airflow_azure_compute.hooks.idempotent import (
    RetryPlan,
    confirm_created,
    is_ours,
    is_transient,
    lost_response,
    retry_call,
)
from airflow_azure_compute.hooks.storage_retry import backoff_seconds, retry_after_seconds
from airflow_azure_compute.triggers.batch import ErrorWindow


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(idempotent.time, "sleep", slept.append)
    return slept


def http_error(status: int, retry_after: str | None = None) -> HttpResponseError:
    response = SimpleNamespace(
        status_code=status, headers={"Retry-After": retry_after} if retry_after else {}
    )
    err = HttpResponseError(message=f"status {status}")
    err.status_code = status
    err.response = response  # type: ignore[assignment]
    return err


def test_transient_errors_are_seen_through_the_providers_own_error() -> None:
    wrapped = AzureComputeRemoteError("create_job: busy", status=None)
    wrapped.__cause__ = http_error(503)
    assert is_transient(wrapped) and is_transient(ServiceResponseError("reset"))
    assert not is_transient(http_error(409)) and not is_transient(ValueError("x"))
    assert lost_response(ServiceResponseError("reset")) and not lost_response(ServiceRequestError("refused"))


def test_a_lost_create_is_reconciled_and_a_clean_one_is_not(no_sleep: list[float]) -> None:
    answers: list[Any] = [ServiceResponseError("reset after send"), False]
    reconciled: list[bool] = []

    def call() -> bool:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return bool(answer)

    def reconcile(created: bool) -> bool:
        reconciled.append(created)
        return True

    assert retry_call("create_job 'j'", call, reconcile=reconcile) is True
    assert reconciled == [False] and len(no_sleep) == 1
    assert (
        retry_call("create_job 'j'", lambda: False, reconcile=reconcile) is False
    )  # no lost try: no reconcile
    assert reconciled == [False]


def test_retry_after_is_honoured_and_tries_are_bounded(no_sleep: list[float]) -> None:
    def busy() -> None:
        raise http_error(503, "2")

    with pytest.raises(HttpResponseError):
        retry_call("terminate_job 'j'", busy, attempts=3)
    assert no_sleep == [2.0, 2.0]
    with pytest.raises(HttpResponseError):  # not transient: at once
        retry_call("create_job 'j'", lambda: (_ for _ in ()).throw(http_error(400)))
    assert len(no_sleep) == 2


def test_plan_backs_off_with_jitter_within_the_cap() -> None:
    plan = RetryPlan("x", attempts=10)
    delays = [plan.after_error(ServiceResponseError("reset")) for _ in range(9)]
    assert all(0 <= d <= idempotent.MAX_DELAY_S for d in delays) and plan.maybe_landed


def test_ownership_by_metadata_and_definition() -> None:
    body = {"id": "j", "poolInfo": {"poolId": "p"}, "metadata": [{"name": "dag", "value": "d"}]}
    mine = {**body, "metadata": [{"name": "dag", "value": "d"}, {"name": "extra", "value": "1"}]}
    assert is_ours(mine, body, ("poolInfo",))
    assert not is_ours({**mine, "poolInfo": {"poolId": "q"}}, body, ("poolInfo",))
    assert not is_ours({**body, "metadata": [{"name": "dag", "value": "other"}]}, body, ())
    assert not is_ours(None, body, ())
    with pytest.raises(AzureComputeConflictError, match="job 'j' exists but was not created by this request"):
        confirm_created("job", "j", {"id": "j"}, {**body, "metadata": [{"name": "x", "value": "y"}]}, ())


def _settings(count: int, retry_after: str | None) -> dict[str, Any]:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return {"count": count, "history": [SimpleNamespace(http_response=SimpleNamespace(headers=headers))]}


def test_storage_backoff_honours_retry_after() -> None:
    assert retry_after_seconds(_settings(0, "3")) == 3.0
    assert backoff_seconds(_settings(0, "3")) == 3.0
    assert backoff_seconds(_settings(0, "3600")) == 30.0  # capped
    assert retry_after_seconds(_settings(0, "soon")) is None
    assert 0.4 <= backoff_seconds(_settings(0, None)) <= 1.2  # no hint: 0.8 s ±50 %, not the SDK's 15 s
    assert 1.6 <= backoff_seconds(_settings(2, None)) <= 4.8
    assert retry_after_seconds({"count": 0, "history": []}) is None


def test_storage_clients_get_the_policy() -> None:
    from azure.storage.blob import BlobServiceClient

    from airflow_azure_compute.hooks.storage_retry import storage_retry_policy

    client = BlobServiceClient("http://127.0.0.1:1/acct", retry_policy=storage_retry_policy(aio=False))
    policy = client._config.retry_policy
    assert policy.get_backoff_time(_settings(0, "2")) == 2.0


def test_error_budget_is_per_window() -> None:
    window = ErrorWindow(budget=3, window_s=60)
    # Three errors per minute, for an hour: a long, healthy wait under recurring throttling.
    assert not any(
        window.spend(t) for minute in range(60) for t in (minute * 60 + 1, minute * 60 + 2, minute * 60 + 3)
    )
    burst = ErrorWindow(budget=3, window_s=60)
    assert [burst.spend(t) for t in (0, 1, 2, 3)] == [False, False, False, True]
