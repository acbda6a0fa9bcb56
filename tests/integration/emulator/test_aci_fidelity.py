"""The ACI emulator as strict as ARM: its own bearer tokens only, features it does not emulate refused,
and the exec/attach/usages/operations routes with Azure's shapes."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from typing import Any

import aiohttp
import pytest

from tests.integration.emulator.aci_support import admin, raw
from tests.integration.emulator.batch_support import wait_for

pytestmark = pytest.mark.integration
API = "api-version=2023-05-01"


def _groups(aci: dict[str, Any]) -> str:
    return (
        f"{aci['url']}/subscriptions/{aci['subscription_id']}/resourceGroups/{aci['resource_group']}"
        "/providers/Microsoft.ContainerInstance/containerGroups"
    )


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, "AuthenticationFailed"),
        ("not-a-jwt", "InvalidAuthenticationToken"),
        ("forged", "InvalidAuthenticationToken"),
        ("other-audience", "InvalidAuthenticationTokenAudience"),
        ("expired", "ExpiredAuthenticationToken"),
    ],
)
def test_only_tokens_the_emulator_issued_are_accepted(
    aci: dict[str, Any], token: str | None, code: str
) -> None:
    headers: dict[str, str] = {}
    if token == "not-a-jwt":
        headers = _auth("emulator-token")
    elif token == "forged":
        header, payload, _ = aci["token"].split(".")
        headers = _auth(f"{header}.{payload}.c2lnbmF0dXJl")
    elif token == "other-audience":
        headers = _auth(admin(aci, "POST", "/aci/token", {"audience": "https://vault.azure.net"})["token"])
    elif token == "expired":
        headers = _auth(admin(aci, "POST", "/aci/token", {"lifetime_s": -1})["token"])
    status, body, answer = raw(aci, "GET", f"{_groups(aci)}?{API}", headers=headers)
    assert status == 401 and body["error"]["code"] == code
    if token is not None:
        assert 'error="invalid_token"' in answer["WWW-Authenticate"]
    status, _, _ = raw(aci, "GET", f"{_groups(aci)}?{API}", headers=_auth(aci["token"]))
    assert status == 200


def _group_body(**extra_props: Any) -> dict[str, Any]:
    container = {
        "name": "main",
        "properties": {
            "image": "busybox",
            "command": ["/bin/sh", "-c", "echo ready; sleep 30"],
            "resources": {"requests": {"cpu": 1, "memoryInGB": 1}},
        },
    }
    return {
        "location": "westeurope",
        "properties": {"containers": [container], "osType": "Linux", **extra_props},
    }


@pytest.mark.parametrize(
    ("change", "target"),
    [
        (
            lambda b: b["properties"].update(volumes=[{"name": "v", "gitRepo": {"repository": "https://x"}}]),
            "properties.volumes[0].gitRepo",
        ),
        (
            lambda b: b["properties"].update(networkProfile={"id": "/subscriptions/s/np"}),
            "properties.networkProfile",
        ),
        (lambda b: b["properties"].update(dnsConfig={"nameServers": ["1.1.1.1"]}), "properties.dnsConfig"),
        (lambda b: b["properties"].update(subnetIds=[{"id": "/subscriptions/s/x"}]), "properties.subnetIds"),
        (
            lambda b: b["properties"].update(
                diagnostics={"logAnalytics": {"workspaceId": "w", "workspaceKey": "k"}}
            ),
            "properties.diagnostics",
        ),
    ],
)
def test_features_not_emulated_are_refused_by_name(aci: dict[str, Any], change: Any, target: str) -> None:
    body = _group_body()
    change(body)
    name = f"refused-{uuid.uuid4().hex[:8]}"
    status, answer, _ = raw(aci, "PUT", f"{_groups(aci)}/{name}?{API}", body, headers=_auth(aci["token"]))
    assert status == 400
    assert answer["error"]["code"] == "FeatureNotEmulated" and answer["error"]["target"] == target
    assert target in answer["error"]["message"]
    status, _, _ = raw(aci, "GET", f"{_groups(aci)}/{name}?{API}", headers=_auth(aci["token"]))
    assert status == 404  # nothing half-created


def test_exec_attach_usages_and_operations(aci: dict[str, Any]) -> None:
    name = f"exec-{uuid.uuid4().hex[:8]}"
    group = f"{_groups(aci)}/{name}"
    headers = _auth(aci["token"])
    assert raw(aci, "PUT", f"{group}?{API}", _group_body(), headers=headers)[0] == 201

    def running() -> bool:
        view = raw(aci, "GET", f"{group}?{API}", headers=headers)[1]["properties"]["containers"][0][
            "properties"
        ]
        return (view.get("instanceView") or {}).get("currentState", {}).get("state") == "Running"

    wait_for(running, what="the container to run")
    status, body, _ = raw(
        aci,
        "POST",
        f"{group}/containers/main/exec?{API}",
        {"command": "echo hello from exec"},
        headers=headers,
    )
    assert status == 200 and set(body) == {"webSocketUri", "password"}
    assert asyncio.run(_session(aci, body)) == "hello from exec\n"
    status, body, _ = raw(aci, "POST", f"{group}/containers/main/attach?{API}", headers=headers)
    assert status == 200 and "ready" in asyncio.run(_session(aci, body))

    location = f"{aci['url']}/subscriptions/{aci['subscription_id']}/providers/Microsoft.ContainerInstance"
    status, body, _ = raw(aci, "GET", f"{location}/locations/westeurope/usages?{API}", headers=headers)
    usage = body["value"][0]
    assert status == 200 and usage["name"]["value"] == "ContainerGroups" and usage["currentValue"] >= 1
    status, body, _ = raw(
        aci, "GET", f"{aci['url']}/providers/Microsoft.ContainerInstance/operations?{API}", headers=headers
    )
    names = {op["name"] for op in body["value"]}
    assert status == 200 and "Microsoft.ContainerInstance/containerGroups/containers/exec/action" in names
    raw(aci, "DELETE", f"{group}?{API}", headers=headers)


def test_deleting_a_group_ends_the_commands_exec_started_in_it(aci: dict[str, Any]) -> None:
    name = f"exec-end-{uuid.uuid4().hex[:8]}"
    group = f"{_groups(aci)}/{name}"
    headers = _auth(aci["token"])
    assert raw(aci, "PUT", f"{group}?{API}", _group_body(), headers=headers)[0] == 201
    wait_for(
        lambda: (
            raw(aci, "GET", f"{group}?{API}", headers=headers)[1]["properties"]["instanceView"]["state"]
            == "Running"
        ),
        what="the group to run",
    )
    command = {"command": "/bin/sh -c 'echo started; exec sleep 60'"}
    grant = raw(aci, "POST", f"{group}/containers/main/exec?{API}", command, headers=headers)[1]

    async def scenario() -> str:
        context = ssl.create_default_context(cafile=aci["ca_path"])
        out = ""
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(grant["webSocketUri"], ssl=context) as ws,
        ):
            await ws.send_str(grant["password"])
            async for message in ws:
                out += message.data.decode() if isinstance(message.data, bytes) else str(message.data)
                if "started" in out:
                    await asyncio.to_thread(raw, aci, "DELETE", f"{group}?{API}", None, headers)
                    break
            # the socket closes once the deletion ended the command (not after the 60 s sleep)
            await asyncio.wait_for(ws.receive(), 20)
            return out

    assert asyncio.run(scenario()).startswith("started")


async def _session(aci: dict[str, Any], grant: dict[str, str]) -> str:
    """Open the exec/attach WebSocket, send the password, return what comes back as text."""
    context = ssl.create_default_context(cafile=aci["ca_path"])
    out = b""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(grant["webSocketUri"], ssl=context) as ws,
    ):
        await ws.send_str(grant["password"])
        async for message in ws:
            data = message.data
            out += data.encode() if isinstance(data, str) else data
    return out.decode()


def test_the_sdk_reads_exec_attach_usages_and_operations(aci: dict[str, Any]) -> None:
    """azure-mgmt-containerinstance deserializes the new answers into its models."""
    import time

    from azure.core.credentials import AccessToken
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient
    from azure.mgmt.containerinstance import models as m

    class Credential:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken(aci["token"], int(time.time()) + 3600)

    name = f"sdk-{uuid.uuid4().hex[:8]}"
    rg = aci["resource_group"]
    with ContainerInstanceManagementClient(
        Credential(),  # type: ignore[arg-type]
        aci["subscription_id"],
        base_url=aci["url"],
        connection_verify=aci["ca_path"],
        polling_interval=0.1,
    ) as client:
        assert (
            raw(aci, "PUT", f"{_groups(aci)}/{name}?{API}", _group_body(), headers=_auth(aci["token"]))[0]
            == 201
        )
        wait_for(
            lambda: (
                (
                    client.container_groups.get(rg, name).containers[0].instance_view
                    or m.ContainerPropertiesInstanceView()
                ).current_state
            ),
            what="the container to start",
        )
        grant = client.containers.execute_command(
            rg,
            name,
            "main",
            m.ContainerExecRequest(
                command="echo sdk", terminal_size=m.ContainerExecRequestTerminalSize(rows=24, cols=80)
            ),
        )
        assert grant.web_socket_uri.startswith("wss://") and grant.password
        attach = client.containers.attach(rg, name, "main")
        assert attach.web_socket_uri.startswith("wss://") and attach.password
        usage = next(u for u in client.location.list_usage("westeurope") if u.name.value == "ContainerGroups")
        assert usage.unit == "Count" and usage.limit == 100 and usage.current_value >= 1
        assert any(op.name.endswith("containerGroups/read") for op in client.operations.list())
        client.container_groups.begin_delete(rg, name).result()


def test_a_path_no_route_serves_gets_arms_json_error(aci: dict[str, Any]) -> None:
    """ARM answers an unknown resource type with a JSON CloudError (``InvalidResourceType``), which SDK
    clients read the code of; a plain-text 404 would leave them with no code."""
    unknown = _groups(aci).replace("/containerGroups", "/containerGroupz") + f"/x?{API}"
    status, body, answer = raw(aci, "GET", unknown, headers=_auth(aci["token"]))
    assert status == 404
    assert answer["Content-Type"].startswith("application/json")
    assert body["error"]["code"] == "InvalidResourceType"
    assert "2023-05-01" in body["error"]["message"]
    # A resource group name no ARM route takes (an unrendered template) gets the same JSON answer.
    templated = _groups(aci).replace(aci["resource_group"], "%7B%7B%20rg%20%7D%7D") + f"/x?{API}"
    status, body, _ = raw(aci, "PUT", templated, body={"location": "westeurope"}, headers=_auth(aci["token"]))
    assert status == 404 and body["error"]["code"] == "InvalidResourceType"
