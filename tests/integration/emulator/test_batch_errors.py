"""Batch emulator: authentication and the service's error answers, through the real azure-batch SDK."""

# The SDK types most model fields Optional; these tests dereference them on purpose.
# mypy: disable-error-code="union-attr,index,operator"
from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.integration.emulator.batch_support import (
    admin,
    batch_client,
    cleanup,
    create_pool_and_job,
    job_options,
    pool_options,
    uid,
)

pytestmark = pytest.mark.integration


def test_wrong_key_is_403_authentication_failed(emulator: dict[str, Any]) -> None:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    wrong = batch_client(emulator, key="d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktMDA=")
    with pytest.raises(HttpResponseError) as info:
        wrong.get_pool("does-not-matter")
    assert not isinstance(info.value, ClientAuthenticationError)
    assert info.value.status_code == 403
    assert info.value.error is not None and info.value.error.code == "AuthenticationFailed"


def test_missing_authorization_is_401(emulator: dict[str, Any]) -> None:
    url = emulator["batch"]["url"] + "/pools?api-version=2025-06-01"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=10)
    assert info.value.code == 401
    body = info.value.read().decode()
    assert '"AuthenticationFailed"' in body and '"value"' in body


def test_tampered_query_fails_the_signature(emulator: dict[str, Any]) -> None:
    from azure.core.exceptions import HttpResponseError

    def tamper(request: Any) -> None:  # the raw request hook runs after the SharedKey policy signed
        request.http_request.url = request.http_request.url.replace("maxresults=5", "maxresults=6")

    client = batch_client(emulator)
    with pytest.raises(HttpResponseError) as info:
        list(client.list_pools(max_results=5, raw_request_hook=tamper))
    assert info.value.status_code == 403


def test_injected_auth_failure_then_recovery(emulator: dict[str, Any]) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    client = batch_client(emulator)
    admin(emulator, "PUT", "/auth", {"status": 401, "count": 1})
    with pytest.raises(ClientAuthenticationError):
        client.get_job_task_counts("missing-job-auth")
    list(client.list_pools(max_results=1))  # the next request authenticates again


def test_not_found_codes(emulator: dict[str, Any]) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    client = batch_client(emulator)
    cases = [
        (lambda: client.get_pool(uid("nopool")), "PoolNotFound"),
        (lambda: client.get_job(uid("nojob")), "JobNotFound"),
        (lambda: client.get_job_task_counts(uid("nojob")), "JobNotFound"),
    ]
    for call, code in cases:
        with pytest.raises(ResourceNotFoundError) as info:
            call()
        assert info.value.error is not None and info.value.error.code == code
    # pool_exists on 404 raises in azure-batch 15.1 (EMULATOR_SPEC A.0 quirk): HEAD gives 404
    with pytest.raises(ResourceNotFoundError):
        client.pool_exists(uid("nopool"))


def test_conflicts_are_case_insensitive(emulator: dict[str, Any]) -> None:
    from azure.batch import models
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

    client = batch_client(emulator)
    pool_id, job_id = uid("Pool"), uid("Job")
    client.create_pool(pool_options(pool_id, dedicated=0))
    with pytest.raises(ResourceExistsError) as info:
        client.create_pool(pool_options(pool_id.upper(), dedicated=0))
    assert info.value.error.code == "PoolExists"
    client.create_job(job_options(job_id, pool_id))
    with pytest.raises(ResourceExistsError) as info:
        client.create_job(job_options(job_id.lower(), pool_id))
    assert info.value.error.code == "JobExists"
    client.create_task(job_id, models.BatchTaskCreateOptions(id="Task1", command_line="/bin/true"))
    with pytest.raises(ResourceExistsError) as info:
        client.create_task(job_id, models.BatchTaskCreateOptions(id="task1", command_line="/bin/true"))
    assert info.value.error.code == "TaskExists"
    with pytest.raises(ResourceNotFoundError) as missing:
        client.get_task(job_id, "task2")
    assert missing.value.error.code == "TaskNotFound"
    cleanup(client, job_id=job_id, pool_id=pool_id)


def test_id_rules(emulator: dict[str, Any]) -> None:
    from azure.core.exceptions import HttpResponseError

    client = batch_client(emulator)
    client.create_pool(pool_options("p" * 64, dedicated=0))
    cleanup(client, pool_id="p" * 64)
    for bad in ("p" * 65, "has space", "dot.ted"):
        with pytest.raises(HttpResponseError) as info:
            client.create_pool(pool_options(bad, dedicated=0))
        assert info.value.status_code == 400
        assert info.value.error.code == "InvalidPropertyValue"


def test_oversized_collection_is_413(emulator: dict[str, Any]) -> None:
    from azure.batch import models
    from azure.core.exceptions import HttpResponseError

    client = batch_client(emulator)
    pool_id, job_id = create_pool_and_job(client, dedicated=0)
    big = "x" * 20_000
    tasks = [models.BatchTaskCreateOptions(id=f"t{i}", command_line=f"/bin/echo {big}") for i in range(60)]
    with pytest.raises(HttpResponseError) as info:  # ~1.2 MB in one request
        client.create_task_collection(job_id, models.BatchTaskGroup(task_values=tasks))
    assert info.value.status_code == 413
    assert info.value.error.code == "RequestBodyTooLarge"
    too_many = [models.BatchTaskCreateOptions(id=f"m{i}", command_line="/bin/true") for i in range(101)]
    with pytest.raises(HttpResponseError) as info:
        client.create_task_collection(job_id, models.BatchTaskGroup(task_values=too_many))
    assert info.value.status_code == 413
    # the SDK's create_tasks halves the chunk on 413 and lands every task
    result = client.create_tasks(job_id, tasks)
    assert len(result.result_values) == 60
    counts = client.get_job_task_counts(job_id).task_counts
    assert counts.active + counts.running + counts.completed == 60
    cleanup(client, job_id=job_id, pool_id=pool_id)


def test_collection_reports_per_task_client_errors(emulator: dict[str, Any]) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    pool_id, job_id = create_pool_and_job(client, dedicated=0)
    client.create_task(job_id, models.BatchTaskCreateOptions(id="dup", command_line="/bin/true"))
    group = models.BatchTaskGroup(
        task_values=[
            models.BatchTaskCreateOptions(id="DUP", command_line="/bin/true"),
            models.BatchTaskCreateOptions(id="fresh", command_line="/bin/true"),
            models.BatchTaskCreateOptions(id="bad id!", command_line="/bin/true"),
        ]
    )
    result = client.create_task_collection(job_id, group)
    by_id = {r.task_id: r for r in result.result_values}
    assert by_id["DUP"].status is models.BatchTaskAddStatus.CLIENT_ERROR
    assert by_id["DUP"].error.code == "TaskExists"
    assert by_id["fresh"].status is models.BatchTaskAddStatus.SUCCESS
    assert by_id["bad id!"].status is models.BatchTaskAddStatus.CLIENT_ERROR
    cleanup(client, job_id=job_id, pool_id=pool_id)
