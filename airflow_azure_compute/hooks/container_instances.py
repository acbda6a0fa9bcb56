"""Azure Container Instances hooks over ``azure.mgmt.containerinstance`` (sync) and its ``.aio`` twin.

Both hooks take the connection's ARM endpoint, token scope and CA bundle from one
`ServiceSettings`, speak ARM JSON dicts (see
`.aci_groups` for the pure logic), and map SDK errors the same way (`remote_error`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_azure_compute.connections import ServiceKind, ServiceSettings
from airflow_azure_compute.exceptions import AzureComputeRemoteError
from airflow_azure_compute.hooks.base import AzureComputeBaseHook, AzureComputeSyncHook
from airflow_azure_compute.hooks.idempotent import aretry_call, retry_call
from airflow_azure_compute.hooks.sdk_options import credential_scopes, sdk_client_kwargs

if TYPE_CHECKING:
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient
    from azure.mgmt.containerinstance.aio import (
        ContainerInstanceManagementClient as AsyncContainerInstanceManagementClient,
    )

#: Seconds between LRO polls when the service sends no Retry-After (the SDK default is 30).
LRO_POLLING_INTERVAL = 2


def client_options(settings: ServiceSettings, *, aio: bool) -> dict[str, Any]:
    """Keyword arguments of both management clients (everything but the credential)."""
    return {
        "subscription_id": settings.subscription_id,
        "base_url": settings.endpoint,
        "polling_interval": LRO_POLLING_INTERVAL,
        **credential_scopes(settings),
        **sdk_client_kwargs(settings, aio=aio),
    }


def remote_error(operation: str, name: str, err: Exception) -> AzureComputeRemoteError:
    """The provider error for an SDK error (chain it with ``from err``)."""
    error = getattr(err, "error", None)
    code = getattr(error, "code", None) or type(err).__name__
    message = getattr(err, "message", None) or str(err)
    return AzureComputeRemoteError(
        f"{operation} container group {name!r}: {message}",
        code=code,
        status=getattr(err, "status_code", None),
    )


def to_dict(model: Any) -> dict[str, Any]:
    """An SDK model as ARM JSON (camelCase, read-only fields included)."""
    return model.serialize(keep_readonly=True)  # type: ignore[no-any-return]


def to_model(body: Mapping[str, Any]) -> Any:
    from azure.mgmt.containerinstance.models import ContainerGroup

    return ContainerGroup.deserialize(dict(body))


class ContainerInstancesHook(AzureComputeSyncHook):
    """Sync ACI hook (connection type ``azure_compute_aci``); the resource group is the connection's."""

    service: ClassVar[ServiceKind] = ServiceKind.ACI
    hook_name = "Azure Container Instances (azure-compute)"

    @cached_property
    def client(self) -> ContainerInstanceManagementClient:
        from azure.mgmt.containerinstance import ContainerInstanceManagementClient

        return ContainerInstanceManagementClient(
            self.settings.credential(), **client_options(self.settings, aio=False)
        )

    @property
    def resource_group(self) -> str:
        return str(self.settings.resource_group)

    def get_group(self, name: str) -> dict[str, Any] | None:
        """The group as ARM JSON, or ``None`` if it does not exist."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            return to_dict(self.client.container_groups.get(self.resource_group, name))
        except ResourceNotFoundError:
            return None
        except HttpResponseError as err:
            raise remote_error("get", name, err) from err

    def create_group(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT the group and return the service's first answer (does not wait for provisioning).

        Retried on transient errors and lost responses: the PUT of the same body by the same name is
        idempotent in ARM.
        """
        return retry_call(f"create container group {name!r}", lambda: self._create_group(name, body))

    def _create_group(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        from azure.core.exceptions import HttpResponseError

        try:
            poller = self.client.container_groups.begin_create_or_update(
                self.resource_group, name, to_model(body), polling=False
            )
            return to_dict(poller.result())
        except HttpResponseError as err:
            raise remote_error("create", name, err) from err

    def delete_group(self, name: str, *, wait: bool = True) -> None:
        """Delete the group (a missing group is not an error); waits for the deletion unless ``wait=False``."""
        retry_call(f"delete container group {name!r}", lambda: self._delete_group(name, wait=wait))

    def _delete_group(self, name: str, *, wait: bool) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            poller = self.client.container_groups.begin_delete(self.resource_group, name)
            if wait:
                poller.result()
        except ResourceNotFoundError:
            return
        except HttpResponseError as err:
            raise remote_error("delete", name, err) from err

    def stop_group(self, name: str) -> None:
        """Stop every container of the group (the group and its logs stay); retried: a second stop of a
        stopped group is harmless."""
        retry_call(f"stop container group {name!r}", lambda: self._stop_group(name))

    def _stop_group(self, name: str) -> None:
        from azure.core.exceptions import HttpResponseError

        try:
            self.client.container_groups.stop(self.resource_group, name)
        except HttpResponseError as err:
            raise remote_error("stop", name, err) from err

    def get_logs(self, name: str, container: str, *, tail: int | None = 1000, timestamps: bool = True) -> str:
        """The last ``tail`` log lines of one container ("" when it has none yet)."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            logs = self.client.containers.list_logs(
                self.resource_group, name, container, tail=tail, timestamps=timestamps
            )
            return logs.content or ""
        except ResourceNotFoundError:
            return ""
        except HttpResponseError as err:
            raise remote_error("logs of", name, err) from err

    def exec_command(self, name: str, container: str, command: str, *, timeout: float = 300) -> str:
        """Run ``command`` in a running container and return its output (stdout and stderr together).

        ACI runs the command without a shell (``"sh -c '...'"`` for one) and reports no exit code.
        Not retried: a command is not idempotent.

        :param name: the container group.
        :param container: the container, which must be running.
        :param command: the command line, split on whitespace and quotes by the service.
        :param timeout: seconds to wait for the command to end.
        """
        import asyncio

        from azure.core.exceptions import HttpResponseError
        from azure.mgmt.containerinstance.models import ContainerExecRequest, ContainerExecRequestTerminalSize

        from airflow_azure_compute.hooks.aci_exec import read_exec_output

        request = ContainerExecRequest(
            command=command, terminal_size=ContainerExecRequestTerminalSize(rows=24, cols=200)
        )
        try:
            grant = self.client.containers.execute_command(self.resource_group, name, container, request)
        except HttpResponseError as err:
            raise remote_error(f"exec in container {container!r} of", name, err) from err
        if not grant.web_socket_uri or not grant.password:
            raise AzureComputeRemoteError(
                f"exec in container {container!r} of container group {name!r}: no session granted",
                code="ExecSessionRefused",
            )
        return asyncio.run(
            read_exec_output(
                grant.web_socket_uri,
                grant.password,
                ca_bundle=self.settings.ca_bundle,
                timeout=timeout,
            )
        )

    def list_groups(self) -> list[dict[str, Any]]:
        """Every group in the connection's resource group, as ARM JSON."""
        from azure.core.exceptions import HttpResponseError

        try:
            return [
                to_dict(g) for g in self.client.container_groups.list_by_resource_group(self.resource_group)
            ]
        except HttpResponseError as err:
            raise remote_error("list", self.resource_group, err) from err

    def probe(self) -> str:
        groups = self.list_groups()
        return f"{len(groups)} container group(s) in resource group {self.resource_group!r}"


class ContainerInstancesAsyncHook(AzureComputeBaseHook):
    """Async twin of `ContainerInstancesHook` (triggers); open a client with `client`."""

    service: ClassVar[ServiceKind] = ServiceKind.ACI
    hook_name = "Azure Container Instances (azure-compute, async)"

    @asynccontextmanager
    async def client(self) -> AsyncIterator[AsyncContainerInstanceManagementClient]:
        """A native async client; closes it and its credential on exit."""
        from azure.mgmt.containerinstance.aio import ContainerInstanceManagementClient

        settings = await self.aget_settings()
        credential = settings.async_credential()
        try:
            async with ContainerInstanceManagementClient(
                credential, **client_options(settings, aio=True)
            ) as client:
                yield client
        finally:
            if hasattr(credential, "close"):
                await credential.close()

    async def resource_group(self) -> str:
        return str((await self.aget_settings()).resource_group)

    async def get_group(
        self, client: AsyncContainerInstanceManagementClient, name: str
    ) -> dict[str, Any] | None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            return to_dict(await client.container_groups.get(await self.resource_group(), name))
        except ResourceNotFoundError:
            return None
        except HttpResponseError as err:
            raise remote_error("get", name, err) from err

    async def delete_group(self, client: AsyncContainerInstanceManagementClient, name: str) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        async def once() -> None:
            try:
                poller = await client.container_groups.begin_delete(await self.resource_group(), name)
                await poller.result()
            except ResourceNotFoundError:
                return
            except HttpResponseError as err:
                raise remote_error("delete", name, err) from err

        await aretry_call(f"delete container group {name!r}", once)

    async def create_group(
        self, client: AsyncContainerInstanceManagementClient, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """PUT the group and return the service's first answer (does not wait for provisioning)."""
        from azure.core.exceptions import HttpResponseError

        try:
            poller = await client.container_groups.begin_create_or_update(
                await self.resource_group(), name, to_model(body), polling=False
            )
            return to_dict(await poller.result())
        except HttpResponseError as err:
            raise remote_error("create", name, err) from err

    async def get_logs(
        self,
        client: AsyncContainerInstanceManagementClient,
        name: str,
        container: str,
        *,
        tail: int | None = 1000,
        timestamps: bool = True,
    ) -> str:
        """The last ``tail`` log lines of one container ("" when it has none yet)."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            logs = await client.containers.list_logs(
                await self.resource_group(), name, container, tail=tail, timestamps=timestamps
            )
            return logs.content or ""
        except ResourceNotFoundError:
            return ""
        except HttpResponseError as err:
            raise remote_error("logs of", name, err) from err

    async def stop_group(self, client: AsyncContainerInstanceManagementClient, name: str) -> None:
        from azure.core.exceptions import HttpResponseError

        async def once() -> None:
            try:
                await client.container_groups.stop(await self.resource_group(), name)
            except HttpResponseError as err:
                raise remote_error("stop", name, err) from err

        await aretry_call(f"stop container group {name!r}", once)


__all__ = ["ContainerInstancesAsyncHook", "ContainerInstancesHook", "client_options", "remote_error"]
