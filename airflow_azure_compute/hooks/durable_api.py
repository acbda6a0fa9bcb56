"""The Durable Functions HTTP API as pure data: requests to send, responses to interpret.

Nothing here does I/O. Each public operation is a *flow*: a generator that yields
`DurableRequest` objects, receives `DurableResponse` objects, and returns a result. The sync
and async hooks in `airflow_azure_compute.hooks.durable` only drive flows over their transport, so
the API logic (reattach on a duplicate start, idempotent terminate and purge, error mapping) exists once.

The public API is documented at
https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-http-api ; the paths live under
``/runtime/webhooks/durabletask`` and take the system key ``durabletask_extension`` as ``code``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final
from urllib.parse import quote

from airflow_azure_compute.enums import StrEnum
from airflow_azure_compute.exceptions import AzureComputeConfigError, AzureComputeRemoteError

WEBHOOK_PATH: Final = "runtime/webhooks/durabletask"
MAX_INSTANCE_ID_LEN: Final = 256
_BAD_ID_CHARS = re.compile(r"[/\\#?\x00-\x1f\x7f]")


class RuntimeStatus(str, Enum):
    """``runtimeStatus`` of an orchestration (same values as azure-functions-durable's enum)."""

    PENDING = "Pending"
    RUNNING = "Running"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    SUSPENDED = "Suspended"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"
    TERMINATED = "Terminated"


class SuspendedAction(StrEnum):
    """What a waiting task does when the orchestration is ``Suspended``."""

    WAIT = "wait"  #: keep waiting (someone resumes it)
    FAIL = "fail"  #: fail the task
    RESUME = "resume"  #: resume the instance and keep waiting


#: States in which the instance still exists as live work (a start with the same id reattaches).
ACTIVE: Final = frozenset(
    {RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.CONTINUED_AS_NEW, RuntimeStatus.SUSPENDED}
)


class InstanceAction(StrEnum):
    """A lifecycle action on an orchestration instance (Durable Functions' HTTP management API)."""

    SUSPEND = "suspend"
    RESUME = "resume"
    REWIND = "rewind"
    RESTART = "restart"
    TERMINATE = "terminate"


#: Page size asked for when listing instances.
LIST_PAGE_SIZE: Final = 100
CONTINUATION_HEADER: Final = "x-ms-continuation-token"


#: Terminal states that mean the work did not succeed.
UNSUCCESSFUL: Final = frozenset({RuntimeStatus.FAILED, RuntimeStatus.CANCELED, RuntimeStatus.TERMINATED})


@dataclass(frozen=True)
class OrchestrationStatus:
    """One instance's status as the status endpoint reports it."""

    instance_id: str
    runtime_status: RuntimeStatus
    name: str | None = None
    custom_status: Any = None
    output: Any = None
    created_time: str | None = None
    last_updated_time: str | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> OrchestrationStatus:
        raw = body.get("runtimeStatus")
        try:
            status = RuntimeStatus(raw)
        except ValueError as err:
            raise AzureComputeRemoteError(
                f"status of instance {body.get('instanceId')!r}: unknown runtimeStatus {raw!r}",
                code="UnknownRuntimeStatus",
            ) from err
        return cls(
            instance_id=str(body.get("instanceId", "")),
            runtime_status=status,
            name=body.get("name"),
            custom_status=body.get("customStatus"),
            output=body.get("output"),
            created_time=body.get("createdTime"),
            last_updated_time=body.get("lastUpdatedTime"),
        )

    @property
    def is_terminal(self) -> bool:
        return self.runtime_status not in ACTIVE


#: The runtime states in which each action may be sent (restart with the same id: terminal states only).
ALLOWED_STATES: Final[Mapping[InstanceAction, frozenset[RuntimeStatus]]] = {
    InstanceAction.SUSPEND: frozenset(
        {RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.CONTINUED_AS_NEW}
    ),
    InstanceAction.RESUME: frozenset({RuntimeStatus.SUSPENDED}),
    InstanceAction.REWIND: frozenset({RuntimeStatus.FAILED}),
    InstanceAction.RESTART: frozenset(RuntimeStatus),
    InstanceAction.TERMINATE: ACTIVE,
}


def check_action_allowed(
    action: InstanceAction, status: OrchestrationStatus | None, instance_id: str, *, same_id: bool = False
) -> None:
    """Raise a clear error when ``action`` cannot apply to the instance in its current state."""
    if status is None:
        raise AzureComputeRemoteError(
            f"{action.value} of orchestration {instance_id!r}: no such instance", code="NotFound", status=404
        )
    allowed = ALLOWED_STATES[action]
    if action is InstanceAction.RESTART and same_id:
        allowed = frozenset(RuntimeStatus) - ACTIVE
    if status.runtime_status not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise AzureComputeRemoteError(
            f"cannot {action.value} orchestration {instance_id!r}: it is {status.runtime_status.value}; "
            f"{action.value} applies only to instances that are {names}",
            code="InvalidInstanceState",
        )


@dataclass(frozen=True)
class StartResult:
    """What a start did: the instance id, and whether an already running instance was reattached."""

    instance_id: str
    reattached: bool
    status: OrchestrationStatus | None = None


@dataclass(frozen=True)
class DurableRequest:
    """One HTTP request. ``params`` excludes the key; transports add it (see `DurableApi.auth`)."""

    method: str
    url: str
    operation: str
    params: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    #: Safe to resend after a connection error (the service may have processed the first attempt).
    idempotent: bool = True
    #: Request headers besides Content-Type (e.g. a continuation token).
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        content = {"Content-Type": "application/json"} if self.body is not None else {}
        return {**content, **self.extra_headers}


@dataclass(frozen=True)
class DurableResponse:
    """One HTTP response, as any transport reports it."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body.strip() else None
        except ValueError:
            return None

    def message(self) -> str:
        """The service's error text (``ExceptionMessage``/``Message``), else the body, trimmed."""
        data = self.json()
        if isinstance(data, Mapping):
            for key in ("ExceptionMessage", "Message", "message", "error"):
                if data.get(key):
                    return str(data[key])[:500]
        return self.body.decode("utf-8", "replace").strip()[:500]


Flow = Generator[DurableRequest, DurableResponse, Any]

#: Statuses worth another attempt: throttled, or the service (or a proxy) is temporarily unavailable.
RETRYABLE_STATUS: Final = frozenset({408, 429, 500, 502, 503, 504})


def retry_delay(
    response: DurableResponse | None, attempt: int, *, base: float = 0.5, cap: float = 30.0
) -> float:
    """Seconds to wait before attempt ``attempt + 1``: ``Retry-After`` when given, else exponential."""
    if response is not None:
        for name, value in response.headers.items():
            if name.lower() == "retry-after":
                try:
                    return min(cap, max(0.0, float(value)))
                except ValueError:
                    break
    return float(min(cap, base * 2.0**attempt))


def validate_instance_id(value: object, *, field_name: str = "instance_id") -> str:
    """Check an instance id against the Durable rules; raise a config error naming what is wrong."""
    if not isinstance(value, str) or not value:
        raise AzureComputeConfigError("must be a non-empty string", field=field_name)
    if len(value) > MAX_INSTANCE_ID_LEN:
        raise AzureComputeConfigError(
            f"is {len(value)} characters; Durable instance ids are at most {MAX_INSTANCE_ID_LEN}",
            field=field_name,
        )
    if value.startswith("@"):
        raise AzureComputeConfigError("must not start with '@'", field=field_name)
    if bad := _BAD_ID_CHARS.search(value):
        raise AzureComputeConfigError(
            f"contains {bad.group()!r}; instance ids may not contain '/', '\\\\', '#', '?' or control characters",
            field=field_name,
        )
    return value


def encode_input(value: Any, *, field_name: str = "input") -> bytes | None:
    """The orchestration input as a JSON body; a string must itself be a JSON document.

    ``None`` means "no input". A rendered template is a string, so ``'{"n": 3}'`` is sent as the object
    ``{"n": 3}``; to send a JSON string, quote it: ``'"hello"'``.
    """
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        text = value.decode() if isinstance(value, bytes) else value
        try:
            json.loads(text)
        except ValueError as err:
            raise AzureComputeConfigError(
                f"is not a JSON document ({err.args[0]}); pass a dict/list or a JSON string such as '\"text\"'",
                field=field_name,
            ) from None
        return text.encode()
    try:
        return json.dumps(value, allow_nan=False).encode()
    except (TypeError, ValueError) as err:
        raise AzureComputeConfigError(f"cannot be encoded as JSON: {err}", field=field_name) from None


def _quote(segment: str) -> str:
    return quote(segment, safe="")


def _validate_name(value: object, field_name: str) -> str:
    if not isinstance(value, str) or not value or "/" in value:
        raise AzureComputeConfigError("must be a non-empty name without '/'", field=field_name)
    return value


class DurableApi:
    """Builds requests for one function app and interprets the responses.

    :param base_url: the function app's root URL (``https://<app>.azurewebsites.net``).
    :param key: the system key ``durabletask_extension`` (or the master key), sent as ``code``.
    :param task_hub: task hub name; the app's default when empty.
    :param connection: name of the app setting with the task hub's storage; the app's default when empty.
    """

    def __init__(
        self, base_url: str, key: str | None, *, task_hub: str | None = None, connection: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._scope = {k: v for k, v in (("taskHub", task_hub), ("connection", connection)) if v}

    def auth(self) -> dict[str, str]:
        """Query parameters carrying the key; transports add them so they never sit in a request repr."""
        return {"code": self._key} if self._key else {}

    def _hook_url(self, *segments: str) -> str:
        return "/".join([self.base_url, WEBHOOK_PATH, *(_quote(s) for s in segments)])

    # -- requests ----------------------------------------------------------------------------------------

    def start_request(
        self,
        orchestrator: str,
        instance_id: str | None,
        body: bytes | None,
        *,
        route: str | None = None,
    ) -> DurableRequest:
        """POST the built-in start API, or the app's own HTTP starter ``route`` (relative to the app URL).

        ``route`` may contain ``{function_name}`` and ``{instance_id}`` placeholders.
        """
        if route is not None:
            try:
                path = route.format(function_name=_quote(orchestrator), instance_id=_quote(instance_id or ""))
            except (KeyError, IndexError) as err:
                raise AzureComputeConfigError(
                    f"unknown placeholder {err}; use {{function_name}} and {{instance_id}}",
                    field="start_route",
                ) from None
            return DurableRequest("POST", f"{self.base_url}/{path.lstrip('/')}", "start", {}, body)
        segments = ["orchestrators", orchestrator] + ([instance_id] if instance_id else [])
        return DurableRequest("POST", self._hook_url(*segments), "start", dict(self._scope), body)

    def status_request(self, instance_id: str) -> DurableRequest:
        params = {**self._scope, "showInput": "false"}
        return DurableRequest("GET", self._hook_url("instances", instance_id), "get status", params)

    def raise_event_request(self, instance_id: str, event_name: str, body: bytes) -> DurableRequest:
        url = self._hook_url("instances", instance_id, "raiseEvent", event_name)
        return DurableRequest(
            "POST", url, f"raise event {event_name!r}", dict(self._scope), body, idempotent=False
        )

    def _action_request(self, instance_id: str, action: str, reason: str) -> DurableRequest:
        url = self._hook_url("instances", instance_id, action)
        return DurableRequest("POST", url, action, {**self._scope, "reason": reason})

    def restart_request(self, instance_id: str, *, new_instance_id: bool) -> DurableRequest:
        url = self._hook_url("instances", instance_id, "restart")
        params = {**self._scope, "restartWithNewInstanceId": "true" if new_instance_id else "false"}
        return DurableRequest("POST", url, "restart", params, idempotent=not new_instance_id)

    def list_request(
        self,
        *,
        prefix: str | None = None,
        created_from: str | None = None,
        created_to: str | None = None,
        statuses: Sequence[RuntimeStatus] = (),
        continuation: str | None = None,
    ) -> DurableRequest:
        params = {**self._scope, "showInput": "false", "top": str(LIST_PAGE_SIZE)}
        optional = {
            "instanceIdPrefix": prefix,
            "createdTimeFrom": created_from,
            "createdTimeTo": created_to,
            "runtimeStatus": ",".join(s.value for s in statuses) or None,
        }
        params.update({k: v for k, v in optional.items() if v})
        headers = {CONTINUATION_HEADER: continuation} if continuation else {}
        return DurableRequest(
            "GET", self._hook_url("instances"), "list instances", params, extra_headers=headers
        )

    def purge_request(self, instance_id: str) -> DurableRequest:
        return DurableRequest("DELETE", self._hook_url("instances", instance_id), "purge", dict(self._scope))

    # -- response interpretation ---------------------------------------------------------------------------

    @staticmethod
    def error(
        request: DurableRequest, response: DurableResponse, instance_id: str | None = None
    ) -> Exception:
        """The provider error for a refused request (never includes the URL: it carries the key)."""
        what = f"{request.operation}" + (f" of instance {instance_id!r}" if instance_id else "")
        status = response.status
        if status in (401, 403):
            return AzureComputeRemoteError(
                f"{what}: the function app refused the key ({status}); set the connection's key to the "
                "durabletask_extension system key (or the master key)",
                code="Unauthorized" if status == 401 else "Forbidden",
                status=status,
            )
        detail = response.message()
        return AzureComputeRemoteError(
            f"{what}: HTTP {status}" + (f": {detail}" if detail else ""),
            code={
                400: "BadRequest",
                404: "NotFound",
                409: "Conflict",
                410: "Gone",
                412: "PreconditionFailed",
            }.get(status, f"HTTP{status}"),
            status=status,
        )

    @classmethod
    def parse_status(
        cls, request: DurableRequest, response: DurableResponse, instance_id: str
    ) -> OrchestrationStatus | None:
        """Status from a status response; ``None`` when the instance does not exist (404)."""
        if response.status == 404:
            return None
        if response.status not in (200, 202):
            raise cls.error(request, response, instance_id)
        body = response.json()
        if not isinstance(body, Mapping):
            raise AzureComputeRemoteError(
                f"status of instance {instance_id!r}: the body is not a JSON object"
            )
        return OrchestrationStatus.from_json(body)

    # -- flows -------------------------------------------------------------------------------------------

    def get_status(self, instance_id: str) -> Flow:
        request = self.status_request(instance_id)
        response = yield request
        return self.parse_status(request, response, instance_id)

    def start(
        self,
        orchestrator: str,
        *,
        instance_id: str | None = None,
        input: Any = None,
        route: str | None = None,
    ) -> Flow:
        """Start an orchestration, or reattach to a live instance with the same id. Returns StartResult."""
        _validate_name(orchestrator, "orchestrator")
        if instance_id is not None:
            validate_instance_id(instance_id)
        body = encode_input(input)
        can_reattach = instance_id is not None and (route is None or "{instance_id}" in route)
        if can_reattach:
            assert instance_id is not None
            current = yield from self.get_status(instance_id)
            if current is not None and not current.is_terminal:
                return StartResult(instance_id, reattached=True, status=current)
        request = self.start_request(orchestrator, instance_id, body, route=route)
        response = yield request
        if response.status == 409 and can_reattach:  # started by someone else between status and start
            assert instance_id is not None
            current = yield from self.get_status(instance_id)
            return StartResult(instance_id, reattached=True, status=current)
        if response.status not in (200, 201, 202):
            raise self.error(request, response, instance_id)
        payload = response.json()
        started = payload.get("id") if isinstance(payload, Mapping) else None
        if not started:
            if instance_id is None:
                raise AzureComputeRemoteError(
                    f"start {orchestrator!r}: the response has no instance 'id'; an HTTP starter route must "
                    "return the check-status payload (client.create_check_status_response)",
                    status=response.status,
                )
            started = instance_id
        return StartResult(str(started), reattached=False)

    def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> Flow:
        validate_instance_id(instance_id)
        _validate_name(event_name, "event_name")
        body = encode_input(data, field_name="event_data") or b"null"
        request = self.raise_event_request(instance_id, event_name, body)
        response = yield request
        if response.status not in (200, 202):
            raise self.error(request, response, instance_id)
        return None

    def _action(self, instance_id: str, action: str, reason: str) -> Flow:
        """terminate/suspend/resume; True if sent, False if the instance was already terminal (410)."""
        validate_instance_id(instance_id)
        request = self._action_request(instance_id, action, reason)
        response = yield request
        if response.status == 410:
            return False
        if response.status not in (200, 202):
            raise self.error(request, response, instance_id)
        return True

    def terminate(self, instance_id: str, reason: str = "terminated from Airflow") -> Flow:
        return self._action(instance_id, "terminate", reason)

    def suspend(self, instance_id: str, reason: str = "suspended from Airflow") -> Flow:
        return self._action(instance_id, "suspend", reason)

    def resume(self, instance_id: str, reason: str = "resumed from Airflow") -> Flow:
        return self._action(instance_id, "resume", reason)

    def rewind(self, instance_id: str, reason: str = "rewound from Airflow") -> Flow:
        return self._action(instance_id, "rewind", reason)

    def restart(self, instance_id: str, *, new_instance_id: bool = True) -> Flow:
        """Restart with the original input; returns the id of the instance that runs now."""
        validate_instance_id(instance_id)
        request = self.restart_request(instance_id, new_instance_id=new_instance_id)
        response = yield request
        if response.status not in (200, 201, 202):
            raise self.error(request, response, instance_id)
        payload = response.json()
        started = payload.get("id") if isinstance(payload, Mapping) else None
        return str(started or instance_id)

    def list_instances(
        self,
        *,
        prefix: str | None = None,
        created_from: str | None = None,
        created_to: str | None = None,
        statuses: Sequence[RuntimeStatus] = (),
    ) -> Flow:
        """Every instance matching the filters (all pages), as `OrchestrationStatus`."""
        found: list[OrchestrationStatus] = []
        continuation: str | None = None
        while True:
            request = self.list_request(
                prefix=prefix,
                created_from=created_from,
                created_to=created_to,
                statuses=statuses,
                continuation=continuation,
            )
            response = yield request
            if response.status != 200:
                raise self.error(request, response)
            body = response.json()
            found.extend(
                OrchestrationStatus.from_json(item) for item in body or () if isinstance(item, Mapping)
            )
            continuation = next(
                (v for k, v in response.headers.items() if k.lower() == CONTINUATION_HEADER and v), None
            )
            if not continuation or not body:
                return found

    def purge(self, instance_id: str) -> Flow:
        """Delete the instance history; True if deleted, False if it did not exist (404)."""
        validate_instance_id(instance_id)
        request = self.purge_request(instance_id)
        response = yield request
        if response.status == 404:
            return False
        if response.status != 200:
            raise self.error(request, response, instance_id)
        return True


__all__ = [
    "ACTIVE",
    "ALLOWED_STATES",
    "UNSUCCESSFUL",
    "DurableApi",
    "DurableRequest",
    "DurableResponse",
    "Flow",
    "InstanceAction",
    "OrchestrationStatus",
    "RuntimeStatus",
    "StartResult",
    "SuspendedAction",
    "check_action_allowed",
    "encode_input",
    "retry_delay",
    "validate_instance_id",
]
