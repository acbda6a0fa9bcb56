"""Serve a function app's HTTP-triggered functions under ``/api`` (e.g. its Durable HTTP starter).

A function with ``durable_client_input`` receives the Durable client binding JSON the host would
pass: management URL templates (``INSTANCEID`` placeholder) and ``rpcBaseUrl`` pointing at this
emulator, so ``client.start_new`` and ``client.create_check_status_response`` work unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from typing import Any

from aiohttp import web

from airflow_azure_compute.emulator.durable.loader import HttpFunction

log = logging.getLogger(__name__)

ROUTE_PREFIX = "/api"
_PARAMETER = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(\?)?(?::[^}]*)?\}")


def route_regex(template: str) -> re.Pattern[str]:
    """A Functions route template (``orders/{id:int}/{rest?}``, ``{*path}``) as a regex."""
    pattern = ""
    position = 0
    template = template.strip("/")
    for match in _PARAMETER.finditer(template):
        pattern += re.escape(template[position : match.start()])
        catch_all, name, optional = match.group(1), match.group(2), match.group(3)
        body = f"(?P<{name}>.*)" if catch_all else f"(?P<{name}>[^/]+)"
        if optional or catch_all:
            if pattern.endswith("/"):
                pattern = pattern[:-1] + f"(?:/{body})?"
            else:
                pattern += f"{body}?" if not catch_all else body
        else:
            pattern += body
        position = match.end()
    pattern += re.escape(template[position:])
    return re.compile(f"^{pattern}/?$", re.IGNORECASE)


class HttpFunctions:
    """Dispatches ``/api/...`` requests to the loaded HTTP functions, first matching route wins."""

    def __init__(self, functions: list[HttpFunction], key: str, binding: Any) -> None:
        self.routes = [(route_regex(f.route), f) for f in functions]
        self.key = key
        self.binding = binding  # Callable[[web.Request], dict[str, Any]]

    def add_routes(self, app: web.Application) -> None:
        if self.routes:
            app.router.add_route("*", ROUTE_PREFIX + "/{route:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["route"]
        for regex, function in self.routes:
            match = regex.match(path)
            if match is None or (function.methods and request.method not in function.methods):
                continue
            if not function.anonymous:
                given = request.query.get("code") or request.headers.get("x-functions-key")
                if given != self.key:
                    return web.Response(status=401)
            route_params = {k: v for k, v in match.groupdict().items() if v is not None}
            return await self._invoke(function, request, route_params)
        return web.Response(status=404)

    async def _invoke(
        self, function: HttpFunction, request: web.Request, route_params: dict[str, str]
    ) -> web.StreamResponse:
        import azure.functions as func

        http_request = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query),
            route_params=route_params,
            body=await request.read(),
        )
        kwargs: dict[str, Any] = {function.request_name: http_request}
        if function.client_name:
            kwargs[function.client_name] = json.dumps(self.binding(request))
        output = HttpOutput()
        if function.output_name:
            kwargs[function.output_name] = output
        try:
            if function.is_async:
                result = await function.func(**kwargs)
            else:
                call = functools.partial(function.func, **kwargs)
                result = await asyncio.get_running_loop().run_in_executor(None, call)
        except Exception:
            log.exception("HTTP function %s failed", function.name)
            return web.Response(
                status=500, text=f"Exception while executing function: Functions.{function.name}"
            )
        return to_response(output.get() if function.output_name else result)


class HttpOutput:
    """A named HTTP output binding of the v1 model (``func.Out[func.HttpResponse]``): set once, read after."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, value: Any) -> None:
        self._value = value

    def get(self) -> Any:
        return self._value


def to_response(result: Any) -> web.Response:
    """An aiohttp response from what an HTTP function returned."""
    import azure.functions as func

    if isinstance(result, func.HttpResponse):
        headers = dict(result.headers.items())
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = f"{result.mimetype}; charset={result.charset}"
        return web.Response(status=result.status_code, body=result.get_body(), headers=headers)
    if result is None:
        return web.Response(status=204)
    if isinstance(result, (bytes, str)):
        return web.Response(body=result if isinstance(result, bytes) else result.encode())
    return web.json_response(result)
