"""Extra links to the Azure portal.

Each link is three ClassVars on `AzurePortalLink`: ``name`` (the button), ``key`` (the XCom key the
operator writes with `AzurePortalLink.persist`) and ``url_template`` (formatted with the persisted
fields). Only resource coordinates are persisted, never credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
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
        """The URL for persisted ``fields``; empty when a field is missing."""
        try:
            return cls.url_template.format(
                portal=PORTAL, **{k: quote(str(v), safe="") for k, v in fields.items()}
            )
        except (KeyError, IndexError):
            return ""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        fields = XCom.get_value(key=self.key, ti_key=ti_key)
        return self.format_url(fields) if isinstance(fields, Mapping) else ""


def batch_account_fields(account_url: str) -> dict[str, str]:
    """``account`` and ``region`` from a Batch account URL ``https://{account}.{region}.batch.azure.com``."""
    host = urlsplit(account_url).hostname or ""
    parts = host.split(".")
    return {"account": parts[0], "region": parts[1] if len(parts) > 2 else ""}


class BatchPoolLink(AzurePortalLink):
    """The Batch pool's page in the portal (Batch Explorer style resource path)."""

    name = "Batch pool"
    key = "azure_batch_pool"
    url_template = "{portal}/#blade/Microsoft_Azure_Batch/PoolBlade/accountName/{account}/poolId/{pool_id}"


class BatchJobLink(AzurePortalLink):
    """The Batch job's page in the portal."""

    name = "Batch job"
    key = "azure_batch_job"
    url_template = "{portal}/#blade/Microsoft_Azure_Batch/JobBlade/accountName/{account}/jobId/{job_id}"


class ContainerGroupLink(AzurePortalLink):
    """The ACI container group's overview page in the portal."""

    name = "Container group"
    key = "azure_aci_container_group"
    url_template = (
        "{portal}/#resource/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        "/providers/Microsoft.ContainerInstance/containerGroups/{group_name}/overview"
    )


class DurableInstanceLink(AzurePortalLink):
    """The orchestration's status endpoint, without the key (add ``&code=...`` to open it)."""

    name = "Durable instance status"
    key = "azure_durable_instance"
    url_template = "{endpoint}/runtime/webhooks/durabletask/instances/{instance_id}"

    @classmethod
    def format_url(cls, fields: Mapping[str, Any]) -> str:
        endpoint, instance_id = fields.get("endpoint"), fields.get("instance_id")
        if not endpoint or not instance_id:
            return ""
        return cls.url_template.format(
            endpoint=str(endpoint).rstrip("/"), instance_id=quote(str(instance_id), safe="")
        )


__all__ = [
    "PORTAL",
    "AzurePortalLink",
    "BatchJobLink",
    "BatchPoolLink",
    "ContainerGroupLink",
    "DurableInstanceLink",
    "batch_account_fields",
]
