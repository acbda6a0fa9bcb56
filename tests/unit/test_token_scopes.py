"""The Entra ID token scope a connection asks for: the one of its service in its cloud, handed to the
SDK clients only when the connection signs in with Entra ID (shared keys and SAS need none)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_azure_compute.clouds import ENDPOINTS, AzureCloud
from airflow_azure_compute.connections import ServiceKind, ServiceSettings
from airflow_azure_compute.hooks.batch import client_options as batch_options
from airflow_azure_compute.hooks.blob import client_kwargs as blob_options
from airflow_azure_compute.hooks.container_instances import client_options as aci_options
from airflow_azure_compute.hooks.sdk_options import credential_scopes, storage_audience

PUBLIC, CHINA, USGOV = AzureCloud.PUBLIC, AzureCloud.CHINA, AzureCloud.US_GOVERNMENT
SUB = "00000000-0000-0000-0000-000000000001"
KEY = "c2VjcmV0"
ACI = {"subscription_id": SUB, "resource_group": "rg", "token": "t"}

#: The scopes as azure-cli (``batch_resource_id``, ``resource_manager``) and go-autorest
#: (``ResourceIdentifiers.Storage``) define them; Batch's keeps the resource id's trailing slash.
EXPECTED = {
    PUBLIC: ("https://batch.core.windows.net//.default", "https://storage.azure.com/.default",
             "https://management.azure.com/.default", "core.windows.net"),
    CHINA: ("https://batch.chinacloudapi.cn//.default", "https://storage.azure.com/.default",
            "https://management.chinacloudapi.cn/.default", "core.chinacloudapi.cn"),
    USGOV: ("https://batch.core.usgovcloudapi.net//.default", "https://storage.azure.com/.default",
            "https://management.usgovcloudapi.net/.default", "core.usgovcloudapi.net"),
}  # fmt: skip


def _settings(kind: ServiceKind, **parts: Any) -> ServiceSettings:
    return ServiceSettings.from_fields(kind, conn_id="c", **parts)


@pytest.mark.parametrize("cloud", list(AzureCloud))
def test_each_cloud_has_its_scopes_and_storage_suffix(cloud: AzureCloud) -> None:
    e = ENDPOINTS[cloud]
    assert (e.batch_scope, e.storage_scope, e.arm_scope, e.storage_suffix) == EXPECTED[cloud]
    assert e.arm_scope == f"{e.resource_manager}/.default"


def test_the_public_defaults_are_what_the_sdks_ask_for_unconfigured() -> None:
    """With no cloud said, the scopes are the ones azure-batch and azure-storage use by default."""
    from azure.batch._configuration import BatchClientConfiguration
    from azure.storage.blob._shared.constants import STORAGE_OAUTH_SCOPE

    config = BatchClientConfiguration("https://x", credential=object())  # type: ignore[arg-type]
    assert config.credential_scopes == [ENDPOINTS[PUBLIC].batch_scope]
    assert ENDPOINTS[PUBLIC].storage_scope == STORAGE_OAUTH_SCOPE


@pytest.mark.parametrize("cloud", list(AzureCloud))
def test_a_token_connection_asks_for_its_clouds_scope(cloud: AzureCloud) -> None:
    """The ``cloud`` extra decides the scope even on an emulator's loopback endpoint."""
    extra = {"cloud": cloud.value, "token": "t"}
    batch = _settings(ServiceKind.BATCH, host="http://127.0.0.1:7001", extra=extra)
    blob = _settings(ServiceKind.BLOB, host="http://127.0.0.1:10000/devstoreaccount1", extra=extra)
    aci = _settings(ServiceKind.ACI, extra={**ACI, "cloud": cloud.value})
    batch_scope, storage_scope, arm_scope, _ = EXPECTED[cloud]
    assert (batch.token_scopes, blob.token_scopes, aci.token_scopes) == (
        [batch_scope], [storage_scope], [arm_scope],
    )  # fmt: skip


def test_the_endpoints_zone_decides_the_scope_without_a_cloud_extra() -> None:
    batch = _settings(
        ServiceKind.BATCH, host="https://a.chinaeast2.batch.chinacloudapi.cn", extra={"token": "t"}
    )
    gov = _settings(ServiceKind.BATCH, host="https://a.usgovvirginia.batch.usgovcloudapi.net",
                    extra={"auth_mode": "managed_identity"})  # fmt: skip
    by_authority = _settings(ServiceKind.BATCH, host="http://127.0.0.1:7001",
                             extra={"token": "t", "authority_host": "https://login.chinacloudapi.cn"})  # fmt: skip
    public = _settings(ServiceKind.BATCH, host="https://a.westeurope.batch.azure.com", extra={"token": "t"})
    assert [s.token_scope for s in (batch, gov, by_authority, public)] == [
        EXPECTED[CHINA][0], EXPECTED[USGOV][0], EXPECTED[CHINA][0], EXPECTED[PUBLIC][0],
    ]  # fmt: skip


def test_a_custom_arm_endpoint_is_its_own_audience() -> None:
    """An ARM endpoint in no cloud's zone (an emulator) keeps ``<endpoint>/.default``, whatever the cloud."""
    for cloud in AzureCloud:
        aci = _settings(
            ServiceKind.ACI, extra={**ACI, "cloud": cloud.value, "arm_endpoint": "https://127.0.0.1:7443/"}
        )
        assert aci.token_scope == "https://127.0.0.1:7443/.default"


def test_durable_keeps_the_apps_own_scope() -> None:
    durable = _settings(ServiceKind.DURABLE, host="https://app.chinacloudsites.cn",
                        extra={"app_auth_scope": "api://my-app/.default", "token": "t"})  # fmt: skip
    assert (durable.azure_cloud, durable.token_scopes) == (CHINA, ["api://my-app/.default"])


def test_keys_and_sas_get_no_scope() -> None:
    shared = _settings(ServiceKind.BATCH, host="http://127.0.0.1:7001", login="a", password=KEY,
                       extra={"cloud": "AzureChinaCloud"})  # fmt: skip
    sas = _settings(
        ServiceKind.BLOB, host="https://a.blob.core.chinacloudapi.cn", extra={"sas_token": "sv=1&sig=x"}
    )
    assert (shared.token_scopes, sas.token_scopes) == ([], [])
    assert credential_scopes(shared) == {} and storage_audience(sas) == {}
    assert "credential_scopes" not in batch_options(shared, aio=False)
    assert "audience" not in blob_options(sas, aio=True)


def test_the_sdk_clients_are_given_the_scope_in_their_own_keyword() -> None:
    """azure-batch and azure-mgmt take ``credential_scopes``; azure-storage an ``audience`` to which it
    appends ``/.default`` itself."""
    china = {"cloud": "AzureChinaCloud", "token": "t"}
    batch = _settings(ServiceKind.BATCH, host="http://127.0.0.1:7001", extra=china)
    blob = _settings(ServiceKind.BLOB, host="https://a.blob.core.chinacloudapi.cn", extra=china)
    aci = _settings(ServiceKind.ACI, extra={**ACI, "cloud": "AzureUSGovernment"})
    for aio in (False, True):
        assert batch_options(batch, aio=aio)["credential_scopes"] == [
            "https://batch.chinacloudapi.cn//.default"
        ]
        assert blob_options(blob, aio=aio)["audience"] == "https://storage.azure.com"
        assert aci_options(aci, aio=aio)["credential_scopes"] == [
            "https://management.usgovcloudapi.net/.default"
        ]
