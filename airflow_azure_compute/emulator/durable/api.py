"""The Durable Functions HTTP API (``/runtime/webhooks/durabletask/...``) over an `Engine`.

The same handlers are also served under ``/durabletask/...`` without the ``code`` check: that is
the host's local RPC endpoint, the ``rpcBaseUrl`` azure-functions-durable's own client talks to.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web
from yarl import URL

from airflow_azure_compute.emulator.durable import history as h
from airflow_azure_compute.emulator.durable.engine import Engine, Instance, context_fields
from airflow_azure_compute.emulator.durable.wire import (
    NOT_OVERRIDABLE,
    TERMINAL,
    RuntimeStatus,
    format_event_time,
    format_time,
    instance_id_error,
    new_instance_id,
    parse_time,
    query_bool,
)
from airflow_azure_compute.emulator.operations import serves

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_PATH = "/durabletask"
CONTINUATION_HEADER = "x-ms-continuation-token"
MAX_PAGE = 100
#: An existing Suspended instance also blocks a start with its id (the service's behaviour is unverified).
_BLOCKS_START = NOT_OVERRIDABLE | {RuntimeStatus.SUSPENDED}


_FIXED_WORDS = {
    w.lower(): w
    for w in (
        *("runtime", "webhooks", "durabletask", "orchestrators", "instances", "raiseEvent"),
        *("terminate", "suspend", "resume", "restart", "rewind", "entities"),
    )
}


def canonical_path(path: str) -> str | None:
    """``path`` with the API's fixed segments in their canonical case (``/Runtime/.../durableTask/...``),
    or ``None`` when it is not a Durable API path. Only fixed positions change: instance ids,
    function and event names keep their case."""
    parts = path.split("/")
    lowered = [p.lower() for p in parts]
    if lowered[1:4] == ["runtime", "webhooks", "durabletask"]:
        base = 4
    elif lowered[1:2] == ["durabletask"]:
        base = 2
    else:
        return None
    positions = [*range(1, base), base]
    if base < len(parts) and lowered[base] == "instances":
        positions.append(base + 2)
    for i in positions:
        if i < len(parts) and lowered[i] in _FIXED_WORDS:
            parts[i] = _FIXED_WORDS[lowered[i]]
    return "/".join(parts)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"Message": message, "ExceptionMessage": message}, status=status)


class DurableApi:
    """Request handlers; ``key`` is the system key (``durabletask_extension``) checked as ``code``."""

    def __init__(self, engine: Engine, key: str, task_hub: str, connection: str = "Storage") -> None:
        self.engine = engine
        self.key = key
        self.task_hub = task_hub
        self.connection = connection

    # ----------------------------------------------------------------- routing
    def add_routes(self, app: web.Application) -> None:
        # (method, path, operation: the section of the HTTP API reference, handler)
        routes: list[tuple[str, str, str, Handler]] = [
            ("POST", "/orchestrators/{functionName}", "StartOrchestration", self.start),
            ("POST", "/orchestrators/{functionName}/{instanceId}", "StartOrchestration", self.start),
            ("GET", "/instances", "GetAllInstancesStatus", self.list_instances),
            ("DELETE", "/instances", "PurgeMultipleInstanceHistories", self.purge_many),
            ("GET", "/instances/", "GetAllInstancesStatus", self.list_instances),  # the Python client's URL
            ("DELETE", "/instances/", "PurgeMultipleInstanceHistories", self.purge_many),
            ("GET", "/instances/{instanceId}", "GetInstanceStatus", self.status),
            ("DELETE", "/instances/{instanceId}", "PurgeSingleInstanceHistory", self.purge_one),
            ("POST", "/instances/{instanceId}/raiseEvent/{eventName}", "RaiseEvent", self.raise_event),
            ("POST", "/instances/{instanceId}/terminate", "TerminateInstance", self.terminate),
            ("POST", "/instances/{instanceId}/suspend", "SuspendInstance", self.suspend),
            ("POST", "/instances/{instanceId}/resume", "ResumeInstance", self.resume),
            ("POST", "/instances/{instanceId}/restart", "RestartInstance", self.restart),
            ("POST", "/instances/{instanceId}/rewind", "RewindInstance", self.rewind),
            ("POST", "/entities/{entityName}/{entityKey}", "SignalEntity", self.signal_entity),
            ("GET", "/entities/{entityName}/{entityKey}", "GetEntity", self.get_entity),
            ("GET", "/entities", "ListEntities", self.list_entities),
            ("GET", "/entities/{entityName}", "ListEntities", self.list_entities),
        ]
        for method, path, operation, handler in routes:
            scoped = self._in_task_hub(handler)
            app.router.add_route(method, WEBHOOK_PATH + path, serves(operation, self._authorized(scoped)))
            app.router.add_route(method, RPC_PATH + path, serves(operation, scoped))
        app.router.add_get("/_emulator/durable/instances/{instanceId}/history", self.raw_history)

    def add_case_fallback(self, app: web.Application) -> None:
        """Route ``/Runtime/Webhooks/durableTask/...`` spellings (add after every other route)."""

        async def fallback(request: web.Request) -> web.StreamResponse:
            raw_path = request.rel_url.raw_path
            canonical = canonical_path(raw_path)
            if canonical is not None and canonical.startswith(WEBHOOK_PATH) and not self._key_given(request):
                # the host checks the system key before the extension sees the path, served or not
                return web.Response(status=401)
            if canonical is None or canonical == raw_path:
                raise web.HTTPNotFound()
            url = URL.build(path=canonical, query_string=request.rel_url.raw_query_string, encoded=True)
            clone = request.clone(rel_url=url)
            match = await app.router.resolve(clone)
            match.add_app(app)
            clone._match_info = match  # as aiohttp's Application._handle does after routing
            return await match.handler(clone)

        app.router.add_route("*", "/{path:.*}", fallback)

    def _in_task_hub(self, handler: Handler) -> Handler:
        """400 naming ``taskHub`` when a request addresses another task hub than the host's (task hub
        names are case-insensitive): the emulator keeps one, and would otherwise answer for the wrong one."""

        async def check_task_hub(request: web.Request) -> web.StreamResponse:
            asked = request.query.get("taskHub")
            if asked and asked.lower() != self.task_hub.lower():
                return _error(
                    400,
                    f"The task hub '{asked}' (query parameter taskHub) is not emulated: the emulator hosts "
                    f"one task hub, '{self.task_hub}'. Leave taskHub out or give that name.",
                )
            return await handler(request)

        return check_task_hub

    def _key_given(self, request: web.Request) -> bool:
        """Whether the request carries the system key (``code`` or ``x-functions-key``)."""
        given = request.query.get("code") or request.headers.get("x-functions-key") or ""
        return hmac.compare_digest(given.encode(), self.key.encode())

    def _authorized(self, handler: Handler) -> Handler:
        async def check_code(request: web.Request) -> web.StreamResponse:
            if not self._key_given(request):
                return web.Response(status=401)
            return await handler(request)

        return check_code

    # ----------------------------------------------------------------- helpers
    def management_urls(self, request: web.Request, instance_id: str) -> dict[str, str]:
        base = f"{request.url.origin()}{WEBHOOK_PATH}"
        task_hub = request.query.get("taskHub") or self.task_hub
        connection = request.query.get("connection") or self.connection
        query = f"taskHub={quote(task_hub, safe='')}&connection={quote(connection, safe='')}&code={quote(self.key, safe='')}"
        instance = f"{base}/instances/{quote(instance_id, safe='')}"
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{instance}?{query}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{instance}?{query}",
            "restartPostUri": f"{instance}/restart?{query}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
        }

    def client_binding(self, request: web.Request) -> dict[str, Any]:
        """The ``durableClient`` binding JSON the host hands an HTTP starter function."""
        origin = str(request.url.origin())
        query = self.management_urls(request, "INSTANCEID")["statusQueryGetUri"].partition("?")[2]
        create = f"{origin}{WEBHOOK_PATH}/orchestrators/{{functionName}}[/{{instanceId}}]"
        return {
            "taskHubName": self.task_hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{create}?{query}",
                "createAndWaitOnNewInstancePostUri": f"{create}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{query}",
            },
            "managementUrls": self.management_urls(request, "INSTANCEID"),
            "rpcBaseUrl": f"{origin}{RPC_PATH}/",
            "requiredQueryStringParameters": query,
        }

    def check_status_response(self, request: web.Request, instance_id: str) -> web.Response:
        payload = self.management_urls(request, instance_id)
        return web.json_response(
            payload,
            status=202,
            headers={"Location": payload["statusQueryGetUri"], "Retry-After": "10"},
        )

    @staticmethod
    def status_body(
        instance: Instance, show_input: bool, show_history: bool = False, show_history_output: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": instance.name,
            "instanceId": instance.instance_id,
            "runtimeStatus": instance.status.value,
            "input": instance.input if show_input else None,
            "customStatus": instance.custom_status,
            "output": instance.output,
            "createdTime": format_time(instance.created),
            "lastUpdatedTime": format_time(instance.last_updated),
        }
        if show_history:
            body["historyEvents"] = h.display(instance.history, show_history_output)
        return body

    def _instance(self, request: web.Request) -> Instance | None:
        return self.engine.instances.get(request.match_info["instanceId"])

    @staticmethod
    async def _json_body(request: web.Request) -> tuple[Any, str | None]:
        """The request body as a JSON value (``None`` when empty) and an error message if invalid."""
        raw = await request.read()
        if not raw.strip():
            return None, None
        try:
            return json.loads(raw), None
        except ValueError as exc:
            return None, f"Invalid JSON content: {exc}"

    # ----------------------------------------------------------------- start
    async def start(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["functionName"]
        instance_id = request.match_info.get("instanceId") or new_instance_id()
        if problem := instance_id_error(instance_id):
            return _error(400, problem)
        value, problem = await self._json_body(request)
        if problem:
            return _error(400, problem)
        for parameter in ("timeout", "pollingInterval"):
            if problem := _number_error(request, parameter):
                return _error(400, problem)
        if self.engine.functions.orchestrator(name) is None:
            return _error(
                400,
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
                f"Additional info: known orchestrators are {sorted(self.engine.functions.orchestrators)}.",
            )
        existing = self.engine.instances.get(instance_id)
        if existing is not None and existing.status in _BLOCKS_START:
            return _error(
                409,
                f"An Orchestration instance with the status {existing.status.value} already exists.",
            )
        instance = self.engine.start(name, instance_id, value, version=request.query.get("version"))
        timeout = float(request.query.get("timeout", "0"))
        if timeout > 0:
            with_output = await self._wait(instance, timeout)
            if with_output is not None:
                return with_output
        return self.check_status_response(request, instance_id)

    async def _wait(self, instance: Instance, timeout: float) -> web.Response | None:
        try:
            await asyncio.wait_for(instance.finished.wait(), timeout)
        except asyncio.TimeoutError:
            return None
        if instance.status == RuntimeStatus.COMPLETED:
            return web.json_response(instance.output, status=200)
        status = 500 if instance.status == RuntimeStatus.FAILED else 200
        return web.json_response(self.status_body(instance, show_input=True), status=status)

    # ----------------------------------------------------------------- status and list
    async def status(self, request: web.Request) -> web.StreamResponse:
        instance = self._instance(request)
        if instance is None:
            return web.Response(status=404)
        q = request.query
        body = self.status_body(
            instance,
            show_input=query_bool(q.get("showInput"), True),
            show_history=query_bool(q.get("showHistory"), False),
            show_history_output=query_bool(q.get("showHistoryOutput"), False),
        )
        if instance.status not in TERMINAL:
            return web.json_response(
                body, status=202, headers={"Location": str(request.url), "Retry-After": "5"}
            )
        if instance.status == RuntimeStatus.FAILED and query_bool(
            q.get("returnInternalServerErrorOnFailure"), False
        ):
            return web.json_response(body, status=500)
        return web.json_response(body, status=200)

    def _select(self, request: web.Request, terminal_only: bool) -> list[Instance] | web.Response:
        """Instances matching ``instanceIdPrefix``, ``createdTimeFrom/To`` and ``runtimeStatus``."""
        q = request.query
        try:
            time_from = parse_time(q["createdTimeFrom"]) if q.get("createdTimeFrom") else None
            time_to = parse_time(q["createdTimeTo"]) if q.get("createdTimeTo") else None
        except ValueError as exc:
            return _error(400, f"Invalid createdTimeFrom/createdTimeTo: {exc}")
        statuses: set[RuntimeStatus] | None = None
        if q.get("runtimeStatus"):
            try:
                statuses = {RuntimeStatus(s.strip()) for s in q["runtimeStatus"].split(",") if s.strip()}
            except ValueError as exc:
                return _error(400, f"Invalid runtimeStatus: {exc}")
        prefix = q.get("instanceIdPrefix") or ""
        chosen = [
            i
            for i in self.engine.instances.values()
            if i.instance_id.startswith(prefix)
            and (time_from is None or i.created >= time_from)
            and (time_to is None or i.created <= time_to)
            and (statuses is None or i.status in statuses)
            and (not terminal_only or i.status in TERMINAL)
        ]
        return sorted(chosen, key=lambda i: (i.created, i.instance_id))

    async def list_instances(self, request: web.Request) -> web.StreamResponse:
        chosen = self._select(request, terminal_only=False)
        if isinstance(chosen, web.Response):
            return chosen
        try:
            top = min(int(request.query.get("top", MAX_PAGE)), MAX_PAGE)
            start = _decode_token(request.headers.get(CONTINUATION_HEADER))
        except ValueError as exc:
            return _error(400, str(exc))
        top = top if top > 0 else MAX_PAGE
        show_input = query_bool(request.query.get("showInput"), True)
        page = chosen[start : start + top]
        headers = {}
        if start + top < len(chosen):
            headers[CONTINUATION_HEADER] = _encode_token(start + top)
        return web.json_response([self.status_body(i, show_input) for i in page], headers=headers)

    # ----------------------------------------------------------------- entities
    async def signal_entity(self, request: web.Request) -> web.StreamResponse:
        """``POST /entities/{name}/{key}?op=``: queue the operation (202); the entity is created on demand."""
        name, key = request.match_info["entityName"], request.match_info["entityKey"]
        if self.engine.functions.entity(name) is None:
            return _error(404, f"No entity function named '{name}' was found.")
        if request.can_read_body and request.content_type != "application/json":
            return _error(400, "Only application/json request content is supported")
        value, problem = await self._json_body(request)
        if problem:
            return _error(400, problem)
        operation = request.query.get("op") or ""
        self.engine.signal_entity(name, key, operation, None if value is None else json.dumps(value))
        return web.Response(status=202)

    async def get_entity(self, request: web.Request) -> web.StreamResponse:
        """``GET /entities/{name}/{key}``: the entity's state (200), or 404 when it does not exist."""
        record = self.engine.entities.record(
            request.match_info["entityName"], request.match_info["entityKey"]
        )
        if record is None or not record.exists:
            return web.Response(status=404)
        return web.Response(text=record.state or "null", content_type="application/json")

    async def list_entities(self, request: web.Request) -> web.StreamResponse:
        """``GET /entities[/{name}]``: entity ids and last operation times (state with ``fetchState``)."""
        query = request.query
        try:
            since = parse_time(query["lastOperationTimeFrom"]) if "lastOperationTimeFrom" in query else None
            until = parse_time(query["lastOperationTimeTo"]) if "lastOperationTimeTo" in query else None
            top = min(int(query.get("top", MAX_PAGE)), MAX_PAGE)
            start = _decode_token(request.headers.get(CONTINUATION_HEADER))
        except ValueError as exc:
            return _error(400, str(exc))
        top = top if top > 0 else MAX_PAGE
        fetch_state = query_bool(query.get("fetchState"), False)
        found = self.engine.entities.query(request.match_info.get("entityName"), since, until)
        body = []
        for record in found[start : start + top]:
            entry: dict[str, Any] = {
                "entityId": {"key": record.key, "name": record.name},
                "lastOperationTime": format_event_time(record.last_operation),
            }
            if fetch_state:
                entry["state"] = json.loads(record.state) if record.state else None
            body.append(entry)
        headers = {CONTINUATION_HEADER: _encode_token(start + top)} if start + top < len(found) else {}
        return web.json_response(body, headers=headers)

    # ----------------------------------------------------------------- operations
    async def raise_event(self, request: web.Request) -> web.StreamResponse:
        instance = self._instance(request)
        if instance is None:
            return _error(404, f"No instance with ID '{request.match_info['instanceId']}' found.")
        if instance.terminal:
            return _error(410, "The orchestration instance has already completed.")
        if request.content_type != "application/json":
            return _error(400, "Only application/json request content is supported")
        value, problem = await self._json_body(request)
        if problem:
            return _error(400, problem)
        self.engine.raise_event(instance, request.match_info["eventName"], json.dumps(value))
        return web.Response(status=202)

    async def terminate(self, request: web.Request) -> web.StreamResponse:
        return self._operate(request, lambda i, reason: self.engine.terminate(i, reason))

    async def suspend(self, request: web.Request) -> web.StreamResponse:
        return self._operate(request, lambda i, reason: self.engine.suspend(i, reason))

    async def resume(self, request: web.Request) -> web.StreamResponse:
        return self._operate(request, lambda i, reason: self.engine.resume(i, reason))

    def _operate(
        self, request: web.Request, operation: Callable[[Instance, str | None], None]
    ) -> web.Response:
        instance = self._instance(request)
        if instance is None:
            return _error(404, f"No instance with ID '{request.match_info['instanceId']}' found.")
        if instance.terminal:
            return _error(410, "The orchestration instance has already completed.")
        operation(instance, request.query.get("reason"))
        return web.Response(status=202)

    async def restart(self, request: web.Request) -> web.StreamResponse:
        instance = self._instance(request)
        if instance is None:
            return _error(400, "InstanceId does not match a valid orchestration instance.")
        if query_bool(request.query.get("restartWithNewInstanceId"), True):
            new_id = new_instance_id()
        else:
            new_id = instance.instance_id
            if not instance.terminal:
                return _error(409, "A non-terminal instance with this instance ID already exists.")
        self.engine.start(instance.name, new_id, instance.original_input, version=instance.version)
        return self.check_status_response(request, new_id)

    async def rewind(self, request: web.Request) -> web.StreamResponse:
        instance = self._instance(request)
        if instance is None:
            return web.Response(status=404)
        if instance.status != RuntimeStatus.FAILED:
            return _error(412, "The rewind operation is only supported on failed orchestration instances.")
        self.engine.rewind(instance, request.query.get("reason"))
        return web.Response(status=202)

    async def purge_one(self, request: web.Request) -> web.StreamResponse:
        instance = self._instance(request)
        if instance is None:
            return web.Response(status=404)
        if not instance.terminal:
            return _error(
                412, "Only terminal instances (Completed, Failed, Terminated, Canceled) can be purged."
            )
        self.engine.purge(instance)
        return web.json_response({"instancesDeleted": 1})

    async def purge_many(self, request: web.Request) -> web.StreamResponse:
        if not request.query.get("createdTimeFrom"):
            return _error(400, "createdTimeFrom is required when purging instance history.")
        chosen = self._select(request, terminal_only=True)
        if isinstance(chosen, web.Response):
            return chosen
        if not chosen:
            return web.Response(status=404)
        for instance in chosen:
            self.engine.purge(instance)
        return web.json_response({"instancesDeleted": len(chosen)})

    # ----------------------------------------------------------------- emulator-only
    async def raw_history(self, request: web.Request) -> web.StreamResponse:
        """The raw history and last actions of an instance, to replay it outside the emulator."""
        instance = self._instance(request)
        if instance is None:
            return web.Response(status=404)
        return web.json_response(
            {
                "instanceId": instance.instance_id,
                "name": instance.name,
                "runtimeStatus": instance.status.value,
                "input": instance.input,
                "context": context_fields(instance),
                "history": instance.history,
                "actions": instance.last_actions,
                "output": instance.output,
            }
        )


def _number_error(request: web.Request, name: str) -> str | None:
    """An error naming the query parameter ``name`` when it is given and not a number."""
    value = request.query.get(name)
    if value is None:
        return None
    try:
        float(value)
    except ValueError:
        return f"{name} must be a number of seconds (got {value!r})"
    return None


def _encode_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.b64decode(token))["offset"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"Invalid {CONTINUATION_HEADER}: {token!r}") from exc
