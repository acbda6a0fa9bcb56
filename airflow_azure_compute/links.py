"""Extra links to the Azure portal.

Every link opens the Azure portal at ``https://portal.azure.com/#resource<ARM resource id>``: the
form Azure Monitor documents as the "Azure portal link to the summary page of the target resource"
(the ``portalLink`` of the autoscale webhook payload,
<https://learn.microsoft.com/azure/azure-monitor/autoscale/autoscale-webhook-email#autoscale-notification-webhook-payload-schema>).
The portal signs the user in and checks their Azure role, so no link ever carries a key. Each ARM
resource id has the shape of its resource's documented Get operation (cited on each link).

Each link is three ClassVars on `AzurePortalLink`: ``name`` (the button), ``key`` (the XCom key the
operator writes with `AzurePortalLink.persist`) and ``url_template`` (formatted with the persisted
fields). Only resource coordinates are persisted, never credentials. A task instance that persisted
nothing (it failed before it created anything) gets no link, never an error.

The portal is the one of the cloud the connection talks to (``https://portal.azure.cn`` for Azure
China, ``https://portal.azure.us`` for Azure US Government; see `airflow_azure_compute.clouds`). The
operator decides it from its connection while it runs and persists the cloud's name as the field
``cloud`` (`arm_scope`), so rendering a link never needs the connection; link data persisted without
it opens the public portal.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Formatter
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

from airflow_azure_compute.clouds import ENDPOINTS, AzureCloud, portal_url

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.definitions.context import Context
    from airflow.sdk.types import TaskInstanceKey

#: The public cloud's portal.
PORTAL = ENDPOINTS[AzureCloud.PUBLIC].portal


class AzurePortalLink(BaseOperatorLink):
    """Base class: a portal URL built from fields an operator persisted to XCom while it ran."""

    name: ClassVar[str]
    key: ClassVar[str]
    url_template: ClassVar[str]

    @classmethod
    def persist(cls, context: Context | Mapping[str, Any], **fields: str) -> None:
        """Store the URL fields for this task instance (values are URL-quoted when formatted)."""
        context["ti"].xcom_push(key=cls.key, value=dict(fields))

    @classmethod
    def format_url(cls, fields: Mapping[str, Any]) -> str:
        """The URL for persisted ``fields``, on the portal of their ``cloud`` (the public one when
        absent); empty when a field the URL needs is missing or empty, or the cloud is unknown."""
        needed = {name for _, name, _, _ in Formatter().parse(cls.url_template) if name and name != "portal"}
        portal = portal_url(fields.get("cloud"))
        if not portal or any(not fields.get(name) for name in needed):
            return ""
        quoted = {k: quote(str(v), safe="") for k, v in fields.items() if k != "portal"}
        return cls.url_template.format(**quoted, portal=portal)

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        fields = XCom.get_value(key=self.key, ti_key=ti_key)
        return self.format_url(fields) if isinstance(fields, Mapping) else ""


def arm_scope(settings: Any) -> dict[str, str]:
    """``subscription_id`` and ``resource_group`` of a connection (empty when not given), and the
    ``cloud`` whose portal shows them (the connection's `azure_cloud`, decided now, while the task
    runs)."""
    return {
        "subscription_id": str(getattr(settings, "subscription_id", None) or ""),
        "resource_group": str(getattr(settings, "resource_group", None) or ""),
        "cloud": str(getattr(settings, "azure_cloud", None) or AzureCloud.PUBLIC),
    }


def batch_account_fields(settings: Any) -> dict[str, str]:
    """``account`` and ``region`` from the Batch account URL ``https://{account}.{region}.batch.azure.com``,
    with the connection's subscription and resource group (the account's ARM scope)."""
    host = urlsplit(str(settings.endpoint)).hostname or ""
    parts = [] if _is_ip(host) else host.split(".")
    account = getattr(settings, "account_name", None) or (parts[0] if parts else "")
    return {"account": account, "region": parts[1] if len(parts) > 2 else "", **arm_scope(settings)}


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


#: A resource group's page: the portal's ``#resource`` route followed by the group's ARM id.
_GROUP = "{portal}/#resource/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
#: A resource's page: the same route followed by the ARM id of a resource in the group.
_RESOURCE = _GROUP + "/providers/"


class BatchPoolLink(AzurePortalLink):
    """The pool's page. Pools are ARM child resources of the Batch account: the ARM id is the
    request path of the Batch management API's ``Pools_Get``,
    ``/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Batch/batchAccounts/{accountName}/pools/{poolName}``
    (<https://learn.microsoft.com/dotnet/api/azure.resourcemanager.batch.batchaccountpoolcollection.getasync>).
    Needs ``subscription_id`` and ``resource_group`` in the Batch connection."""

    name = "Batch pool"
    key = "azure_batch_pool"
    url_template = _RESOURCE + "Microsoft.Batch/batchAccounts/{account}/pools/{pool_id}"


class BatchJobLink(AzurePortalLink):
    """The Batch account's page, which lists its jobs and pools. Jobs and tasks exist only in the
    Batch data plane and have no ARM resource id, so no documented portal address of their own; the
    account is the nearest resource that has one: the request path of ``BatchAccount_Get``,
    ``/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Batch/batchAccounts/{accountName}``
    (<https://learn.microsoft.com/dotnet/api/azure.resourcemanager.batch.mocking.mockablebatchresourcegroupresource.getbatchaccountasync>).
    Needs ``subscription_id`` and ``resource_group`` in the Batch connection."""

    name = "Batch account (jobs)"
    key = "azure_batch_job"
    url_template = _RESOURCE + "Microsoft.Batch/batchAccounts/{account}"


class ContainerGroupLink(AzurePortalLink):
    """The container group's page: the request path of ``ContainerGroups_Get``,
    ``/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.ContainerInstance/containerGroups/{containerGroupName}``
    (<https://learn.microsoft.com/dotnet/api/azure.resourcemanager.containerinstance.containergroupcollection.getasync>).
    Subscription and resource group come from the ACI connection."""

    name = "Container group"
    key = "azure_aci_container_group"
    url_template = _RESOURCE + "Microsoft.ContainerInstance/containerGroups/{group_name}"


class ContainerWorkersLink(AzurePortalLink):
    """The page of the resource group the worker pool's container groups run in, which lists them: a
    worker pool is many container groups, none of them "the" task's resource. The ARM id is the
    request path of ``ResourceGroups_Get``,
    ``/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}``
    (<https://learn.microsoft.com/rest/api/resources/resource-groups/get>)."""

    name = "Resource group (workers)"
    key = "azure_aci_workers"
    url_template = _GROUP


class DurableInstanceLink(AzurePortalLink):
    """The function app's page, from which the portal reaches its functions, logs and
    Application Insights: the request path of ``WebApps_Get``,
    ``/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Web/sites/{name}``
    (<https://learn.microsoft.com/dotnet/api/azure.resourcemanager.appservice.websitecollection.get>).

    Not the orchestration's status URL: the Durable Functions HTTP API takes the ``systemKey`` as a
    query parameter (<https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-http-api>),
    which a link must never carry, and without it the API answers 401. Needs ``subscription_id`` and
    ``resource_group`` in the Durable connection; the app name is its ``function_app_name``, else the
    first label of an ``https://{app}.azurewebsites.net`` host (see `durable_app_fields`).
    """

    name = "Function app"
    key = "azure_durable_instance"
    url_template = _RESOURCE + "Microsoft.Web/sites/{app}"

    @classmethod
    def format_url(cls, fields: Mapping[str, Any]) -> str:
        app = fields.get("app") or _app_from_endpoint(str(fields.get("endpoint") or ""))
        return super().format_url({**fields, "app": app})


def _app_from_endpoint(endpoint: str) -> str:
    host = urlsplit(endpoint).hostname or ""
    return "" if _is_ip(host) or "." not in host else host.split(".")[0]


def durable_app_fields(settings: Any) -> dict[str, str]:
    """``app`` (the connection's ``function_app_name``, else the first label of the function app's
    host name; empty for an IP address) with the connection's subscription and resource group."""
    app = getattr(settings, "function_app_name", None) or _app_from_endpoint(str(settings.endpoint))
    return {"app": app, **arm_scope(settings)}


__all__ = [
    "PORTAL",
    "AzurePortalLink",
    "BatchJobLink",
    "BatchPoolLink",
    "ContainerGroupLink",
    "ContainerWorkersLink",
    "DurableInstanceLink",
    "arm_scope",
    "batch_account_fields",
    "durable_app_fields",
]
