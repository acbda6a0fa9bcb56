"""Raw HTTP access to the emulators for the conformance replays.

Batch requests go through the real azure-batch client's pipeline (``send_request``), so they carry a
SharedKey signature computed by the SDK. ARM and Durable requests are plain HTTP(S) with the
emulator's bearer token or function key.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

T = TypeVar("T")
W = TypeVar("W")
BATCH_API = "2025-06-01"
ACI_API = "2023-05-01"


@dataclass
class Reply:
    """One HTTP answer: status, headers (names as sent) and the JSON body (None when empty)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    raw: bytes = b""


class Scenarios(dict[str, Callable[[W, dict[str, Any]], Reply]]):
    """The replays of one service by example name: ``world`` and the example in, the emulator's answer out.

    ``@SCENARIOS.register(name)`` adds one; stacked (or called again) it serves several examples.
    """

    def register(
        self, name: str
    ) -> Callable[[Callable[[W, dict[str, Any]], Reply]], Callable[[W, dict[str, Any]], Reply]]:
        def add(fn: Callable[[W, dict[str, Any]], Reply]) -> Callable[[W, dict[str, Any]], Reply]:
            self[name] = fn
            return fn

        return add


def unique(name: str) -> str:
    """A session-unique variant of an example id (the emulator is shared by the test session)."""
    return f"{name[:40]}-{uuid.uuid4().hex[:8]}"


def wait_for(check: Callable[[], T], *, timeout: float = 30, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


class BatchWire:
    """Signed Batch data-plane requests through the SDK's own pipeline."""

    def __init__(self, endpoints: Mapping[str, Any]) -> None:
        from azure.batch import BatchClient
        from azure.core.credentials import AzureNamedKeyCredential

        batch = endpoints["batch"]
        self.url = batch["url"].rstrip("/")
        self.client = BatchClient(
            batch["url"], AzureNamedKeyCredential(batch["account_name"], batch["account_key"])
        )

    def send(self, method: str, path: str, body: Any = None, query: Mapping[str, str] | None = None) -> Reply:
        from azure.core.rest import HttpRequest

        params = {"api-version": BATCH_API, **(query or {})}
        headers = {"Accept": "application/json"}
        kwargs: dict[str, Any] = {}
        if body is not None:
            headers["Content-Type"] = "application/json; odata=minimalmetadata"
            kwargs["content"] = json.dumps(body).encode()
        elif method in ("POST", "PUT", "PATCH"):
            headers["Content-Type"] = "application/json; odata=minimalmetadata"
            kwargs["content"] = b""
        request = HttpRequest(method, f"{self.url}{path}?{urlencode(params)}", headers=headers, **kwargs)
        from azure.core.exceptions import HttpResponseError

        try:
            response = self.client.send_request(request, stream=True)
        except HttpResponseError as exc:  # the SDK's error policy raises on 4xx/5xx
            if exc.response is None:
                raise
            response = exc.response
        raw = response.read() if method != "HEAD" else b""
        return Reply(response.status_code, dict(response.headers), _decode(raw), raw)

    def close(self) -> None:
        self.client.close()


class HttpWire:
    """Plain HTTP(S) requests to one emulator service (ARM bearer token or Durable key)."""

    def __init__(
        self,
        base_url: str,
        *,
        ca_path: str | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.context = ssl.create_default_context(cafile=ca_path) if ca_path else None
        self.headers = dict(headers or {})
        self.query = dict(query or {})

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        params = {**self.query, **(query or {})}
        url = f"{self.base_url}{path}" + (f"?{urlencode(params)}" if params else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        for name, value in {**self.headers, **(headers or {})}.items():
            request.add_header(name, value)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
                raw = response.read()
                return Reply(response.status, dict(response.headers), _decode(raw), raw)
        except urllib.error.HTTPError as err:
            raw = err.read()
            return Reply(err.code, dict(err.headers), _decode(raw), raw)
