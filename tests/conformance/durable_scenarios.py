"""Replays of the Durable Functions HTTP API reference examples against the Durable emulator.

Orchestrations come from ``tests/function_apps/durable_patterns.py`` and entities from
``tests/function_apps/durable_entities.py`` (real azure-functions-durable functions).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.conformance.clients import HttpWire, Reply, Scenarios, wait_for

SCENARIOS: Scenarios[DurableWorld] = Scenarios()
scenario = SCENARIOS.register


class DurableWorld:
    def __init__(self, endpoints: dict[str, Any]) -> None:
        durable = endpoints["durable"]
        self.wire = HttpWire(durable["webhook_url"], query={"code": durable["key"]})

    def send(self, request: dict[str, Any], **names: str) -> Reply:
        path = request["path"].format(**names) if names else request["path"]
        return self.wire.send(request["method"], path, request.get("body"), request.get("query"))

    def start(self, orchestrator: str, body: Any = None, instance_prefix: str = "") -> str:
        instance_id = f"{instance_prefix}{uuid.uuid4().hex}"
        reply = self.wire.send("POST", f"/orchestrators/{orchestrator}/{instance_id}", body)
        if reply.status != 202:
            raise AssertionError(f"setup start failed: {reply.status} {reply.body}")
        return str(reply.body["id"])

    def status(self, instance_id: str) -> Any:
        return self.wire.send("GET", f"/instances/{instance_id}").body

    def completed(self, orchestrator: str, body: Any = None, instance_prefix: str = "") -> str:
        instance_id = self.start(orchestrator, body, instance_prefix)
        wait_for(lambda: self.status(instance_id)["runtimeStatus"] == "Completed", what="completion")
        return instance_id

    def running(self) -> str:
        instance_id = self.start("approval_orchestrator", {"timeout_s": 60})
        wait_for(lambda: self.status(instance_id)["runtimeStatus"] == "Running", what="a running instance")
        return instance_id

    def entity_key(self) -> str:
        return f"steps-{uuid.uuid4().hex[:8]}"

    def signal(self, name: str, key: str, op: str, value: Any) -> None:
        reply = self.wire.send("POST", f"/entities/{name}/{key}", value, {"op": op})
        if reply.status != 202:
            raise AssertionError(f"setup signal failed: {reply.status} {reply.body}")
        wait_for(lambda: self.wire.send("GET", f"/entities/{name}/{key}").status == 200, what="entity state")


@scenario("StartOrchestration")
def _start(world: DurableWorld, example: dict[str, Any]) -> Reply:
    return world.send(example["request"], functionName="chain_orchestrator")


@scenario("GetInstanceStatus_Completed")
def _status_completed(world: DurableWorld, example: dict[str, Any]) -> Reply:
    instance_id = world.completed("chain_orchestrator", ["Tokyo", "Seattle", "London"])
    return world.send(example["request"], instanceId=instance_id)


@scenario("GetInstanceStatus_Running")
def _status_running(world: DurableWorld, example: dict[str, Any]) -> Reply:
    return world.send(example["request"], instanceId=world.running())


@scenario("ListInstances")
def _list(world: DurableWorld, example: dict[str, Any]) -> Reply:
    world.completed("chain_orchestrator")
    return world.send(example["request"])


@scenario("RaiseEvent")
def _raise_event(world: DurableWorld, example: dict[str, Any]) -> Reply:
    return world.send(example["request"], instanceId=world.running())


@scenario("TerminateInstance")
def _terminate(world: DurableWorld, example: dict[str, Any]) -> Reply:
    return world.send(example["request"], instanceId=world.running())


@scenario("PurgeInstance")
def _purge(world: DurableWorld, example: dict[str, Any]) -> Reply:
    return world.send(example["request"], instanceId=world.completed("chain_orchestrator"))


@scenario("SignalEntity")
def _signal(world: DurableWorld, example: dict[str, Any]) -> Reply:
    request = dict(example["request"], path=f"/entities/Counter/{world.entity_key()}")
    return world.send(request)


@scenario("GetEntity")
def _get_entity(world: DurableWorld, example: dict[str, Any]) -> Reply:
    key = world.entity_key()
    world.signal("Counter", key, "Add", 5)
    return world.wire.send("GET", f"/entities/Counter/{key}")


def _list_entities(world: DurableWorld, example: dict[str, Any]) -> Reply:
    renamed: dict[str, str] = {}
    for entry in example["responses"]["200"]["body"]:
        name, key = entry["entityId"]["name"], entry["entityId"]["key"]
        if key not in renamed:
            renamed[key] = f"{key}-{uuid.uuid4().hex[:8]}"
            world.signal(name, renamed[key], "Add", 9)
        entry["entityId"]["key"] = renamed[key]
    query = dict(example["request"].get("query") or {})
    query.pop("top", None)  # the example's top=2 counts on an otherwise empty task hub
    return world.wire.send("GET", example["request"]["path"], query=query)


scenario("ListEntities")(_list_entities)
scenario("ListEntities_FetchState")(_list_entities)


def _with_query(request: dict[str, Any], **values: str) -> dict[str, Any]:
    """The example's request with its query placeholders (``{text}``, ``{timestamp}``) filled in."""
    return dict(request, query={**(request.get("query") or {}), **values})


@scenario("SuspendInstance")
def _suspend(world: DurableWorld, example: dict[str, Any]) -> Reply:
    request = _with_query(example["request"], reason="maintenance")
    return world.send(request, instanceId=world.running())


@scenario("ResumeInstance")
def _resume(world: DurableWorld, example: dict[str, Any]) -> Reply:
    instance_id = world.running()
    reply = world.wire.send("POST", f"/instances/{instance_id}/suspend", query={"reason": "maintenance"})
    if reply.status != 202:
        raise AssertionError(f"setup suspend failed: {reply.status} {reply.body}")
    wait_for(lambda: world.status(instance_id)["runtimeStatus"] == "Suspended", what="a suspended instance")
    return world.send(_with_query(example["request"], reason="done"), instanceId=instance_id)


@scenario("RewindInstance")
def _rewind(world: DurableWorld, example: dict[str, Any]) -> Reply:
    instance_id = world.start("rewind_orchestrator", {"key": uuid.uuid4().hex, "failures": 1})
    wait_for(lambda: world.status(instance_id)["runtimeStatus"] == "Failed", what="a failed instance")
    return world.send(example["request"], instanceId=instance_id)


@scenario("PurgeInstances")
def _purge_many(world: DurableWorld, example: dict[str, Any]) -> Reply:
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    prefix = f"purge-{uuid.uuid4().hex[:8]}-"
    for _ in range(2):
        world.completed("chain_orchestrator", instance_prefix=prefix)
    until = datetime.now(timezone.utc) + timedelta(seconds=1)
    request = _with_query(
        example["request"],
        createdTimeFrom=since.isoformat(),
        createdTimeTo=until.isoformat(),
        runtimeStatus="Completed",
        instanceIdPrefix=prefix,  # only this scenario's instances: the emulator is shared by the session
    )
    return world.send(request)
