"""Authentication comes before anything else, on every path: Azure Resource Manager answers an
unauthenticated request to any path 401, the Batch data plane 401/403 before it looks the resource up,
and the Functions host checks the system key before the Durable extension sees the path. A missing
or wrong credential must never learn whether a path or a resource exists."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.integration.emulator.aci_support import EmulatorCredential
from tests.integration.emulator.batch_support import batch_client

pytestmark = pytest.mark.integration

_WRONG_BATCH_KEY = "d3Jvbmcta2V5LWZvci10aGUtYmF0Y2gtYWNjb3VudA=="


def _status(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None, ca: str | None = None
) -> int:
    context = ssl.create_default_context(cafile=ca) if ca else None
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


_ARM_PATHS = [
    "/no/such/path",
    "/subscriptions/s1/providers/Microsoft.Nothing/things",
    "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/none"
    "?api-version=2023-05-01",
    "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/none/bogus",
]


@pytest.mark.parametrize("path", _ARM_PATHS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_arm_answers_401_before_404_on_any_path(emulator: dict[str, Any], path: str, method: str) -> None:
    aci = emulator["aci"]
    assert _status(aci["url"] + path, method=method, ca=aci["ca_path"]) == 401
    wrong = {"Authorization": "Bearer not.a.token"}
    assert _status(aci["url"] + path, method=method, headers=wrong, ca=aci["ca_path"]) == 401
    right = {"Authorization": f"Bearer {aci['token']}"}  # past the check: the path's own answer
    assert _status(aci["url"] + path, method=method, headers=right, ca=aci["ca_path"]) not in (401, 403)


def test_arm_sdk_with_a_wrong_token_is_refused_not_told_the_group_is_missing(
    emulator: dict[str, Any],
) -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient

    aci = emulator["aci"]
    with (
        ContainerInstanceManagementClient(
            EmulatorCredential("not.a.token"),  # type: ignore[arg-type]
            aci["subscription_id"],
            base_url=aci["url"],
            connection_verify=aci["ca_path"],
        ) as client,
        pytest.raises(ClientAuthenticationError),
    ):
        client.container_groups.get(aci["resource_group"], "no-such-group")


@pytest.mark.parametrize("path", ["/no/such/path", "/pools/none", "/jobs/none/tasks/none/bogus"])
def test_batch_answers_401_without_a_signature_on_any_path(emulator: dict[str, Any], path: str) -> None:
    url = emulator["batch"]["url"].rstrip("/") + path + "?api-version=2025-06-01"
    assert _status(url) == 401
    assert _status(url, headers={"Authorization": "Bearer x"}) == 400  # not a SharedKey header


def test_batch_sdk_with_a_wrong_key_is_refused_not_told_the_pool_is_missing(emulator: dict[str, Any]) -> None:
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    client = batch_client(emulator, key=_WRONG_BATCH_KEY)
    try:
        with pytest.raises(HttpResponseError) as info:
            client.get_pool("no-such-pool")
        assert not isinstance(info.value, ResourceNotFoundError)
        assert info.value.status_code == 403
        assert info.value.error is not None and info.value.error.code == "AuthenticationFailed"
    finally:
        client.close()


@pytest.mark.parametrize("path", ["/no/such/path", "/instances/none/bogus", "/Instances/none/Bogus"])
def test_durable_checks_the_system_key_before_the_path(emulator: dict[str, Any], path: str) -> None:
    durable = emulator["durable"]
    url = durable["webhook_url"].rstrip("/") + path
    for method in ("GET", "POST"):
        assert _status(url, method=method) == 401
        assert _status(url + "?code=wrong", method=method) == 401
        assert _status(f"{url}?code={durable['key']}", method=method) == 404
