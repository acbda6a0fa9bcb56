"""Replays of the Container Instances examples against the ACI emulator (ARM over HTTPS)."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from tests.conformance.clients import ACI_API, HttpWire, Reply, Scenarios, wait_for

SCENARIOS: Scenarios[AciWorld] = Scenarios()
scenario = SCENARIOS.register


class AciWorld:
    """Container groups made for the replays, in the emulator's subscription and resource group."""

    def __init__(self, endpoints: dict[str, Any]) -> None:
        aci = endpoints["aci"]
        token = aci.get("token") or "emulator-token"
        self.wire = HttpWire(aci["url"], ca_path=aci["ca_path"], headers={"Authorization": f"Bearer {token}"})
        self.subscription = aci["subscription_id"]
        self.resource_group = aci["resource_group"]
        self.location = aci.get("region") or "westeurope"
        self.created: list[str] = []

    def group_path(self, name: str) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ContainerInstance/containerGroups/{name}"
        )

    def send(self, method: str, path: str, body: Any = None, **query: str) -> Reply:
        return self.wire.send(method, path, body, {"api-version": ACI_API, **query})

    def group(self, example_group: dict[str, Any], command: list[str] | None = None) -> str:
        """A running group built from an example group's create-time fields."""
        name = f"demo1-{uuid.uuid4().hex[:8]}"
        props = copy.deepcopy(example_group["properties"])
        for key in ("provisioningState", "instanceView"):
            props.pop(key, None)
        for container in props["containers"]:
            container["properties"].pop("instanceView", None)
            container["properties"]["command"] = command or ["/bin/sh", "-c", "echo log content; sleep 30"]
        for credential in props.get("imageRegistryCredentials") or []:
            credential["password"] = "registry-password"  # sent, and never to be echoed
        for volume in props.get("volumes") or []:
            if isinstance(volume.get("azureFile"), dict):
                volume["azureFile"]["storageAccountKey"] = "c3RvcmFnZS1rZXk="  # likewise
            if isinstance(volume.get("secret"), dict):
                volume["secret"] = {"token": "c2VjcmV0"}  # the answer shows it as {}
        if isinstance(props.get("ipAddress"), dict):
            props["ipAddress"].pop("ip", None)
            props["ipAddress"].pop("fqdn", None)
        body = {"location": self.location, "properties": props}
        for key in ("tags", "zones"):
            if key in example_group:
                body[key] = example_group[key]
        reply = self.send("PUT", self.group_path(name), body)
        if reply.status not in (200, 201):
            raise AssertionError(f"setup PUT failed: {reply.status} {reply.body}")
        self.created.append(name)
        wait_for(lambda: self._running(name), what=f"group {name} to run")
        return name

    def _running(self, name: str) -> bool:
        body = self.send("GET", self.group_path(name)).body or {}
        return body.get("properties", {}).get("instanceView", {}).get("state") == "Running"

    def cleanup(self) -> None:
        for name in self.created:
            self.send("DELETE", self.group_path(name))


def _example_group(example: dict[str, Any]) -> dict[str, Any]:
    responses = example["responses"]
    body = responses.get("200", responses.get("201", {})).get("body")
    return body["value"][0] if "value" in body else body


@scenario("ContainerGroupCreateConfidential")
@scenario("ContainerGroupEncryptionProperties")
@scenario("ContainerGroupsCreateOrUpdate")
def _create(world: AciWorld, example: dict[str, Any]) -> Reply:
    name = f"demo1-{uuid.uuid4().hex[:8]}"
    body = copy.deepcopy(example["parameters"]["containerGroup"])
    reply = world.send("PUT", world.group_path(name), body)
    if reply.status in (200, 201):
        world.created.append(name)
    return reply


@scenario("ContainerGroupsGet_Succeeded")
def _get(world: AciWorld, example: dict[str, Any]) -> Reply:
    return world.send("GET", world.group_path(world.group(_example_group(example))))


@scenario("ContainerGroupsList")
def _list(world: AciWorld, example: dict[str, Any]) -> Reply:
    name = world.group(_example_group(example))
    listed = example["responses"]["200"]["body"]["value"][0]
    listed["name"], listed["id"] = name, world.group_path(name)  # the example group stands for ours
    return world.send(
        "GET", f"/subscriptions/{world.subscription}/providers/Microsoft.ContainerInstance/containerGroups"
    )


@scenario("ContainerGroupsListByResourceGroup")
def _list_in_resource_group(world: AciWorld, example: dict[str, Any]) -> Reply:
    name = world.group(_example_group(example))
    listed = example["responses"]["200"]["body"]["value"][0]
    listed["name"], listed["id"] = name, world.group_path(name)
    return world.send(
        "GET",
        f"/subscriptions/{world.subscription}/resourceGroups/{world.resource_group}"
        "/providers/Microsoft.ContainerInstance/containerGroups",
    )


@scenario("ContainerGroupsRestart")
def _restart(world: AciWorld, example: dict[str, Any]) -> Reply:
    name = world.group({"properties": {"containers": [_container()], "osType": "Linux"}})
    return world.send("POST", world.group_path(name) + "/restart")


@scenario("ContainerGroupsUpdate")
def _update(world: AciWorld, example: dict[str, Any]) -> Reply:
    name = world.group(_example_group(example))
    return world.send("PATCH", world.group_path(name), example["parameters"]["Resource"])


@scenario("ContainerGroupsDelete")
def _delete(world: AciWorld, example: dict[str, Any]) -> Reply:
    name = world.group(_example_group(example))
    return world.send("DELETE", world.group_path(name))


@scenario("ContainerGroupsStop")
def _stop(world: AciWorld, example: dict[str, Any]) -> Reply:
    name = world.group({"properties": {"containers": [_container()], "osType": "Linux"}})
    return world.send("POST", world.group_path(name) + "/stop")


@scenario("ContainerGroupsStart")
def _start(world: AciWorld, example: dict[str, Any]) -> Reply:
    name = world.group({"properties": {"containers": [_container()], "osType": "Linux"}})
    world.send("POST", world.group_path(name) + "/stop")
    return world.send("POST", world.group_path(name) + "/start")


@scenario("ContainerListLogs")
def _logs(world: AciWorld, example: dict[str, Any]) -> Reply:
    name = world.group({"properties": {"containers": [_container()], "osType": "Linux"}})
    return world.send("GET", world.group_path(name) + "/containers/container1/logs", tail="10")


@scenario("ContainerExec")
def _exec(world: AciWorld, example: dict[str, Any]) -> Reply:
    name = world.group({"properties": {"containers": [_container()], "osType": "Linux"}})
    return world.send(
        "POST",
        world.group_path(name) + "/containers/container1/exec",
        example["parameters"]["containerExecRequest"],
    )


@scenario("ContainerAttach")
def _attach(world: AciWorld, example: dict[str, Any]) -> Reply:
    name = world.group({"properties": {"containers": [_container()], "osType": "Linux"}})
    return world.send("POST", world.group_path(name) + "/containers/container1/attach")


@scenario("ContainerGroupUsage")
def _usage(world: AciWorld, example: dict[str, Any]) -> Reply:
    return world.send(
        "GET",
        f"/subscriptions/{world.subscription}/providers/Microsoft.ContainerInstance/locations/{world.location}/usages",
    )


@scenario("OperationsList")
def _operations(world: AciWorld, example: dict[str, Any]) -> Reply:
    return world.send("GET", "/providers/Microsoft.ContainerInstance/operations")


def _container() -> dict[str, Any]:
    return {
        "name": "container1",
        "properties": {"image": "busybox", "resources": {"requests": {"cpu": 1, "memoryInGB": 1.5}}},
    }
