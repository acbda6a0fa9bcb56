"""ARM CloudError bodies: ``{"error": {"code", "message", "target", "details"}}``."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class CloudError(Exception):
    """An ARM error answer; handlers raise it, the route wrapper renders it.

    :param status: HTTP status.
    :param code: ARM error code (what ``HttpResponseError.error.code`` shows the SDK user).
    :param message: human-readable message.
    :param target: the offending property, when there is one.
    """

    def __init__(self, status: int, code: str, message: str, target: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.headers: dict[str, str] = {}

    def response(self) -> web.Response:
        response = cloud_error_response(self.status, self.code, self.message, self.target)
        response.headers.update(self.headers)
        return response


def cloud_error_response(status: int, code: str, message: str, target: str | None = None) -> web.Response:
    """A CloudError JSON response (``x-ms-failure-cause`` as ARM sends it for service errors)."""
    error: dict[str, object] = {"code": code, "message": message, "details": []}
    if target:
        error["target"] = target
    return web.json_response({"error": error}, status=status)


def bad_request(message: str, target: str | None = None, code: str = "InvalidRequestContent") -> CloudError:
    return CloudError(400, code, message, target)


def not_found(kind: str, name: str, resource_group: str) -> CloudError:
    return CloudError(
        404,
        "ResourceNotFound",
        f"The Resource 'Microsoft.ContainerInstance/{kind}/{name}' under resource group "
        f"'{resource_group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


@web.middleware
async def unknown_route_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """A path no route serves gets ARM's JSON answer (404 ``InvalidResourceType``), not a plain-text page:
    clients read ``error.code`` from every ARM error."""
    if request.match_info.http_exception is None or not isinstance(
        request.match_info.http_exception, web.HTTPNotFound
    ):
        return await handler(request)
    api_version = request.query.get("api-version", "")
    return cloud_error_response(
        404,
        "InvalidResourceType",
        "The resource type could not be found in the namespace 'Microsoft.ContainerInstance' "
        f"for api version '{api_version}'.",
    )
