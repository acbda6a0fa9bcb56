"""A loopback fault proxy in front of Azurite, so Blob traffic gets the same fault tests as the emulators.

Azurite has no fault injection. This service forwards every request, unchanged (method, raw path and
query, headers, body), to the Azurite blob endpoint given by ``--storage-upstream`` (or
``EMULATOR_STORAGE_UPSTREAM``) and streams the answer back. The core's middleware applies the same
switches as on the other services (``PUT {admin_url}/faults``: ``latency_ms``, ``error_rate`` of
throttling with ``Retry-After``, ``reset_rate``, ``reset_next``, ``lose_next``), before the request is
forwarded (``lose_next`` after). Throttling is answered as Azure Storage does: ``503`` with its XML
error body and ``x-ms-error-code: ServerBusy``.

Path-style URLs (``http://127.0.0.1:<port>/devstoreaccount1/...``) make the proxy transparent to
Shared Key and SAS signatures: neither covers the host.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from yarl import URL

from airflow_azure_compute.emulator.core import EmulatorService

#: Headers that belong to one hop and are never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
#: Headers aiohttp would add on its own; signatures cover some (``Content-Type``), so none is added.
NO_AUTO_HEADERS = ("Content-Type", "Accept", "Accept-Encoding", "User-Agent")
CHUNK = 256 * 1024


class StorageProxyService(EmulatorService):
    """Forwards to Azurite's blob service with the emulator's fault switches (endpoints key ``storage``)."""

    name: ClassVar[str] = "storage"

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        upstream = getattr(ctx.args, "storage_upstream", None) or os.environ.get("EMULATOR_STORAGE_UPSTREAM")
        parts = urlsplit(upstream) if upstream else None
        self.origin = f"{parts.scheme}://{parts.netloc}" if parts else None
        self.account_path = parts.path.rstrip("/") if parts else ""
        self.session: aiohttp.ClientSession | None = None

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--storage-upstream",
            default=None,
            help="Azurite blob URL (http://127.0.0.1:<port>/devstoreaccount1) the storage fault proxy forwards to",
        )

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self.forward)

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()

    def throttle_response(self, status: int) -> web.Response:
        """Azure Storage signals throttling as ``503 ServerBusy``, never 429 (the Storage SDK does not
        retry a 429): an injected 429 or 503 is answered the way the real service answers."""
        body = (
            '<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>'
            "<Message>The server is busy (injected by the storage fault proxy).</Message></Error>"
        )
        return web.Response(
            status=503,
            body=body.encode(),
            content_type="application/xml",
            headers={"x-ms-error-code": "ServerBusy"},
        )

    def endpoint_info(self, url: str, ca_path: str | None) -> dict[str, Any]:
        info = super().endpoint_info(url, ca_path)
        info["blob_url"] = f"{url}{self.account_path}" if self.origin else None
        info["upstream"] = self.origin
        return info

    async def forward(self, request: web.Request) -> web.StreamResponse:
        if self.origin is None or self.session is None:
            return web.json_response({"error": "the storage proxy has no --storage-upstream"}, status=502)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = await request.read() if request.body_exists else None
        target = URL(f"{self.origin}{request.raw_path}", encoded=True)
        async with self.session.request(
            request.method,
            target,
            headers=headers,
            data=body,
            allow_redirects=False,
            skip_auto_headers=NO_AUTO_HEADERS,
        ) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                    response.headers.add(key, value)
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            if request.method != "HEAD":
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    await response.write(chunk)
            await response.write_eof()
            return response


__all__ = ["StorageProxyService"]
