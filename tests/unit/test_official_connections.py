"""Connections of the official Microsoft Azure provider's types, read with the fields it documents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_azure_compute.connections import AuthMode, ServiceKind, ServiceSettings
from airflow_azure_compute.exceptions import ConnectionConfigError

KEY = "c2VjcmV0LWtleS12YWx1ZS0xMjM0NTY3ODkwYWJjZGVm"  # base64
SAS = "sv=2024-01-01&ss=b&sp=rl&se=2030-01-01&sig=SECRETSIGNATURE"
SUB = "00000000-0000-0000-0000-000000000001"
TENANT = "11111111-1111-1111-1111-111111111111"
CLIENT = "22222222-2222-2222-2222-222222222222"


def parse(conn_type: str, extra: dict[str, Any] | None = None, **parts: Any) -> ServiceSettings:
    return ServiceSettings.from_connection(
        Connection(conn_id="theirs", conn_type=conn_type, extra=json.dumps(extra or {}), **parts)
    )


# -------------------------------------------------------------------------------------------- wasb


def test_wasb_account_name_and_key_without_host() -> None:
    s = parse("wasb", login="acct", password=KEY)
    assert (s.kind, s.auth_mode) == (ServiceKind.BLOB, AuthMode.SHARED_KEY)
    assert (s.endpoint, s.account_name, s.account_key) == ("https://acct.blob.core.windows.net", "acct", KEY)


@pytest.mark.parametrize(
    ("extra", "endpoint"),
    [
        ({"cloud": "AzureChinaCloud"}, "https://acct.blob.core.chinacloudapi.cn"),
        ({"cloud": "azureusgovernment"}, "https://acct.blob.core.usgovcloudapi.net"),
        ({"cloud": "AzureCloud"}, "https://acct.blob.core.windows.net"),
        ({"authority_host": "https://login.chinacloudapi.cn"}, "https://acct.blob.core.chinacloudapi.cn"),
        ({"extra__wasb__cloud": "AzureUSGovernment"}, "https://acct.blob.core.usgovcloudapi.net"),
    ],
)
def test_wasb_account_name_builds_the_url_of_its_cloud(extra: dict[str, Any], endpoint: str) -> None:
    """A Login alone names an account of the connection's cloud: its storage suffix, not the public one
    (which the same connection's ``cloud`` would then refuse)."""
    s = parse("wasb", extra, login="acct", password=KEY)
    assert (s.endpoint, s.queue_url, s.account_name) == (
        endpoint,
        endpoint.replace(".blob.", ".queue."),
        "acct",
    )


def test_wasb_unknown_cloud_is_refused_naming_the_field() -> None:
    with pytest.raises(ConnectionConfigError, match="unknown cloud 'AzureGermanCloud'") as err:
        parse("wasb", {"cloud": "AzureGermanCloud"}, login="acct", password=KEY)
    assert (err.value.field, err.value.conn_id) == ("cloud", "theirs")


def test_wasb_connection_string_wins() -> None:
    cs = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};EndpointSuffix=core.windows.net"
    s = parse("wasb", {"connection_string": cs, "sas_token": SAS})
    assert s.auth_mode is AuthMode.CONNECTION_STRING
    assert (s.endpoint, s.account_key) == ("https://acct.blob.core.windows.net", KEY)


def test_wasb_prefixed_extras_of_older_forms() -> None:
    s = parse("wasb", {"extra__wasb__sas_token": SAS}, host="https://acct.blob.core.windows.net")
    assert (s.auth_mode, s.sas_token) == (AuthMode.SAS, SAS)


def test_wasb_sas_url_carries_account_url_and_token() -> None:
    s = parse("wasb", {"sas_token": f"https://acct.blob.core.windows.net/?{SAS}"})
    assert (s.auth_mode, s.endpoint, s.sas_token) == (
        AuthMode.SAS, "https://acct.blob.core.windows.net", SAS,
    )  # fmt: skip


def test_wasb_shared_access_key_is_the_account_key() -> None:
    s = parse("wasb", {"shared_access_key": KEY}, host="acct.blob.core.windows.net")
    assert (s.auth_mode, s.endpoint, s.account_name) == (
        AuthMode.SHARED_KEY, "https://acct.blob.core.windows.net", "acct",
    )  # fmt: skip


def test_wasb_tenant_id_means_service_principal_in_login_and_password() -> None:
    s = parse(
        "wasb", {"tenant_id": TENANT}, host="https://acct.blob.core.windows.net", login=CLIENT,
        password="sp-secret-value",
    )  # fmt: skip
    assert (s.auth_mode, s.tenant_id, s.client_id, s.client_secret) == (
        AuthMode.SERVICE_PRINCIPAL, TENANT, CLIENT, "sp-secret-value",
    )  # fmt: skip
    assert "sp-secret-value" not in repr(s)


def test_wasb_managed_identity_hints_go_to_default_credential() -> None:
    s = parse(
        "wasb", {"managed_identity_client_id": CLIENT, "extra__wasb__tenant_id": ""},
        host="https://acct.blob.core.windows.net",
    )  # fmt: skip
    assert (s.auth_mode, s.client_id) == (AuthMode.DEFAULT, CLIENT)


# ------------------------------------------------------------------------------------ azure_batch


def test_azure_batch_shared_key() -> None:
    s = parse(
        "azure_batch", {"account_url": "https://acct.westeurope.batch.azure.com"}, login="acct", password=KEY
    )
    assert (s.kind, s.auth_mode, s.endpoint) == (
        ServiceKind.BATCH, AuthMode.SHARED_KEY, "https://acct.westeurope.batch.azure.com",
    )  # fmt: skip


def test_azure_batch_prefixed_account_url_and_default_credential() -> None:
    s = parse("azure_batch", {"extra__azure_batch__account_url": "https://acct.westeurope.batch.azure.com"})
    assert (s.auth_mode, s.endpoint) == (AuthMode.DEFAULT, "https://acct.westeurope.batch.azure.com")


def test_azure_batch_without_account_url_names_the_field() -> None:
    with pytest.raises(ConnectionConfigError, match="account_url") as err:
        parse("azure_batch", login="acct", password=KEY)
    assert err.value.field == "account_url"


# ----------------------------------------------------------------------- azure_container_instances


def test_aci_service_principal_with_subscription_and_resource_group() -> None:
    s = parse(
        "azure_container_instances",
        {"subscriptionId": SUB, "tenantId": TENANT, "resource_group": "rg"},
        login=CLIENT,
        password="sp-secret-value",
    )
    assert (s.kind, s.auth_mode, s.endpoint) == (
        ServiceKind.ACI, AuthMode.SERVICE_PRINCIPAL, "https://management.azure.com",
    )  # fmt: skip
    assert (s.subscription_id, s.resource_group, s.client_id) == (SUB, "rg", CLIENT)
    assert s.token_scope == "https://management.azure.com/.default"


def test_aci_sovereign_cloud_sets_endpoint_and_authority() -> None:
    s = parse(
        "azure_container_instances",
        {"subscriptionId": SUB, "resource_group": "rg", "cloud_environment": "AzureUSGovernment"},
    )
    assert (s.auth_mode, s.endpoint, s.authority_host) == (
        AuthMode.DEFAULT, "https://management.usgovcloudapi.net", "https://login.microsoftonline.us",
    )  # fmt: skip


def test_aci_without_resource_group_says_where_to_put_it() -> None:
    with pytest.raises(ConnectionConfigError, match="resource group") as err:
        parse("azure_container_instances", {"subscriptionId": SUB})
    assert err.value.field == "resource_group"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"subscriptionId": SUB, "resource_group": "rg", "key_path": "/k.json"}, "key_path"),
        ({"subscriptionId": SUB, "resource_group": "rg", "cloud_environment": "Mars"}, "cloud_environment"),
    ],
)
def test_aci_unsupported_fields_are_named(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(ConnectionConfigError) as err:
        parse("azure_container_instances", extra)
    assert err.value.field == field


def test_other_types_are_refused_with_the_accepted_list() -> None:
    with pytest.raises(ConnectionConfigError, match="wasb, azure_batch, azure_container_instances"):
        parse("azure_data_lake")


def test_hook_reads_an_official_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_azure_compute.hooks.blob import BlobHook

    conn = Connection(conn_id="my_wasb", conn_type="wasb", login="acct", password=KEY)
    monkeypatch.setenv("AIRFLOW_CONN_MY_WASB", conn.as_json())
    assert BlobHook("my_wasb").settings.endpoint == "https://acct.blob.core.windows.net"
