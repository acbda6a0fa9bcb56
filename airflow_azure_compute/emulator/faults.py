"""Seeded fault injection and per-route counters shared by every emulated service.

A `Faults` object belongs to one service app; the middleware built by
`make_middleware` applies it to every request except the ``/_emulator`` admin routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ADMIN_PREFIX = "/_emulator"

#: Builds a service-specific error body for an injected throttling status (429 or 503).
ThrottleResponder = Callable[[int], web.Response]


@dataclass
class Faults:
    """Fault settings of one service, changed at run time through ``PUT {admin}/faults``.

    :param latency_ms: delay added before every request is handled.
    :param error_rate: fraction (0..1) of requests answered 429 or 503 with ``Retry-After: 1``.
    :param reset_rate: fraction (0..1) of requests whose connection is reset, after the request was read,
        without an answer (nothing is done).
    :param seed: seed of the random draws, so a failing run can be replayed.
    :param reset_next: the next N requests are reset before they are handled (nothing happens).
    :param lose_next: the next N requests are handled, then their connection is reset: the change is
        made but its answer is lost (what a timeout after commit looks like to a client).
    :param retry_after: the ``Retry-After`` seconds of injected 429/503 answers.
    """

    latency_ms: float = 0.0
    error_rate: float = 0.0
    reset_rate: float = 0.0
    seed: int = 0
    reset_next: int = 0
    lose_next: int = 0
    retry_after: float = 1.0
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.validate()
        self._rng = random.Random(self.seed)

    def validate(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        for name in ("reset_next", "lose_next", "retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("error_rate", "reset_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "reset_rate": self.reset_rate,
            "seed": self.seed,
            "reset_next": self.reset_next,
            "lose_next": self.lose_next,
            "retry_after": self.retry_after,
        }

    def update(self, values: dict[str, Any]) -> None:
        """Apply a partial update; a new ``seed`` restarts the random sequence."""
        unknown = set(values) - {
            "latency_ms",
            "error_rate",
            "reset_rate",
            "seed",
            "reset_next",
            "lose_next",
            "retry_after",
        }
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        candidate = Faults(
            latency_ms=float(values.get("latency_ms", self.latency_ms)),
            error_rate=float(values.get("error_rate", self.error_rate)),
            reset_rate=float(values.get("reset_rate", self.reset_rate)),
            seed=int(values.get("seed", self.seed)),
            reset_next=int(values.get("reset_next", self.reset_next)),
            lose_next=int(values.get("lose_next", self.lose_next)),
            retry_after=float(values.get("retry_after", self.retry_after)),
        )
        self.latency_ms, self.error_rate = candidate.latency_ms, candidate.error_rate
        self.reset_rate = candidate.reset_rate
        self.reset_next, self.lose_next = candidate.reset_next, candidate.lose_next
        self.retry_after = candidate.retry_after
        if "seed" in values:
            self.seed = candidate.seed
            self._rng = random.Random(self.seed)

    def draw(self) -> str | None:
        """Decide the fate of one request: ``"reset"``, ``"lost"``, ``"429"``, ``"503"`` or None (serve it)."""
        if self.reset_next:
            self.reset_next -= 1
            return "reset"
        if self.lose_next:
            self.lose_next -= 1
            return "lost"
        if not (self.error_rate or self.reset_rate):
            return None
        roll = self._rng.random()
        if roll < self.reset_rate:
            return "reset"
        if roll < self.reset_rate + self.error_rate:
            return "429" if self._rng.random() < 0.5 else "503"
        return None


@dataclass
class Counters:
    """Requests per route (``"GET /jobs/{jobId}/taskcounts"``), time spent serving them, bytes sent.

    ``server_seconds`` covers the handler chain below the fault middleware (auth and the service's
    own work), not the injected latency nor aiohttp's HTTP parsing.
    """

    requests: Counter[str] = field(default_factory=Counter)
    server_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    bytes_sent: int = 0
    faults_injected: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "total_requests": sum(self.requests.values()),
            "server_ms": {k: round(v * 1000, 3) for k, v in self.server_seconds.items()},
            "bytes_sent": self.bytes_sent,
            "faults_injected": dict(self.faults_injected),
        }

    def reset(self) -> None:
        self.requests.clear()
        self.server_seconds.clear()
        self.faults_injected.clear()
        self.bytes_sent = 0


def route_key(request: web.Request) -> str:
    """``METHOD pattern`` of the matched route (the raw path when nothing matched)."""
    info = request.match_info.route.resource
    pattern = info.canonical if info is not None else request.path
    return f"{request.method} {pattern}"


def _reset_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # linger 0: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def default_throttle_response(status: int) -> web.Response:
    return web.json_response(
        {"error": {"code": "TooManyRequests" if status == 429 else "ServerBusy", "message": "injected"}},
        status=status,
    )


def make_middleware(
    faults: Faults, counters: Counters, throttle: ThrottleResponder = default_throttle_response
) -> Any:
    """A middleware that counts requests and bytes and applies ``faults`` (never on admin routes)."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        key = route_key(request)
        counters.requests[key] += 1
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        fate = faults.draw()
        if fate == "reset":
            counters.faults_injected["reset"] += 1
            # The whole request is read first: the client has sent it and then loses the connection, the
            # case a non-idempotent retry must handle (a reset while sending looks like "never left").
            with contextlib.suppress(Exception):
                await request.read()
            _reset_connection(request)
            raise asyncio.CancelledError  # aiohttp drops the (already aborted) connection quietly
        if fate == "lost":
            counters.faults_injected["lost"] += 1
            await handler(request)
            _reset_connection(request)
            raise asyncio.CancelledError
        if fate is not None:
            counters.faults_injected[fate] += 1
            response: web.StreamResponse = throttle(int(fate))
            response.headers["Retry-After"] = f"{faults.retry_after:g}"
        else:
            began = time.perf_counter()
            response = await handler(request)
            counters.server_seconds[key] += time.perf_counter() - began
        if isinstance(response, web.Response) and response.body is not None:
            counters.bytes_sent += response.content_length or 0
        else:
            counters.bytes_sent += response.body_length
        return response

    return middleware
