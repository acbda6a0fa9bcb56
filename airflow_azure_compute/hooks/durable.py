"""Durable Functions hooks: the public HTTP API, sync and async, with the connection's key.

The API itself (requests, reattach rules, error mapping) is in `.durable_api` as pure *flows*;
`DurableHook` drives them over ``requests`` and `DurableAsyncHook` over ``aiohttp``. The two
hooks share method names and differ only in I/O. azure-functions-durable's own client is not used: it
talks to the host's local RPC endpoint, never sends ``code``, and binds a global session to one loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_azure_compute.connections import ServiceKind, ServiceSettings
from airflow_azure_compute.exceptions import AzureComputeRemoteError
from airflow_azure_compute.hooks.base import AzureComputeBaseHook, AzureComputeSyncHook
from airflow_azure_compute.hooks.durable_api import (
    RETRYABLE_STATUS,
    DurableApi,
    DurableRequest,
    DurableResponse,
    Flow,
    OrchestrationStatus,
    StartResult,
    retry_delay,
)

if TYPE_CHECKING:
    import aiohttp
    import requests

#: Attempts per request on throttling (429), unavailability (5xx) and connection errors.
MAX_ATTEMPTS = 5
REQUEST_TIMEOUT_S = 30.0


def api_for(settings: ServiceSettings) -> DurableApi:
    """The request builder for a Durable connection."""
    return DurableApi(
        settings.endpoint,
        settings.function_key,
        task_hub=settings.task_hub,
        connection=settings.storage_connection,
    )


def _transport_error(request: DurableRequest, err: BaseException) -> AzureComputeRemoteError:
    # The URL carries the key as ``code``: report the operation and the error type only.
    return AzureComputeRemoteError(
        f"{request.operation}: could not reach the function app ({type(err).__name__})",
        code="ConnectionError",
    )


def _should_retry(request: DurableRequest, response: DurableResponse | None, attempt: int) -> bool:
    if attempt + 1 >= MAX_ATTEMPTS:
        return False
    if response is None:
        return request.idempotent
    return response.status in RETRYABLE_STATUS


class DurableHook(AzureComputeSyncHook):
    """Sync client of a function app's Durable HTTP API (connection type ``azure_compute_durable``)."""

    service: ClassVar[ServiceKind] = ServiceKind.DURABLE
    hook_name = "Azure Durable Functions (azure-compute)"

    @cached_property
    def api(self) -> DurableApi:
        return api_for(self.settings)

    @cached_property
    def _session(self) -> requests.Session:
        import requests

        session = requests.Session()
        if self.settings.ca_bundle:
            session.verify = self.settings.ca_bundle
        return session

    @cached_property
    def _credential(self) -> Any:
        """Entra ID credential for apps behind App Service authentication (else None)."""
        return self.settings.credential() if self.settings.app_auth_scope else None

    def _headers(self, request: DurableRequest) -> dict[str, str]:
        headers = request.headers
        if self._credential is not None:
            token = self._credential.get_token(self.settings.app_auth_scope).token
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def send(self, request: DurableRequest) -> DurableResponse:
        """Send one request, retrying throttling and transient failures."""
        import requests

        attempt = 0
        while True:
            response: DurableResponse | None = None
            try:
                raw = self._session.request(
                    request.method,
                    request.url,
                    params={**request.params, **self.api.auth()},
                    data=request.body,
                    headers=self._headers(request),
                    timeout=REQUEST_TIMEOUT_S,
                    allow_redirects=False,
                )
                response = DurableResponse(raw.status_code, raw.content, dict(raw.headers))
            except requests.RequestException as err:
                if not _should_retry(request, None, attempt):
                    raise _transport_error(request, err) from None
            if response is not None and not _should_retry(request, response, attempt):
                return response
            time.sleep(retry_delay(response, attempt))
            attempt += 1

    def run(self, flow: Flow) -> Any:
        """Drive a flow of `DurableApi` to its result."""
        try:
            request = next(flow)
            while True:
                request = flow.send(self.send(request))
        except StopIteration as done:
            return done.value

    def start(self, orchestrator: str, **kwargs: Any) -> StartResult:
        """Start (or reattach to) an instance; see `DurableApi.start`."""
        return self.run(self.api.start(orchestrator, **kwargs))  # type: ignore[no-any-return]

    def get_status(self, instance_id: str) -> OrchestrationStatus | None:
        return self.run(self.api.get_status(instance_id))  # type: ignore[no-any-return]

    def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None:
        self.run(self.api.raise_event(instance_id, event_name, data))

    def terminate(self, instance_id: str, reason: str = "terminated from Airflow") -> bool:
        return self.run(self.api.terminate(instance_id, reason))  # type: ignore[no-any-return]

    def suspend(self, instance_id: str, reason: str = "suspended from Airflow") -> bool:
        return self.run(self.api.suspend(instance_id, reason))  # type: ignore[no-any-return]

    def resume(self, instance_id: str, reason: str = "resumed from Airflow") -> bool:
        return self.run(self.api.resume(instance_id, reason))  # type: ignore[no-any-return]

    def rewind(self, instance_id: str, reason: str = "rewound from Airflow") -> bool:
        return self.run(self.api.rewind(instance_id, reason))  # type: ignore[no-any-return]

    def restart(self, instance_id: str, *, new_instance_id: bool = True) -> str:
        """Restart with the original input; returns the id of the instance that runs now."""
        return self.run(self.api.restart(instance_id, new_instance_id=new_instance_id))  # type: ignore[no-any-return]

    def list_instances(self, **filters: Any) -> list[OrchestrationStatus]:
        """Instances by ``prefix``, ``created_from``/``created_to`` (ISO 8601) and ``statuses``."""
        return self.run(self.api.list_instances(**filters))  # type: ignore[no-any-return]

    def purge(self, instance_id: str) -> bool:
        return self.run(self.api.purge(instance_id))  # type: ignore[no-any-return]

    def probe(self) -> str:
        """Ask for a status that cannot exist: 404 proves the URL and key (401 is raised)."""
        probe_id = "airflow-connection-test"
        status = self.get_status(probe_id)
        return f"Durable API reachable at {self.settings.endpoint}" + (
            "" if status is None else " (probe id exists)"
        )


class DurableAsyncHook(AzureComputeBaseHook):
    """Async twin of `DurableHook` (triggers); use as ``async with DurableAsyncHook(...) as hook``."""

    service: ClassVar[ServiceKind] = ServiceKind.DURABLE
    hook_name = "Azure Durable Functions (azure-compute, async)"

    def __init__(self, azure_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(azure_conn_id, **kwargs)
        self._client: aiohttp.ClientSession | None = None
        self._credential: Any = None
        self._api: DurableApi | None = None

    async def _ensure(self) -> tuple[DurableApi, aiohttp.ClientSession]:
        if self._api is None or self._client is None:
            import aiohttp

            settings = await self.aget_settings()
            connector = None
            if settings.ca_bundle:
                import ssl

                connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=settings.ca_bundle))
            self._client = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
            )
            self._api = api_for(settings)
            if settings.app_auth_scope:
                self._credential = settings.async_credential()
        return self._api, self._client

    async def close(self) -> None:
        """Close the HTTP session and the credential."""
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._credential is not None and hasattr(self._credential, "close"):
            await self._credential.close()
            self._credential = None

    async def __aenter__(self) -> DurableAsyncHook:
        await self._ensure()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _headers(self, request: DurableRequest) -> Mapping[str, str]:
        headers = request.headers
        if self._credential is not None:
            scope = (await self.aget_settings()).app_auth_scope
            headers["Authorization"] = f"Bearer {(await self._credential.get_token(scope)).token}"
        return headers

    async def send(self, request: DurableRequest) -> DurableResponse:
        """Send one request, retrying throttling and transient failures."""
        import aiohttp

        api, client = await self._ensure()
        attempt = 0
        while True:
            response: DurableResponse | None = None
            try:
                async with client.request(
                    request.method,
                    request.url,
                    params={**request.params, **api.auth()},
                    data=request.body,
                    headers=await self._headers(request),
                    allow_redirects=False,
                ) as raw:
                    response = DurableResponse(raw.status, await raw.read(), dict(raw.headers))
            except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                if not _should_retry(request, None, attempt):
                    raise _transport_error(request, err) from None
            if response is not None and not _should_retry(request, response, attempt):
                return response
            await asyncio.sleep(retry_delay(response, attempt))
            attempt += 1

    async def run(self, flow: Flow) -> Any:
        """Drive a flow of `DurableApi` to its result."""
        try:
            request = next(flow)
            while True:
                request = flow.send(await self.send(request))
        except StopIteration as done:
            return done.value

    async def api(self) -> DurableApi:
        return (await self._ensure())[0]

    async def start(self, orchestrator: str, **kwargs: Any) -> StartResult:
        return await self.run((await self.api()).start(orchestrator, **kwargs))  # type: ignore[no-any-return]

    async def get_status(self, instance_id: str) -> OrchestrationStatus | None:
        return await self.run((await self.api()).get_status(instance_id))  # type: ignore[no-any-return]

    async def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None:
        await self.run((await self.api()).raise_event(instance_id, event_name, data))

    async def terminate(self, instance_id: str, reason: str = "terminated from Airflow") -> bool:
        return await self.run((await self.api()).terminate(instance_id, reason))  # type: ignore[no-any-return]

    async def resume(self, instance_id: str, reason: str = "resumed from Airflow") -> bool:
        return await self.run((await self.api()).resume(instance_id, reason))  # type: ignore[no-any-return]

    async def purge(self, instance_id: str) -> bool:
        return await self.run((await self.api()).purge(instance_id))  # type: ignore[no-any-return]


__all__ = ["DurableAsyncHook", "DurableHook", "api_for"]
