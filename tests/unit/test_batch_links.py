"""Portal links: every URL is the portal's #resource route on a documented ARM resource id; no key."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_azure_compute.connections import ServiceKind, ServiceSettings
from airflow_azure_compute.links import (
    AzurePortalLink,
    BatchJobLink,
    BatchPoolLink,
    ContainerGroupLink,
    ContainerWorkersLink,
    DurableInstanceLink,
    arm_scope,
    batch_account_fields,
    durable_app_fields,
)

SUB = "00000000-0000-0000-0000-000000000001"
SCOPE = {"subscription_id": SUB, "resource_group": "rg"}
RG = f"https://portal.azure.com/#resource/subscriptions/{SUB}/resourceGroups/rg/providers"
#: What `arm_scope` persists for a connection of the public cloud (and an emulator's).
PUBLIC = {**SCOPE, "cloud": "AzureCloud"}


def test_account_fields_from_settings() -> None:
    settings = SimpleNamespace(endpoint="https://acct.westeurope.batch.azure.com", account_name=None, **SCOPE)
    assert batch_account_fields(settings) == {"account": "acct", "region": "westeurope", **PUBLIC}
    emulated = SimpleNamespace(endpoint="http://127.0.0.1:7001", account_name="devbatch", **SCOPE)
    assert batch_account_fields(emulated) == {"account": "devbatch", "region": "", **PUBLIC}
    assert arm_scope(SimpleNamespace()) == {
        "subscription_id": "",
        "resource_group": "",
        "cloud": "AzureCloud",
    }


def test_batch_links_open_arm_resources() -> None:
    pool = BatchPoolLink.format_url({"account": "acct", "pool_id": "p 1", **SCOPE})
    assert pool == f"{RG}/Microsoft.Batch/batchAccounts/acct/pools/p%201"
    job = BatchJobLink.format_url({"account": "acct", "job_id": "j", **SCOPE})
    assert job == f"{RG}/Microsoft.Batch/batchAccounts/acct"


def test_container_group_link() -> None:
    url = ContainerGroupLink.format_url({"group_name": "g", **SCOPE})
    assert url == f"{RG}/Microsoft.ContainerInstance/containerGroups/g"


def test_worker_pool_link_opens_the_resource_group_of_its_groups() -> None:
    url = ContainerWorkersLink.format_url(SCOPE)
    assert url == f"https://portal.azure.com/#resource/subscriptions/{SUB}/resourceGroups/rg"
    assert ContainerWorkersLink.format_url({"subscription_id": SUB}) == ""


def test_durable_link_opens_the_function_app_and_never_the_keyed_api() -> None:
    fields = {"endpoint": "https://myapp.azurewebsites.net", "instance_id": "i-1", **SCOPE}
    url = DurableInstanceLink.format_url(fields)
    assert url == f"{RG}/Microsoft.Web/sites/myapp"
    assert "runtime/webhooks" not in url and "code=" not in url


def test_durable_link_takes_the_app_name_from_the_connection() -> None:
    """A custom domain (or an emulator on an IP address) names no app: the connection's
    ``function_app_name`` does."""
    from airflow_azure_compute.connections import ServiceKind, ServiceSettings

    settings = ServiceSettings.from_fields(
        ServiceKind.DURABLE, host="https://functions.contoso.com", password="key",
        extra={"function_app_name": "myapp", **SCOPE},
    )  # fmt: skip
    fields = durable_app_fields(settings)
    assert fields == {"app": "myapp", **PUBLIC}
    assert DurableInstanceLink.format_url({**fields, "instance_id": "i"}) == f"{RG}/Microsoft.Web/sites/myapp"
    derived = durable_app_fields(SimpleNamespace(endpoint="https://app1.azurewebsites.net", **SCOPE))
    assert derived == {"app": "app1", **PUBLIC}
    assert durable_app_fields(SimpleNamespace(endpoint="http://127.0.0.1:7003", **SCOPE))["app"] == ""


def test_no_link_without_the_arm_scope() -> None:
    assert BatchPoolLink.format_url({"account": "acct", "pool_id": "p"}) == ""
    assert (
        BatchPoolLink.format_url(
            {"account": "acct", "pool_id": "p", "subscription_id": "", "resource_group": "rg"}
        )
        == ""
    )
    assert (
        DurableInstanceLink.format_url({"endpoint": "http://127.0.0.1:7003", "instance_id": "i", **SCOPE})
        == ""
    )


def test_persist_writes_the_fields_under_the_key() -> None:
    pushed: dict[str, Any] = {}

    class TI:
        def xcom_push(self, key: str, value: Any) -> None:
            pushed[key] = value

    BatchJobLink.persist({"ti": TI()}, job_id="j", account="a")
    assert pushed == {"azure_batch_job": {"job_id": "j", "account": "a"}}
    BatchJobLink.persist({"ti": TI()}, job_id="j", account="a", cloud="AzureChinaCloud")
    assert pushed["azure_batch_job"]["cloud"] == "AzureChinaCloud"  # a JSON-able string, as XCom needs
    assert issubclass(BatchJobLink, AzurePortalLink)


def test_every_link_an_operator_declares_is_registered_in_the_provider_info() -> None:
    """Airflow's api-server finds a provider's link classes through ``extra-links``."""
    import importlib
    import inspect
    import pkgutil

    import airflow_azure_compute.operators as operators
    import airflow_azure_compute.sensors as sensors
    from airflow_azure_compute.get_provider_info import get_provider_info

    declared = set()
    for package in (operators, sensors):
        for module in pkgutil.iter_modules(package.__path__):
            loaded = importlib.import_module(f"{package.__name__}.{module.name}")
            for _, cls in inspect.getmembers(loaded, inspect.isclass):
                for link in getattr(cls, "operator_extra_links", ()):
                    declared.add(f"{type(link).__module__}.{type(link).__name__}")
    assert declared == set(get_provider_info()["extra-links"])


# ---------------------------------------------------------------------------------- sovereign clouds
PORTALS = {
    "AzureCloud": "https://portal.azure.com",
    "AzureChinaCloud": "https://portal.azure.cn",
    "AzureUSGovernment": "https://portal.azure.us",
}
#: Each link kind: the fields its operator persists besides the ARM scope, and its ARM resource id.
KINDS: list[tuple[type[AzurePortalLink], dict[str, str], str]] = [
    (BatchPoolLink, {"account": "acct", "pool_id": "p 1"}, "/providers/Microsoft.Batch/batchAccounts/acct/pools/p%201"),
    (BatchJobLink, {"account": "acct", "job_id": "j"}, "/providers/Microsoft.Batch/batchAccounts/acct"),
    (ContainerGroupLink, {"group_name": "g"}, "/providers/Microsoft.ContainerInstance/containerGroups/g"),
    (ContainerWorkersLink, {}, ""),
    (DurableInstanceLink, {"app": "myapp", "instance_id": "i"}, "/providers/Microsoft.Web/sites/myapp"),
]  # fmt: skip


@pytest.mark.parametrize("cloud", list(PORTALS))
@pytest.mark.parametrize(("link", "fields", "resource"), KINDS, ids=[k[0].__name__ for k in KINDS])
def test_every_link_opens_the_portal_of_its_cloud(
    link: type[AzurePortalLink], fields: dict[str, str], resource: str, cloud: str
) -> None:
    url = link.format_url({**fields, **SCOPE, "cloud": cloud})
    assert url == f"{PORTALS[cloud]}/#resource/subscriptions/{SUB}/resourceGroups/rg{resource}"
    assert link.format_url({**fields, **SCOPE}) == url.replace(PORTALS[cloud], PORTALS["AzureCloud"])
    assert link.format_url({**fields, **SCOPE, "cloud": "AzureGermanCloud"}) == ""


@pytest.mark.parametrize(
    ("kind", "parts", "cloud"),
    [
        (ServiceKind.BATCH, {"host": "https://acct.chinanorth2.batch.chinacloudapi.cn", "login": "acct",
                             "password": "c2VjcmV0"}, "AzureChinaCloud"),
        (ServiceKind.BATCH, {"host": "https://acct.usgovvirginia.batch.usgovcloudapi.net", "login": "acct",
                             "password": "c2VjcmV0"}, "AzureUSGovernment"),
        (ServiceKind.BATCH, {"host": "http://127.0.0.1:7001", "login": "acct", "password": "c2VjcmV0"},
         "AzureCloud"),
        (ServiceKind.DURABLE, {"host": "https://acct.chinacloudsites.cn", "password": "k"}, "AzureChinaCloud"),
        (ServiceKind.DURABLE, {"host": "https://acct.azurewebsites.us", "password": "k"}, "AzureUSGovernment"),
        (ServiceKind.ACI, {"extra": {"token": "t", "cloud": "AzureChinaCloud"}}, "AzureChinaCloud"),
        (ServiceKind.ACI, {"extra": {"token": "t", "arm_endpoint": "https://management.usgovcloudapi.net"}},
         "AzureUSGovernment"),
    ],
)  # fmt: skip
def test_operators_persist_the_cloud_of_their_connection(
    kind: ServiceKind, parts: dict[str, Any], cloud: str
) -> None:
    """What the operators persist (`batch_account_fields`, `durable_app_fields`, `arm_scope` of the
    hook's settings) carries the cloud decided from the connection, so the link needs no connection."""
    extra = {**parts.pop("extra", {}), **SCOPE}
    settings = ServiceSettings.from_fields(kind, conn_id="c", extra=extra, **parts)
    persist = {ServiceKind.BATCH: batch_account_fields, ServiceKind.DURABLE: durable_app_fields}.get(
        kind, arm_scope
    )
    fields = persist(settings)
    assert fields["cloud"] == cloud
    link = {ServiceKind.BATCH: BatchJobLink, ServiceKind.DURABLE: DurableInstanceLink}.get(
        kind, ContainerWorkersLink
    )
    assert link.format_url(fields).startswith(
        f"{PORTALS[cloud]}/#resource/subscriptions/{SUB}/resourceGroups/rg"
    )
