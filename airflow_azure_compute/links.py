"""Extra links to the Azure portal.

Every link opens the Azure portal at ``https://portal.azure.com/#resource<ARM resource id>`` (the
portal resolves the id and signs the user in), so no link ever carries a key. Each link is three
ClassVars on `AzurePortalLink`: ``name`` (the button), ``key`` (the XCom key the
operator writes with `AzurePortalLink.persist`) and ``url_template`` (formatted with the persisted
fields). Only resource coordinates are persisted, never credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Formatter
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.definitions.context import Context
    from airflow.sdk.types import TaskInstanceKey

PORTAL = "https://portal.azure.com"


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
        """The URL for persisted ``fields``; empty when a field the URL needs is missing or empty."""
        needed = {name for _, name, _, _ in Formatter().parse(cls.url_template) if name and name != "portal"}
        if any(not fields.get(name) for name in needed):
            return ""
        return cls.url_template.format(
            portal=PORTAL, **{k: quote(str(v), safe="") for k, v in fields.items()}
        )

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        fields = XCom.get_value(key=self.key, ti_key=ti_key)
        return self.format_url(fields) if isinstance(fields, Mapping) else ""


def arm_scope(settings: Any) -> dict[str, str]:
    """``subscription_id`` and ``resource_group`` of a connection (empty when not given)."""
    return {
        "subscription_id": str(getattr(settings, "subscription_id", None) or ""),
        "resource_group": str(getattr(settings, "resource_group", None) or ""),
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


#: A resource's page: the portal's ``#resource`` route followed by the ARM resource id.
_RESOURCE = "{portal}/#resource/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/"


class BatchPoolLink(AzurePortalLink):
    """The pool's page: pools are ARM child resources of the Batch account
    (``Microsoft.Batch/batchAccounts/{account}/pools/{pool}``, as in the Batch management API's
    Pool - Get). Needs ``subscription_id`` and ``resource_group`` in the Batch connection."""

    name = "Batch pool"
    key = "azure_batch_pool"
    url_template = _RESOURCE + "Microsoft.Batch/batchAccounts/{account}/pools/{pool_id}"


class BatchJobLink(AzurePortalLink):
    """The Batch account's page, which lists its jobs: jobs exist only in the Batch data plane and
    have no ARM resource id (so no portal page of their own). Needs ``subscription_id`` and
    ``resource_group`` in the Batch connection."""

    name = "Batch account (jobs)"
    key = "azure_batch_job"
    url_template = _RESOURCE + "Microsoft.Batch/batchAccounts/{account}"


class ContainerGroupLink(AzurePortalLink):
    """The ACI container group's overview page in the portal."""

    name = "Container group"
    key = "azure_aci_container_group"
    url_template = _RESOURCE + "Microsoft.ContainerInstance/containerGroups/{group_name}/overview"


class DurableInstanceLink(AzurePortalLink):
    """The function app's page in the portal (``Microsoft.Web/sites/{app}``).

    The Durable status API itself needs the system key, which a link must never carry; the portal
    authenticates the user instead. Needs ``subscription_id`` and ``resource_group`` in the Durable
    connection; the app name is the first label of ``https://{app}.azurewebsites.net``.
    """

    name = "Function app"
    key = "azure_durable_instance"
    url_template = _RESOURCE + "Microsoft.Web/sites/{app}"

    @classmethod
    def format_url(cls, fields: Mapping[str, Any]) -> str:
        host = urlsplit(str(fields.get("endpoint") or "")).hostname or ""
        app = "" if _is_ip(host) or "." not in host else host.split(".")[0]
        return super().format_url({**fields, "app": app})


__all__ = [
    "PORTAL",
    "AzurePortalLink",
    "BatchJobLink",
    "BatchPoolLink",
    "ContainerGroupLink",
    "DurableInstanceLink",
    "arm_scope",
    "batch_account_fields",
]
