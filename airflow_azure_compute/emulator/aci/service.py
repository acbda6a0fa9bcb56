"""ARM ``Microsoft.ContainerInstance/containerGroups`` (api-version 2023-05-01) over HTTPS.

Routes, bearer check, long-running operations (``Azure-AsyncOperation`` with ``Retry-After`` >= 1)
and ``nextLink`` paging. Container groups live in memory; their containers run as local processes
(`airflow_azure_compute.emulator.aci.runtime`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import functools
import itertools
import json
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from airflow_azure_compute.emulator.aci.bridge import BRIDGE_PATH, Bridge
from airflow_azure_compute.emulator.aci.errors import (
    CloudError,
    bad_request,
    cloud_error_response,
    not_found,
    unknown_route_middleware,
)
from airflow_azure_compute.emulator.aci.model import (
    API_VERSION,
    PROVIDER,
    RESOURCE_TYPE,
    AciSettings,
    GroupSpec,
    assign_identity,
    parse_group,
    redact,
)
from airflow_azure_compute.emulator.aci.runtime import ContainerRuntime, GroupDeployment, rfc3339, utc_now
from airflow_azure_compute.emulator.aci.tokens import DEFAULT_LIFETIME_S, TokenIssuer
from airflow_azure_compute.emulator.core import EmulatorService, ServiceContext, put_admin_settings
from airflow_azure_compute.emulator.faults import ADMIN_PREFIX
from airflow_azure_compute.emulator.operations import serves

SUBSCRIPTION = "/subscriptions/{subscription}"
GROUPS_IN_RG = SUBSCRIPTION + "/resourceGroups/{resource_group}/providers/" + PROVIDER + "/containerGroups"
GROUP = GROUPS_IN_RG + "/{name}"
OPERATION = SUBSCRIPTION + "/providers/" + PROVIDER + "/locations/{location}/operations/{operation}"
USAGES = SUBSCRIPTION + "/providers/" + PROVIDER + "/locations/{location}/usages"
CONTAINER = GROUP + "/containers/{container}"
#: Container groups per region and subscription (the documented default quota).
GROUP_QUOTA = 100
#: ``GET /providers/Microsoft.ContainerInstance/operations``: the operations this emulator serves.
OPERATIONS = [
    (f"{RESOURCE_TYPE}/read", "Container Group", "Get Container Groups", "Get all container groups."),
    (
        f"{RESOURCE_TYPE}/write",
        "Container Group",
        "Create or Update Container Groups",
        "Create or update a container group.",
    ),
    (f"{RESOURCE_TYPE}/delete", "Container Group", "Delete Container Groups", "Delete a container group."),
    (
        f"{RESOURCE_TYPE}/start/action",
        "Container Group",
        "Start Container Groups",
        "Start a container group.",
    ),
    (f"{RESOURCE_TYPE}/stop/action", "Container Group", "Stop Container Groups", "Stop a container group."),
    (
        f"{RESOURCE_TYPE}/restart/action",
        "Container Group",
        "Restart Container Groups",
        "Restart a container group.",
    ),
    (
        f"{RESOURCE_TYPE}/containers/logs/read",
        "Container",
        "Get container logs",
        "Get the logs of a container.",
    ),
    (
        f"{RESOURCE_TYPE}/containers/exec/action",
        "Container",
        "Exec into a container",
        "Run a command in a container.",
    ),
    (
        f"{RESOURCE_TYPE}/containers/attach/action",
        "Container",
        "Attach to a container",
        "Attach to a container's output.",
    ),
    (f"{PROVIDER}/locations/usages/read", "Usage", "Get Usage", "Get the usage of a region."),
    (f"{PROVIDER}/locations/operations/read", "Operation", "Get Operation", "Get an asynchronous operation."),
    (f"{PROVIDER}/operations/read", "Operation", "List Operations", "List the operations of the provider."),
]

MAX_OPERATIONS = 10_000
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEFAULT_RESOURCE_GROUP = "emulator-rg"
DEFAULT_LOCATION = "westeurope"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class GroupRecord:
    """A container group as stored: its spec (secrets included), current deployment and deletion."""

    subscription_id: str
    resource_group: str
    name: str
    spec: GroupSpec
    deployment: GroupDeployment
    deletion: asyncio.Future[str] | None = None

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{RESOURCE_TYPE}/{self.name}"
        )

    def render(self) -> dict[str, Any]:
        """The ContainerGroup JSON, without secrets."""
        out = redact(self.spec.body)
        out.update(id=self.resource_id, name=self.name, type=RESOURCE_TYPE)
        out.setdefault("tags", {})
        props = out["properties"]
        deployment = self.deployment
        props["provisioningState"] = "Deleting" if self.deletion else deployment.provisioning_state
        props.setdefault("sku", "Standard")
        props.setdefault("initContainers", [])  # Azure answers the empty list
        ip_address = props.get("ipAddress")
        if isinstance(ip_address, dict):
            ip_address["ip"] = "127.0.0.1"
            if ip_address.get("dnsNameLabel"):
                region = self.spec.location.replace(" ", "").lower()
                ip_address["fqdn"] = f"{ip_address['dnsNameLabel']}.{region}.azurecontainer.io"
        props["instanceView"] = {"events": [], "state": deployment.state()}
        for container in (*props["containers"], *(props.get("initContainers") or [])):
            runtime = deployment.runtime(container["name"])
            view = runtime.instance_view() if runtime is not None else None
            if view is not None:
                container["properties"]["instanceView"] = view
        return out


@dataclass
class Operation:
    """An ``Azure-AsyncOperation`` status resource tracking one future."""

    id: str
    path: str
    outcome: asyncio.Future[str]
    started: datetime = field(default_factory=utc_now)
    ended: datetime | None = None

    def __post_init__(self) -> None:
        self.outcome.add_done_callback(self._finish)

    def _finish(self, _: asyncio.Future[str]) -> None:
        self.ended = utc_now()

    def status(self) -> str:
        return self.outcome.result() if self.outcome.done() else "InProgress"

    def render(self) -> dict[str, Any]:
        status = self.status()
        body: dict[str, Any] = {
            "id": self.path,
            "name": self.id,
            "status": status,
            "startTime": rfc3339(self.started),
        }
        if self.ended is not None:
            body["endTime"] = rfc3339(self.ended)
        if status in ("Failed", "Canceled"):
            body["error"] = {"code": f"Operation{status}", "message": f"The operation was {status.lower()}."}
        return body


def _key(*parts: str) -> tuple[str, ...]:
    return tuple(part.lower() for part in parts)


def _encode_token(key: tuple[str, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_token(token: str) -> tuple[str, ...]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise bad_request("The $skiptoken is not valid.", "$skiptoken", code="InvalidSkipToken") from exc
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        raise bad_request("The $skiptoken is not valid.", "$skiptoken", code="InvalidSkipToken")
    return tuple(parts)


def _bool_param(value: str | None, name: str) -> bool:
    if value is None:
        return False
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise bad_request(f"The query parameter '{name}' must be true or false.", name)


class AciService(EmulatorService):
    """The ``aci`` service of the emulator (see docs/emulator/aci.md)."""

    name = "aci"
    scheme = "https"

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        args = ctx.args
        self.subscription_id = str(getattr(args, "aci_subscription_id", None) or DEFAULT_SUBSCRIPTION)
        self.resource_group = str(getattr(args, "aci_resource_group", None) or DEFAULT_RESOURCE_GROUP)
        self.location = str(getattr(args, "aci_location", None) or DEFAULT_LOCATION)
        self.settings = AciSettings()
        self.groups: dict[tuple[str, ...], GroupRecord] = {}
        self.operations: dict[str, Operation] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._deployments: set[GroupDeployment] = set()  # every deployment not yet stopped
        self._deployment_ids = itertools.count(1)
        static_token = getattr(args, "aci_token", None)
        self.tokens = TokenIssuer(static_tokens=(static_token,) if static_token else ())
        self.bridge = Bridge()

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--aci-subscription-id", default=DEFAULT_SUBSCRIPTION, help="ACI subscription id")
        parser.add_argument("--aci-resource-group", default=DEFAULT_RESOURCE_GROUP, help="ACI resource group")
        parser.add_argument("--aci-location", default=DEFAULT_LOCATION, help="ACI region")
        parser.add_argument(
            "--aci-token",
            default=os.environ.get("EMULATOR_ACI_TOKEN"),
            help="a fixed bearer token accepted besides the issued ones, for clients whose connection "
            "cannot read the endpoints file (e.g. docker compose); default $EMULATOR_ACI_TOKEN",
        )

    # -- framework hooks ---------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.middlewares.append(self._authenticate_first)
        app.middlewares.append(unknown_route_middleware)
        arm = self._arm
        app.add_routes(
            [
                web.put(GROUP, serves("ContainerGroups_CreateOrUpdate", arm(self.put_group))),
                web.get(GROUP, serves("ContainerGroups_Get", arm(self.get_group))),
                web.patch(GROUP, serves("ContainerGroups_Update", arm(self.patch_group))),
                web.delete(GROUP, serves("ContainerGroups_Delete", arm(self.delete_group))),
                web.post(GROUP + "/start", serves("ContainerGroups_Start", arm(self.start_group))),
                web.post(GROUP + "/stop", serves("ContainerGroups_Stop", arm(self.stop_group))),
                web.post(GROUP + "/restart", serves("ContainerGroups_Restart", arm(self.restart_group))),
                web.get(CONTAINER + "/logs", serves("Containers_ListLogs", arm(self.container_logs))),
                web.post(CONTAINER + "/exec", serves("Containers_ExecuteCommand", arm(self.container_exec))),
                web.post(CONTAINER + "/attach", serves("Containers_Attach", arm(self.container_attach))),
                web.get(USAGES, serves("Location_ListUsage", arm(self.usages))),
                web.get(
                    "/providers/" + PROVIDER + "/operations",
                    serves("Operations_List", arm(self.list_operations)),
                ),
                web.get(BRIDGE_PATH, self.bridge.handle),
                web.post(f"{ADMIN_PREFIX}/aci/token", self.issue_token),
                web.get(
                    GROUPS_IN_RG,
                    serves("ContainerGroups_ListByResourceGroup", arm(self.list_in_resource_group)),
                ),
                web.get(
                    SUBSCRIPTION + "/providers/" + PROVIDER + "/containerGroups",
                    serves("ContainerGroups_List", arm(self.list_in_subscription)),
                ),
                web.get(OPERATION, arm(self.get_operation)),
                web.get(f"{ADMIN_PREFIX}/aci/settings", self.get_settings),
                web.put(f"{ADMIN_PREFIX}/aci/settings", self.put_settings),
                web.get(f"{ADMIN_PREFIX}/aci/groups", self.admin_groups),
            ]
        )

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        grace = min(self.settings.stop_grace_s, 0.5)
        await asyncio.gather(*(d.stop(grace) for d in list(self._deployments)), return_exceptions=True)

    def reset(self) -> None:
        for task in list(self._background):
            task.cancel()
        for deployment in list(self._deployments):
            deployment.abort()
            deployment.cleanup_files()
        self._deployments.clear()
        self.groups.clear()
        self.operations.clear()

    def throttle_response(self, status: int) -> web.Response:
        code = "TooManyRequests" if status == 429 else "ServerBusy"
        return cloud_error_response(
            status, code, "The request was throttled by the emulator (injected fault)."
        )

    def endpoint_info(self, url: str, ca_path: str | None) -> dict[str, Any]:
        # the provider asks for a token of scope ``<arm_endpoint>/.default``: its audience is our URL
        self.tokens.audiences = (*self.tokens.audiences, url.rstrip("/"), url.rstrip("/") + "/")
        return {
            "url": url,
            "token": self.tokens.static_tokens[0] if self.tokens.static_tokens else self.tokens.issue(),
            "subscription_id": self.subscription_id,
            "resource_group": self.resource_group,
            "region": self.location,
            "ca_path": ca_path,
            "admin_url": f"{url}{ADMIN_PREFIX}",
        }

    # -- plumbing ----------------------------------------------------------------------------------
    @web.middleware
    async def _authenticate_first(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The bearer check before anything else on every ARM path, served or not, as ARM answers an
        unauthenticated request to any path with 401 (admin and exec/attach socket paths excepted:
        the socket checks its session password)."""
        path = request.path
        if path.startswith(ADMIN_PREFIX) or path.startswith(BRIDGE_PATH.split("{", 1)[0]):
            return await handler(request)
        try:
            self._authorize(request)
        except CloudError as err:
            response = err.response()
            response.headers["x-ms-request-id"] = str(uuid.uuid4())
            return response
        return await handler(request)

    def _arm(self, handler: Handler) -> Handler:
        """Wrap an ARM handler (authenticated by `_authenticate_first`): api-version check, CloudError
        rendering, request id."""

        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                if not request.query.get("api-version"):
                    raise CloudError(
                        400,
                        "MissingApiVersionParameter",
                        "The api-version query parameter (?api-version=) is required for all requests.",
                    )
                response = await handler(request)
            except CloudError as err:
                response = err.response()
            response.headers["x-ms-request-id"] = str(uuid.uuid4())
            if request.method == "GET":
                response.headers["x-ms-ratelimit-remaining-subscription-reads"] = "11999"
            else:
                response.headers["x-ms-ratelimit-remaining-subscription-writes"] = "1199"
            return response

        return wrapped

    def _authorize(self, request: web.Request) -> None:
        if self.settings.auth_fault == 403:
            raise CloudError(
                403,
                "AuthorizationFailed",
                "The client does not have authorization to perform this action (injected by the emulator).",
            )
        if self.settings.auth_fault == 401:
            raise CloudError(401, "InvalidAuthenticationToken", "The access token is invalid.")
        self.tokens.verify(request.headers.get("Authorization"))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _find(self, request: web.Request) -> GroupRecord:
        info = request.match_info
        record = self.groups.get(_key(info["subscription"], info["resource_group"], info["name"]))
        if record is None:
            raise not_found("containerGroups", info["name"], info["resource_group"])
        return record

    def _find_live(self, request: web.Request) -> GroupRecord:
        record = self._find(request)
        if record.deletion is not None:
            raise CloudError(
                409,
                "ContainerGroupTransitioning",
                f"The container group '{record.name}' is being deleted; retry later.",
            )
        return record

    def _new_deployment(self, record_key: tuple[str, ...], spec: GroupSpec) -> GroupDeployment:
        folder = "-".join(record_key[1:]) + f"-{next(self._deployment_ids)}"
        root = self.ctx.workdir / "aci"
        deployment = GroupDeployment(spec, self.settings, root / folder, root / "shares")
        self._deployments.add(deployment)
        return deployment

    async def _retire(self, deployment: GroupDeployment) -> None:
        """Stop a deployment for good and remove its files."""
        await deployment.stop(self.settings.stop_grace_s)
        deployment.cleanup_files()
        self._deployments.discard(deployment)

    def _operation(self, request: web.Request, outcome: asyncio.Future[str], location: str) -> dict[str, str]:
        """Register an operation; return the LRO headers that point at it."""
        op_id = str(uuid.uuid4())
        region = location.replace(" ", "").lower()
        path = (
            f"/subscriptions/{request.match_info['subscription']}/providers/{PROVIDER}"
            f"/locations/{region}/operations/{op_id}"
        )
        self.operations[op_id] = Operation(op_id, path, outcome)
        if len(self.operations) > MAX_OPERATIONS:
            finished = [key for key, op in self.operations.items() if op.outcome.done()]
            for key in finished[: len(self.operations) - MAX_OPERATIONS]:
                del self.operations[key]
        headers = {"Azure-AsyncOperation": f"{request.url.origin()}{path}?api-version={API_VERSION}"}
        headers.update(self._retry_after())
        return headers

    def _retry_after(self) -> dict[str, str]:
        headers = {"Retry-After": str(max(1, self.settings.retry_after_s))}
        if self.settings.retry_after_ms:
            headers["retry-after-ms"] = str(self.settings.retry_after_ms)
        return headers

    def _replace_deployment(self, record: GroupRecord, spec: GroupSpec) -> Awaitable[None]:
        """Put a new deployment of ``spec`` on the record now; the returned awaitable stops the old
        one and then starts the new one (unless it was replaced or deleted meanwhile)."""
        old = record.deployment
        record.spec = spec
        new = self._new_deployment(_key(record.subscription_id, record.resource_group, record.name), spec)
        record.deployment = new

        async def handover() -> None:
            await self._retire(old)
            if record.deployment is new and record.deletion is None:
                new.start()

        return handover()

    @staticmethod
    async def _json_body(request: web.Request) -> Any:
        try:
            return await request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request(f"The request content is not valid JSON: {exc}") from exc

    # -- container groups --------------------------------------------------------------------------
    async def put_group(self, request: web.Request) -> web.Response:
        info = request.match_info
        spec = parse_group(await self._json_body(request), info["name"])
        key = _key(info["subscription"], info["resource_group"], info["name"])
        record = self.groups.get(key)
        assign_identity(spec.body, record.spec.body if record is not None else None)
        if record is None:
            deployment = self._new_deployment(key, spec)
            record = GroupRecord(info["subscription"], info["resource_group"], info["name"], spec, deployment)
            self.groups[key] = record
            deployment.start()
            status = 201
        else:
            if record.deletion is not None:
                raise CloudError(
                    409,
                    "ContainerGroupTransitioning",
                    f"The container group '{record.name}' is being deleted.",
                )
            status = 200
            if spec.runtime_properties() != record.spec.runtime_properties():
                self._spawn(self._replace_deployment(record, spec))
            else:
                record.spec = spec
        outcome = record.deployment.provisioned
        if outcome.done():  # nothing to (re)deploy: the update itself succeeded
            outcome = asyncio.get_running_loop().create_future()
            outcome.set_result("Succeeded")
        headers = self._operation(request, outcome, spec.location)
        return web.json_response(record.render(), status=status, headers=headers)

    async def get_group(self, request: web.Request) -> web.Response:
        return web.json_response(self._find(request).render())

    async def patch_group(self, request: web.Request) -> web.Response:
        record = self._find_live(request)
        body = await self._json_body(request)
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        tags = body.get("tags")
        if tags is not None:
            if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
                raise bad_request("'tags' must map names to strings.", "tags")
            record.spec.body["tags"] = dict(tags)
        return web.json_response(record.render())

    async def delete_group(self, request: web.Request) -> web.Response:
        try:
            record = self._find(request)
        except CloudError:
            return web.Response(status=204)
        if record.deletion is None:
            record.deletion = asyncio.get_running_loop().create_future()
            self._spawn(self._delete(record))
        return web.Response(
            status=202, headers=self._operation(request, record.deletion, record.spec.location)
        )

    async def _delete(self, record: GroupRecord) -> None:
        assert record.deletion is not None
        try:
            await self._retire(record.deployment)
        finally:
            self.groups.pop(_key(record.subscription_id, record.resource_group, record.name), None)
            if not record.deletion.done():
                record.deletion.set_result("Succeeded")

    async def start_group(self, request: web.Request) -> web.Response:
        record = self._find_live(request)
        if record.deployment.active:
            return web.Response(status=204)
        self._spawn(self._replace_deployment(record, record.spec))
        headers = self._operation(request, record.deployment.provisioned, record.spec.location)
        return web.Response(status=202, headers=headers)

    async def stop_group(self, request: web.Request) -> web.Response:
        record = self._find_live(request)
        await record.deployment.stop(self.settings.stop_grace_s)
        return web.Response(status=204)

    async def restart_group(self, request: web.Request) -> web.Response:
        record = self._find_live(request)
        await self._replace_deployment(record, record.spec)
        return web.Response(status=204)

    async def container_logs(self, request: web.Request) -> web.Response:
        record = self._find(request)
        container = request.match_info["container"]
        runtime = record.deployment.runtime(container)
        if runtime is None:
            raise CloudError(
                404,
                "ResourceNotFound",
                f"The container '{container}' was not found in container group '{record.name}'.",
            )
        tail_raw = request.query.get("tail")
        tail: int | None = None
        if tail_raw is not None:
            try:
                tail = int(tail_raw)
            except ValueError:
                tail = -1
            if tail < 0:
                raise bad_request("The query parameter 'tail' must be a non-negative integer.", "tail")
        timestamps = _bool_param(request.query.get("timestamps"), "timestamps")
        return web.json_response({"content": runtime.logs.render(tail, timestamps)})

    def _running_container(self, request: web.Request) -> ContainerRuntime:
        record = self._find_live(request)
        name = request.match_info["container"]
        runtime = record.deployment.containers.get(name)
        if runtime is None:
            raise CloudError(
                404,
                "ResourceNotFound",
                f"The container '{name}' was not found in container group '{record.name}'.",
            )
        if runtime.pid is None:
            raise CloudError(
                409,
                "ContainerNotRunning",
                f"The container '{name}' of container group '{record.name}' is not running.",
            )
        return runtime

    async def container_exec(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        command = body.get("command") if isinstance(body, dict) else None
        if not isinstance(command, str) or not command.strip():
            raise bad_request("The exec request needs a 'command'.", "command")
        runtime = self._running_container(request)
        return web.json_response(self.bridge.open(request, "exec", runtime, command))

    async def container_attach(self, request: web.Request) -> web.Response:
        return web.json_response(self.bridge.open(request, "attach", self._running_container(request)))

    async def usages(self, request: web.Request) -> web.Response:
        sub = request.match_info["subscription"].lower()
        region = request.match_info["location"].replace(" ", "").lower()
        count = sum(
            1
            for key, record in self.groups.items()
            if key[0] == sub and record.spec.location.replace(" ", "").lower() == region
        )
        usage = {
            "unit": "Count",
            "currentValue": count,
            "limit": GROUP_QUOTA,
            "name": {"value": "ContainerGroups", "localizedValue": "Container Groups"},
        }
        return web.json_response({"value": [usage]})

    async def list_operations(self, _: web.Request) -> web.Response:
        value = [
            {
                "name": name,
                "display": {
                    "provider": "Microsoft Container Instance",
                    "resource": resource,
                    "operation": operation,
                    "description": description,
                },
                "origin": "User",
            }
            for name, resource, operation, description in OPERATIONS
        ]
        return web.json_response({"value": value})

    # -- lists -------------------------------------------------------------------------------------
    def _page(
        self,
        request: web.Request,
        records: Iterable[GroupRecord],
        key_of: Callable[[GroupRecord], tuple[str, ...]],
    ) -> web.Response:
        ordered = sorted(records, key=key_of)
        token = request.query.get("$skiptoken")
        if token:
            after = _decode_token(token)
            ordered = [r for r in ordered if key_of(r) > after]
        page = ordered[: self.settings.page_size]
        body: dict[str, Any] = {"value": [r.render() for r in page]}
        if len(ordered) > len(page):
            next_token = _encode_token(key_of(page[-1]))
            body["nextLink"] = (
                f"{request.url.origin()}{request.path}?api-version={API_VERSION}&$skiptoken={next_token}"
            )
        return web.json_response(body)

    async def list_in_resource_group(self, request: web.Request) -> web.Response:
        sub, rg = request.match_info["subscription"].lower(), request.match_info["resource_group"].lower()
        records = [r for k, r in self.groups.items() if k[0] == sub and k[1] == rg]
        return self._page(request, records, lambda r: (r.name.lower(),))

    async def list_in_subscription(self, request: web.Request) -> web.Response:
        sub = request.match_info["subscription"].lower()
        records = [r for k, r in self.groups.items() if k[0] == sub]
        return self._page(request, records, lambda r: (r.resource_group.lower(), r.name.lower()))

    async def get_operation(self, request: web.Request) -> web.Response:
        op = self.operations.get(request.match_info["operation"])
        if op is None:
            raise CloudError(404, "OperationNotFound", "The operation was not found.")
        headers = self._retry_after() if op.status() == "InProgress" else {}
        return web.json_response(op.render(), headers=headers)

    # -- admin -------------------------------------------------------------------------------------
    async def issue_token(self, request: web.Request) -> web.Response:
        """``POST {admin}/aci/token`` ``{"audience"?, "lifetime_s"?}``: a bearer token the emulator accepts
        (or, with another audience or a lifetime <= 0, one it refuses with ARM's error)."""
        body = await request.json() if request.can_read_body else {}
        audience = str(body.get("audience") or "https://management.azure.com/")
        lifetime = float(body.get("lifetime_s", DEFAULT_LIFETIME_S))
        return web.json_response({"token": self.tokens.issue(audience, lifetime)})

    async def get_settings(self, _: web.Request) -> web.Response:
        return web.json_response(self.settings.as_dict())

    async def put_settings(self, request: web.Request) -> web.Response:
        return await put_admin_settings(request, self.settings)

    async def admin_groups(self, _: web.Request) -> web.Response:
        """Each group's state and the pid of every running container process (for tests and debugging)."""
        return web.json_response(
            [
                {
                    "id": record.resource_id,
                    "state": record.deployment.state(),
                    "provisioningState": record.deployment.provisioning_state,
                    "processes": {name: rt.pid for name, rt in record.deployment.containers.items()},
                }
                for record in self.groups.values()
            ]
        )
