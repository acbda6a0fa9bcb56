"""Fixtures shared by the emulator integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.integration.emulator.aci_support import EmulatorCredential
from tests.integration.emulator.aci_support import admin as aci_admin
from tests.integration.emulator.batch_support import batch_client, cleanup, pool_options, uid


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session for ``run_task`` (its blob transfers)."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def pool(emulator: dict[str, Any]) -> Iterator[str]:
    """A fresh 2-node Batch pool with 2 slots per node, deleted afterwards."""
    client = batch_client(emulator)
    pool_id = uid("pool")
    client.create_pool(pool_options(pool_id, dedicated=2, slots=2))
    yield pool_id
    cleanup(client, pool_id=pool_id)


@pytest.fixture(scope="module")
def aci(emulator: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The emulator's ``aci`` endpoints, with LRO polls sped up by ``retry-after-ms`` for the module."""
    endpoints: dict[str, Any] = emulator["aci"]
    before = aci_admin(endpoints, "GET", "/aci/settings")
    aci_admin(endpoints, "PUT", "/aci/settings", {"retry_after_ms": 100, "backoff_base_s": 0.2})
    yield endpoints
    aci_admin(endpoints, "PUT", "/aci/settings", before)


@pytest.fixture(scope="module")
def aci_sdk(aci: dict[str, Any]) -> Iterator[Any]:
    """azure-mgmt-containerinstance's sync client on the emulator, polling long-running operations fast."""
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient

    with ContainerInstanceManagementClient(
        EmulatorCredential(aci["token"]),  # type: ignore[arg-type]
        aci["subscription_id"],
        base_url=aci["url"],
        connection_verify=aci["ca_path"],
        polling_interval=0.05,
    ) as client:
        yield client


@pytest.fixture
async def durable_client(emulator: dict[str, Any]) -> AsyncIterator[Any]:
    """azure-functions-durable's own ``DurableOrchestrationClient`` on the emulator's Durable host, built
    from a binding whose ``rpcBaseUrl`` is the host's local RPC base; the package's global aiohttp
    session, bound to this test's loop, is closed afterwards."""
    import json

    from azure.durable_functions import DurableOrchestrationClient
    from azure.durable_functions.models.utils import http_utils

    durable = emulator["durable"]
    binding = {
        "taskHubName": durable["task_hub"],
        "creationUrls": {},
        "managementUrls": {"id": "INSTANCEID"},
        "rpcBaseUrl": durable["rpc_base_url"],
    }
    yield DurableOrchestrationClient(json.dumps(binding))
    await http_utils._close_session()
