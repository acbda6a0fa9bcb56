"""Which operation of the emulated API each route serves, read back from a built aiohttp app.

A service registers each route of its public API with the operation it serves, named as the API's
specification names it (the ``operationId`` of the Batch and Container Instances REST specs; the
section of the Durable Functions HTTP API reference):

    web.post("/pools", serves("Pools_CreatePool", self.create))

`claimed_operations` then derives, from the routes an app really has, the operations the emulator
claims, and `unclaimed_routes` lists the routes that serve none (admin routes, emulator-only extras).
The conformance suite and the docs page's operations table are built from these, never from a list
kept by hand.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from airflow_azure_compute.emulator.faults import ADMIN_PREFIX

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: The attribute a route handler carries its operation id in.
OPERATION_ATTR = "emulated_operation"


def serves(operation_id: str, handler: Handler) -> Handler:
    """``handler``, marked as serving ``operation_id`` (a wrapper: bound methods take no attributes)."""

    @functools.wraps(handler)
    async def serve(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    setattr(serve, OPERATION_ATTR, operation_id)
    return serve


def operation_of(handler: object) -> str | None:
    """The operation a route handler serves, or ``None`` for a route outside the emulated API."""
    value = getattr(handler, OPERATION_ATTR, None)
    return value if isinstance(value, str) else None


@dataclass(frozen=True, order=True)
class ServedRoute:
    """One route of an app: ``method`` and ``path`` template, and the operation it serves (if any)."""

    method: str
    path: str
    operation_id: str | None


def app_routes(app: web.Application) -> list[ServedRoute]:
    """Every route of ``app``, without the ``HEAD`` twins aiohttp adds to ``GET`` routes."""
    routes: list[ServedRoute] = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None:
            continue
        if route.method == "HEAD" and any(
            other.method == "GET" and other.handler is route.handler for other in resource
        ):
            continue
        routes.append(ServedRoute(route.method, resource.canonical, operation_of(route.handler)))
    return sorted(routes)


def claimed_operations(app: web.Application) -> dict[str, list[ServedRoute]]:
    """Operation id -> the routes serving it, for every operation ``app`` claims."""
    claimed: dict[str, list[ServedRoute]] = {}
    for route in app_routes(app):
        if route.operation_id is not None:
            claimed.setdefault(route.operation_id, []).append(route)
    return dict(sorted(claimed.items()))


def unclaimed_routes(app: web.Application) -> list[ServedRoute]:
    """Routes of ``app`` serving no operation of the API, the admin routes (``/_emulator``) left out."""
    return [r for r in app_routes(app) if r.operation_id is None and not r.path.startswith(ADMIN_PREFIX)]
