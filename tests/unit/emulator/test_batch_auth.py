"""SharedKey: the emulator recomputes exactly what the azure-batch SDK signs."""

from __future__ import annotations

import pytest

from airflow_azure_compute.emulator.batch.auth import string_to_sign, verify
from airflow_azure_compute.emulator.batch.wire import BatchError

ACCOUNT, KEY = "acct", "a2V5LWtleS1rZXkta2V5LWtleS1rZXkta2V5LWtleQ=="


def _signed(method: str, url: str, body: bytes | None = None) -> tuple[dict[str, str], str, str]:
    from urllib.parse import urlsplit

    from azure.batch._patch import BatchSharedKeyAuthPolicy
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.core.pipeline import PipelineContext, PipelineRequest
    from azure.core.rest import HttpRequest

    request = HttpRequest(
        method, url, content=body, headers={"Content-Type": "application/json"} if body else {}
    )
    policy = BatchSharedKeyAuthPolicy(AzureNamedKeyCredential(ACCOUNT, KEY))
    policy.on_request(PipelineRequest(request, PipelineContext(None)))
    parts = urlsplit(request.url)
    return dict(request.headers), parts.path, parts.query


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        (
            "GET",
            "http://h/jobs/job%201/tasks?api-version=2025-06-01&$filter=state%20eq%20%27completed%27&maxresults=5",
            None,
        ),
        ("POST", "http://h/pools?api-version=2025-06-01", b'{"id":"p"}'),
        ("DELETE", "http://h/jobs/j?api-version=2025-06-01", None),
        ("HEAD", "http://h/jobs/j/tasks/t/files/wd%2Fout%20put.txt?api-version=2025-06-01", None),
    ],
)
def test_sdk_signature_verifies(method: str, url: str, body: bytes | None) -> None:
    headers, path, query = _signed(method, url, body)
    verify(method, headers, ACCOUNT, KEY, path, query)


def test_wrong_key_missing_header_and_malformed() -> None:
    headers, path, query = _signed("GET", "http://h/pools?api-version=2025-06-01")
    with pytest.raises(BatchError) as info:
        verify("GET", headers, ACCOUNT, "b3RoZXIta2V5LW90aGVyLWtleQ==", path, query)
    assert (info.value.status, info.value.code) == (403, "AuthenticationFailed")
    with pytest.raises(BatchError) as info:
        verify("GET", {}, ACCOUNT, KEY, path, query)
    assert info.value.status == 401
    with pytest.raises(BatchError) as info:
        verify("GET", {"Authorization": "Bearer x"}, ACCOUNT, KEY, path, query)
    assert (info.value.status, info.value.code) == (400, "InvalidAuthenticationInfo")
    with pytest.raises(BatchError):  # a changed query breaks the signature
        verify("GET", headers, ACCOUNT, KEY, path, query + "&maxresults=3")


def test_string_to_sign_shape() -> None:
    text = string_to_sign(
        "GET",
        {"ocp-date": "d", "Content-Type": "t", "client-request-id": "x"},
        "acct",
        "/jobs/job%201/tasks",
        "maxresults=5&api-version=2025-06-01&$filter=state%20eq%20%27completed%27&empty=",
    )
    assert text == (
        "GET\n\n\n\n\nt\n\n\n\n\n\n\nocp-date:d\n/acct/jobs/job%201/tasks"
        "\n$filter:state eq 'completed'\napi-version:2025-06-01\nmaxresults:5"
    )
    assert string_to_sign("POST", {}, "a", "/p", "").startswith("POST\n\n\n0\n")
