"""Which Azure cloud a connection talks to: named by the ``cloud`` extra, else read from the DNS zones
of its endpoints; loopback emulators and custom domains leave it the public cloud."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_azure_compute.clouds import (
    AzureCloud,
    cloud_of_url,
    cloud_signals,
    decide_cloud,
    parse_cloud,
    portal_url,
)
from airflow_azure_compute.connections import ServiceKind, ServiceSettings
from airflow_azure_compute.exceptions import AzureComputeConfigError, ConnectionConfigError

PUBLIC, CHINA, USGOV = AzureCloud.PUBLIC, AzureCloud.CHINA, AzureCloud.US_GOVERNMENT
SUB = "00000000-0000-0000-0000-000000000001"
KEY = "c2VjcmV0"


@pytest.mark.parametrize(
    ("url", "cloud"),
    [
        ("https://acct.westeurope.batch.azure.com", PUBLIC),
        ("https://acct.chinanorth2.batch.chinacloudapi.cn", CHINA),
        ("https://acct.usgovvirginia.batch.usgovcloudapi.net", USGOV),
        ("https://acct.blob.core.windows.net", PUBLIC),
        ("https://acct.blob.core.chinacloudapi.cn/", CHINA),
        ("https://acct.queue.core.usgovcloudapi.net", USGOV),
        ("https://management.azure.com", PUBLIC),
        ("https://management.chinacloudapi.cn", CHINA),
        ("https://management.usgovcloudapi.net/", USGOV),
        ("https://app.azurewebsites.net", PUBLIC),
        ("https://app.chinacloudsites.cn", CHINA),
        ("https://app.azurewebsites.us", USGOV),
        ("https://login.microsoftonline.com", PUBLIC),
        ("https://login.chinacloudapi.cn", CHINA),
        ("https://login.partner.microsoftonline.cn", CHINA),
        ("https://login.microsoftonline.us", USGOV),
        ("login.microsoftonline.us", USGOV),  # an authority may be a bare host
        ("HTTPS://ACCT.BLOB.CORE.CHINACLOUDAPI.CN.", CHINA),
    ],
)
def test_the_dns_zone_names_the_cloud(url: str, cloud: AzureCloud) -> None:
    assert cloud_of_url(url) is cloud


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "http://127.0.0.1:10000/devstoreaccount1",
        "http://localhost:7001",
        "https://[::1]:7443",
        "https://functions.contoso.com",
        "https://notazure.com",  # a zone matches whole labels only
        "https://chinacloudapi.cn.example.org",
    ],
)
def test_emulators_and_unknown_hosts_say_nothing(url: str | None) -> None:
    assert cloud_of_url(url) is None


def test_the_names_az_uses_and_their_aliases() -> None:
    assert [parse_cloud(c.value) for c in AzureCloud] == list(AzureCloud)
    assert parse_cloud(" azurechinacloud ") is CHINA
    assert parse_cloud("AzurePublicCloud") is PUBLIC  # the official provider's cloud_environment
    assert parse_cloud("AZURE_US_GOVERNMENT") is USGOV  # azure-core's AzureClouds
    with pytest.raises(ValueError, match="AzureCloud, AzureChinaCloud, AzureUSGovernment"):
        parse_cloud("AzureGermanCloud")
    assert AzureCloud.parse("azurechinacloud", field="cloud") is CHINA
    with pytest.raises(AzureComputeConfigError, match="unknown cloud 'Mars'") as err:
        AzureCloud.parse("Mars", field="cloud")
    assert err.value.field == "cloud"


def test_decide_prefers_the_explicit_cloud_then_the_first_known_url() -> None:
    china_batch = "https://a.chinanorth.batch.chinacloudapi.cn"
    assert decide_cloud(None, {"account_url": china_batch, "authority_host": None}) is CHINA
    assert decide_cloud(USGOV, {"account_url": "http://127.0.0.1:7001"}) is USGOV
    assert decide_cloud(None, {"account_url": "http://127.0.0.1:7001", "authority_host": None}) is PUBLIC
    custom = {
        "function_app_url": "https://functions.contoso.com",
        "authority_host": "login.microsoftonline.us",
    }
    assert decide_cloud(None, custom) is USGOV
    assert cloud_signals(custom) == [("authority_host", USGOV)]


def test_portal_of_each_cloud() -> None:
    assert [portal_url(c.value) for c in AzureCloud] == [
        "https://portal.azure.com",
        "https://portal.azure.cn",
        "https://portal.azure.us",
    ]
    assert portal_url(None) == "https://portal.azure.com"  # link data persisted before clouds were
    assert portal_url("Mars") == ""


# ------------------------------------------------------------------------------ on the connections


def _settings(kind: ServiceKind, **parts: Any) -> ServiceSettings:
    return ServiceSettings.from_fields(kind, conn_id="c", **parts)


def test_connections_decide_their_cloud_from_their_endpoint() -> None:
    batch = _settings(
        ServiceKind.BATCH, host="https://a.chinaeast2.batch.chinacloudapi.cn", login="a", password=KEY
    )
    blob = _settings(ServiceKind.BLOB, host="https://a.blob.core.usgovcloudapi.net", login="a", password=KEY)
    durable = _settings(ServiceKind.DURABLE, host="https://app.chinacloudsites.cn", password="k")
    aci = _settings(
        ServiceKind.ACI, extra={"subscription_id": SUB, "resource_group": "rg", "token": "t",
                                "arm_endpoint": "https://management.usgovcloudapi.net"},
    )  # fmt: skip
    assert [s.azure_cloud for s in (batch, blob, durable, aci)] == [CHINA, USGOV, CHINA, USGOV]
    assert batch.cloud is None and batch.authority_host is None  # inference changes no credential
    conn_str = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0;EndpointSuffix=core.chinacloudapi.cn"
    assert _settings(ServiceKind.BLOB, extra={"connection_string": conn_str}).azure_cloud is CHINA


def test_emulator_connections_stay_in_the_public_cloud() -> None:
    batch = _settings(ServiceKind.BATCH, host="http://127.0.0.1:7001", login="devbatch", password=KEY)
    blob = _settings(
        ServiceKind.BLOB, host="http://localhost:10000/devstoreaccount1", login="d", password=KEY
    )
    assert (batch.azure_cloud, blob.azure_cloud) == (PUBLIC, PUBLIC)


def test_the_cloud_extra_names_the_cloud_and_its_defaults() -> None:
    """A custom domain or an emulator says nothing; ``cloud`` says it, and gives the cloud's authority
    and ARM endpoint unless those are given."""
    durable = _settings(
        ServiceKind.DURABLE,
        host="https://functions.contoso.cn",
        password="k",
        extra={"cloud": "AzureChinaCloud"},
    )
    assert (durable.azure_cloud, durable.authority_host) == (CHINA, "https://login.chinacloudapi.cn")
    aci = _settings(
        ServiceKind.ACI,
        extra={"subscription_id": SUB, "resource_group": "rg", "cloud": "azureusgovernment", "token": "t"},
    )
    assert (aci.azure_cloud, aci.endpoint, aci.token_scope) == (
        USGOV, "https://management.usgovcloudapi.net", "https://management.usgovcloudapi.net/.default",
    )  # fmt: skip
    emulated = _settings(
        ServiceKind.ACI,
        extra={"subscription_id": SUB, "resource_group": "rg", "cloud": "AzureChinaCloud", "token": "t",
               "arm_endpoint": "https://127.0.0.1:7443", "authority_host": "https://127.0.0.1:7444"},
    )  # fmt: skip
    assert (emulated.azure_cloud, emulated.endpoint, emulated.authority_host) == (
        CHINA, "https://127.0.0.1:7443", "https://127.0.0.1:7444",
    )  # fmt: skip
    public = _settings(ServiceKind.BATCH, host="http://127.0.0.1:7001", login="a", password=KEY,
                       extra={"cloud": "AzureCloud"})  # fmt: skip
    assert (public.azure_cloud, public.authority_host) == (PUBLIC, None)


@pytest.mark.parametrize(
    ("parts", "field", "message"),
    [
        (
            {"host": "https://a.westeurope.batch.azure.com", "extra": {"cloud": "AzureChinaCloud"}},
            "account_url",
            "cloud is AzureChinaCloud but account_url host 'a.westeurope.batch.azure.com' is in AzureCloud",
        ),
        (
            {"host": "https://a.chinanorth.batch.chinacloudapi.cn",
             "extra": {"authority_host": "https://login.microsoftonline.us"}},
            "authority_host",
            "is in AzureChinaCloud but authority_host host 'login.microsoftonline.us' is in AzureUSGovernment",
        ),
        ({"host": "https://a.westeurope.batch.azure.com", "extra": {"cloud": "AzureGermanCloud"}}, "cloud",
         "unknown cloud 'AzureGermanCloud'; use one of: AzureCloud, AzureChinaCloud, AzureUSGovernment"),
    ],
)  # fmt: skip
def test_a_connection_naming_two_clouds_is_refused(parts: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConnectionConfigError) as err:
        _settings(ServiceKind.BATCH, login="a", password=KEY, **parts)
    assert err.value.field == field
    assert message in str(err.value)


def test_the_refusal_names_hosts_never_a_query_that_may_hold_a_key() -> None:
    with pytest.raises(ConnectionConfigError) as err:
        _settings(
            ServiceKind.DURABLE, host="https://app.azurewebsites.us/api/start?code=S3CRET",
            extra={"function_key": "k", "cloud": "AzureChinaCloud"},
        )  # fmt: skip
    assert err.value.field == "function_app_url"
    assert "'app.azurewebsites.us' is in AzureUSGovernment" in str(err.value)
    assert "S3CRET" not in str(err.value)


def test_official_cloud_environment_is_the_cloud() -> None:
    from types import SimpleNamespace

    conn = SimpleNamespace(
        conn_id="aci", conn_type="azure_container_instances", host=None, login=None, password=None,
        extra={"subscriptionId": SUB, "resource_group": "rg", "cloud_environment": "AzureChinaCloud"},
    )  # fmt: skip
    s = ServiceSettings.from_connection(conn)
    assert (s.azure_cloud, s.endpoint, s.authority_host) == (
        CHINA, "https://management.chinacloudapi.cn", "https://login.chinacloudapi.cn",
    )  # fmt: skip
    conn.extra = {**conn.extra, "cloud_environment": "AzurePublicCloud"}
    public = ServiceSettings.from_connection(conn)
    assert (public.azure_cloud, public.endpoint, public.authority_host) == (
        PUBLIC, "https://management.azure.com", None,
    )  # fmt: skip
