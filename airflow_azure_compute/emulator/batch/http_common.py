"""Request plumbing shared by the Batch route modules: auth middleware, bodies, paging."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from airflow_azure_compute.emulator.batch import auth
from airflow_azure_compute.emulator.batch.odata import compile_filter, parse_select, project
from airflow_azure_compute.emulator.batch.wire import BatchError, json_response
from airflow_azure_compute.emulator.faults import ADMIN_PREFIX

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_RESULTS = 1000
_ENTITY_SETS = {"nodecounts": "poolnodecounts", "addtaskcollection": "taskaddresult"}
#: The entity set Azure names in the ``odata.metadata`` of error answers and autoscale runs.
ERRORS_SET = "Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"
AUTOSCALE_RUN_SET = "Microsoft.Azure.Batch.Protocol.Entities.AutoScaleRun"
_CHANGES = ("POST", "PUT", "PATCH")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer `BatchError` in the Batch error format (empty body for HEAD); every answer
    carries ``request-id`` and, when asked with ``return-client-request-id``, ``client-request-id``;
    a successful create, update or action carries ``DataServiceId`` (the URL it acted on, unless the
    route names the entity), as Azure's do."""
    response = await _answer(request, handler)
    if not request.path.startswith(ADMIN_PREFIX):
        response.headers["request-id"] = str(uuid.uuid4())
        if request.method in _CHANGES and response.status < 300 and "DataServiceId" not in response.headers:
            response.headers["DataServiceId"] = f"{request.url.origin()}{request.path}"
        client_id = request.headers.get("client-request-id")
        if client_id and request.headers.get("return-client-request-id", "").lower() == "true":
            response.headers["client-request-id"] = client_id
    return response


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    head = request.method == "HEAD"
    metadata = metadata_url(request, ERRORS_SET)
    try:
        return await handler(request)
    except BatchError as exc:
        return exc.response(head=head, metadata=metadata)
    except web.HTTPNotFound:
        return BatchError(404, "ResourceNotFound", f"No Batch operation at {request.path}.").response(
            head=head, metadata=metadata
        )
    except web.HTTPMethodNotAllowed:
        return BatchError(
            405, "MethodNotAllowed", f"{request.method} is not allowed on {request.path}."
        ).response(head=head, metadata=metadata)


def metadata_url(request: web.Request, entity_set: str) -> str:
    """``{account}/$metadata#{entity_set}``, the ``odata.metadata`` of an answer."""
    return f"{request.url.origin()}/$metadata#{entity_set}"


def odata_metadata(request: web.Request, element: bool) -> str:
    """The ``odata.metadata`` URL of an answer: ``{account}/$metadata#{entity set}[/@Element]``."""
    parts = [p for p in request.path.split("/") if p]
    # /pools/{poolId}: the set is the segment before the id; /pools, /jobs/{jobId}/tasks: the last
    name = parts[-2] if element and len(parts) % 2 == 0 else (parts[-1] if parts else "")
    name = _ENTITY_SETS.get(name, name)
    return metadata_url(request, name + ("/@Element" if element else ""))


def make_auth_middleware(account: str, key_ref: Callable[[], str], forced: dict[str, int]) -> Any:
    """SharedKey check on every non-admin request, and the ``api-version`` query parameter."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        if forced.get("count", 0) > 0:
            forced["count"] -= 1
            status = forced.get("status", 403)
            code = "AuthenticationFailed" if status in (401, 403) else "InvalidAuthenticationInfo"
            raise BatchError(status, code, "Injected authentication failure.")
        raw_path, _, raw_query = request.raw_path.partition("?")
        auth.verify(request.method, request.headers, account, key_ref(), raw_path, raw_query)
        if not request.query.get("api-version"):
            raise BatchError(
                400,
                "MissingRequiredQueryParameter",
                "A query parameter that's mandatory for this request is not specified.",
                {"QueryParameterName": "api-version"},
            )
        return await handler(request)

    return middleware


async def read_json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BatchError(400, "InvalidRequestBody", f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BatchError(400, "InvalidRequestBody", "The request body must be a JSON object.")
    return body


def page(
    request: web.Request,
    items: Sequence[Any],
    to_wire: Callable[[Any], Mapping[str, Any]] = lambda item: item,
) -> web.Response:
    """A ``{"value": [...], "odata.nextLink": absolute URL}`` page of ``items``.

    ``$filter``, ``$select`` and ``maxresults`` come from the query. ``$skiptoken`` is the position in
    ``items`` where the page starts scanning, so a full listing converts each item once however many
    pages it takes; the next link repeats every other query parameter (filter and select included).
    ``to_wire`` may return a lazy mapping (``Task.view``): only what the filter and select read is built.
    """
    query = request.query
    predicate = compile_filter(query.get("$filter"))
    select = parse_select(query.get("$select"))
    try:
        limit = int(query.get("maxresults") or MAX_RESULTS)
        position = int(query.get("$skiptoken") or 0)
    except ValueError as exc:
        raise BatchError(400, "InvalidQueryParameterValue", f"Invalid paging parameter: {exc}") from exc
    if not 1 <= limit <= MAX_RESULTS:
        raise BatchError(
            400,
            "InvalidQueryParameterValue",
            "maxresults must be between 1 and 1000.",
            {"QueryParameterName": "maxresults", "QueryParameterValue": str(limit)},
        )
    out: list[dict[str, Any]] = []
    while position < len(items) and len(out) < limit:
        item = to_wire(items[position])
        position += 1
        if predicate is None or predicate(item):
            out.append(project(item, select))
    body: dict[str, Any] = {"odata.metadata": odata_metadata(request, element=False), "value": out}
    if position < len(items):
        params = {k: v for k, v in query.items() if k != "$skiptoken"}
        params["$skiptoken"] = str(position)
        body["odata.nextLink"] = str(request.url.with_query(params))
    return json_response(body)


def one(request: web.Request, item: dict[str, Any], headers: dict[str, str]) -> web.Response:
    """A single entity honouring ``$select``."""
    body = {"odata.metadata": odata_metadata(request, element=True)}
    body.update(project(item, parse_select(request.query.get("$select"))))
    return json_response(body, headers=headers)
