"""The ACI emulator through ``azure.mgmt.containerinstance.aio`` (aiohttp transport), over HTTPS."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psutil
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.containerinstance import models as m
from azure.mgmt.containerinstance.aio import ContainerInstanceManagementClient

pytestmark = pytest.mark.integration

#: The SDK models are Optional everywhere; the tests check their shapes at run time.
Client = Any


class EmulatorAsyncCredential:
    """An ``AsyncTokenCredential`` giving the bearer token the emulator issued."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> EmulatorAsyncCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


@pytest.fixture
async def client(aci: dict[str, Any]) -> AsyncIterator[ContainerInstanceManagementClient]:
    async with ContainerInstanceManagementClient(
        EmulatorAsyncCredential(aci["token"]),  # type: ignore[arg-type]
        aci["subscription_id"],
        base_url=aci["url"],
        connection_verify=aci["ca_path"],
    ) as c:
        yield c


async def wait_for(
    predicate: Callable[[], Awaitable[Any]], timeout: float = 20, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await predicate():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def group(command: list[str], policy: str = "Never") -> m.ContainerGroup:
    return m.ContainerGroup(
        location="westeurope",
        os_type="Linux",
        restart_policy=policy,
        containers=[
            m.Container(
                name="main",
                image="python:3.12-slim",
                command=command,
                resources=m.ResourceRequirements(requests=m.ResourceRequests(cpu=1, memory_in_gb=1)),
                environment_variables=[m.EnvironmentVariable(name="TOKEN", secure_value="aio-secret-xyz")],
            )
        ],
    )


async def view_of(client: Client, rg: str, name: str) -> Any:
    return (await client.container_groups.get(rg, name)).containers[0].instance_view


async def test_exit_zero_logs_and_no_secret(client: Client, aci: dict[str, Any]) -> None:
    rg = aci["resource_group"]
    command = ["python", "-c", "import os; print(len(os.environ['TOKEN'])); print('done')"]
    poller = await client.container_groups.begin_create_or_update(rg, "aio-zero", group(command))
    created = await poller.result()
    assert created.provisioning_state == "Succeeded"

    async def exited() -> Any:
        view = await view_of(client, rg, "aio-zero")
        return view if view and view.current_state.state == "Terminated" else None

    view = await wait_for(exited, what="exit")
    assert (view.current_state.exit_code, view.current_state.detail_status) == (0, "Completed")
    logs = await client.containers.list_logs(rg, "aio-zero", "main", tail=1)
    assert logs.content == "done\n"
    full = await client.containers.list_logs(rg, "aio-zero", "main")
    assert full.content == f"{len('aio-secret-xyz')}\ndone\n"
    text = await client.container_groups.get(rg, "aio-zero", cls=lambda resp, *_: resp.http_response.text())
    assert "aio-secret-xyz" not in text
    await (await client.container_groups.begin_delete(rg, "aio-zero")).result()
    with pytest.raises(ResourceNotFoundError):
        await client.container_groups.get(rg, "aio-zero")


@pytest.mark.parametrize(("policy", "expected"), [("Never", "Failed"), ("OnFailure", "Running")])
async def test_exit_three_never_vs_on_failure(
    client: Client, aci: dict[str, Any], policy: str, expected: str
) -> None:
    rg, name = aci["resource_group"], f"aio-three-{policy.lower()}"
    await (
        await client.container_groups.begin_create_or_update(
            rg, name, group(["python", "-c", "exit(3)"], policy)
        )
    ).result()

    async def settled() -> Any:
        got = await client.container_groups.get(rg, name)
        view = got.containers[0].instance_view
        if policy == "Never":
            return got if view and view.current_state.state == "Terminated" else None
        return got if view and view.restart_count >= 1 and view.previous_state else None

    got = await wait_for(settled, what=f"{policy} outcome")
    view = got.containers[0].instance_view
    assert got.instance_view.state == expected
    last = view.current_state if policy == "Never" else view.previous_state
    assert (last.exit_code, last.detail_status) == (3, "Error")
    await (await client.container_groups.begin_delete(rg, name)).result()


async def test_delete_while_running_and_lifecycle(client: Client, aci: dict[str, Any]) -> None:
    rg = aci["resource_group"]
    sleeper = ["python", "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(120)"]
    await (await client.container_groups.begin_create_or_update(rg, "aio-run", group(sleeper))).result()

    async def pid(old: int | None = None) -> int:
        async def running() -> int | None:
            view = await view_of(client, rg, "aio-run")
            if not view or view.current_state.state != "Running":
                return None
            content = (await client.containers.list_logs(rg, "aio-run", "main")).content.strip()
            return int(content) if content and int(content) != old else None

        return int(await wait_for(running, what="a running process"))

    first = await pid()
    await (await client.container_groups.begin_restart(rg, "aio-run")).result()
    second = await pid(old=first)
    await client.container_groups.stop(rg, "aio-run")
    assert (await client.container_groups.get(rg, "aio-run")).instance_view.state == "Stopped"
    await (await client.container_groups.begin_start(rg, "aio-run")).result()
    third = await pid(old=second)
    patched = await client.container_groups.update(rg, "aio-run", m.Resource(tags={"a": "b"}))
    assert patched.tags == {"a": "b"}
    names = [g.name async for g in client.container_groups.list_by_resource_group(rg)]
    assert "aio-run" in names
    assert "aio-run" in [g.name async for g in client.container_groups.list()]

    await (await client.container_groups.begin_delete(rg, "aio-run")).result()
    for old in (first, second, third):
        assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE
    with pytest.raises(ResourceNotFoundError):
        await client.container_groups.get(rg, "aio-run")
