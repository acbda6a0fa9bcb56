"""Storage queues of a Blob connection's account (``azure.storage.queue``): the worker pool's dispatch.

The queue endpoint comes from the same ``azure_compute_blob`` connection
(`queue_url`), so a pool needs no second
Storage connection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from airflow_azure_compute.connections import ServiceKind, ServiceSettings
from airflow_azure_compute.exceptions import AzureComputeConfigError, AzureComputeRemoteError
from airflow_azure_compute.hooks.base import AzureComputeSyncHook
from airflow_azure_compute.hooks.sdk_options import sdk_client_kwargs, storage_audience

if TYPE_CHECKING:
    from azure.storage.queue import QueueServiceClient

#: Queue names: 3-63 lower-case letters, digits and single hyphens, starting and ending alphanumeric.
_QUEUE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$")


def validate_queue_name(name: object, *, field_name: str = "queue_name") -> str:
    if not isinstance(name, str) or not _QUEUE_NAME.match(name):
        raise AzureComputeConfigError(
            f"{name!r} is not a Storage queue name: use 3-63 lower-case letters, digits and single hyphens, "
            "starting and ending with a letter or digit",
            field=field_name,
        )
    return name


def queue_sas_token(
    settings: ServiceSettings, queue: str, *, expiry: timedelta, permission: str = "rpu"
) -> str:
    """A SAS for one queue, signed with the account key (queues have no user delegation SAS).

    :param permission: ``r`` read/peek, ``a`` add, ``u`` update, ``p`` process (receive and delete).
    """
    from azure.storage.queue import QueueSasPermissions, generate_queue_sas

    if not settings.account_key:
        raise AzureComputeConfigError(
            f"connection {settings.conn_id!r} has no account key, and queue SAS tokens for the workers can "
            "only be signed with one; use a shared-key or connection-string Blob connection",
            field="blob_conn_id",
        )
    now = datetime.now(timezone.utc)
    return str(
        generate_queue_sas(
            settings.account_name or "",
            queue,
            settings.account_key,
            permission=QueueSasPermissions.from_string(permission),
            start=now - timedelta(minutes=5),
            expiry=now + expiry,
        )
    )


def _remote(operation: str, queue: str, err: Exception) -> AzureComputeRemoteError:
    code = getattr(err, "error_code", None) or type(err).__name__
    return AzureComputeRemoteError(
        f"{operation} queue {queue!r}: {getattr(err, 'message', None) or err}",
        code=str(code),
        status=getattr(err, "status_code", None),
    )


class StorageQueueHook(AzureComputeSyncHook):
    """Sync Storage queue hook over an ``azure_compute_blob`` connection (its account's queues)."""

    service: ClassVar[ServiceKind] = ServiceKind.BLOB
    hook_name = "Azure Storage queues (azure-compute)"

    @cached_property
    def client(self) -> QueueServiceClient:
        from azure.storage.queue import QueueServiceClient

        return QueueServiceClient(
            account_url=self.settings.queue_url,
            credential=self.settings.credential(),
            **storage_audience(self.settings),
            **sdk_client_kwargs(self.settings, aio=False),
        )

    def create_queue(self, name: str, metadata: Mapping[str, str] | None = None) -> bool:
        """Create the queue; ``False`` when it already exists."""
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        try:
            self.client.create_queue(name, metadata=dict(metadata or {}))
            return True
        except ResourceExistsError:
            return False
        except HttpResponseError as err:
            raise _remote("create", name, err) from err

    def delete_queue(self, name: str) -> bool:
        """Delete the queue; ``False`` when it did not exist."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            self.client.delete_queue(name)
            return True
        except ResourceNotFoundError:
            return False
        except HttpResponseError as err:
            raise _remote("delete", name, err) from err

    def clear(self, name: str) -> None:
        """Remove every message (what a retried pool does before enqueueing the items still to do)."""
        from azure.core.exceptions import HttpResponseError

        try:
            self.client.get_queue_client(name).clear_messages()
        except HttpResponseError as err:
            raise _remote("clear", name, err) from err

    def send_messages(self, name: str, contents: Iterable[str], *, max_concurrency: int = 8) -> int:
        """Send each content as one message (``max_concurrency`` at a time); returns the count."""
        from azure.core.exceptions import HttpResponseError

        queue = self.client.get_queue_client(name)
        items = list(contents)
        try:
            with ThreadPoolExecutor(max_workers=max(1, max_concurrency)) as pool:
                list(pool.map(queue.send_message, items))
        except HttpResponseError as err:
            raise _remote("send to", name, err) from err
        return len(items)

    def approximate_count(self, name: str) -> int:
        from azure.core.exceptions import HttpResponseError

        try:
            return int(
                self.client.get_queue_client(name).get_queue_properties().approximate_message_count or 0
            )
        except HttpResponseError as err:
            raise _remote("properties of", name, err) from err

    def list_queues(self, name_starts_with: str | None = None) -> list[tuple[str, dict[str, str]]]:
        return [
            (q.name, dict(q.metadata or {}))
            for q in self.client.list_queues(name_starts_with, include_metadata=True)
        ]

    def queue_url(self, name: str, sas: str | None = None) -> str:
        url = f"{self.settings.queue_url}/{name}"
        return f"{url}?{sas}" if sas else url

    def probe(self) -> str:
        return f"{len(self.list_queues())} queue(s) at {self.settings.queue_url}"


__all__ = ["StorageQueueHook", "queue_sas_token", "validate_queue_name"]
