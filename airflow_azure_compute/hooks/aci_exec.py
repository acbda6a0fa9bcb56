"""The WebSocket side of a container exec: ARM grants ``{webSocketUri, password}``; the client opens the
socket, sends the password as its first message, then reads the command's output until the service
closes the socket (the command ended). ACI sends no exit code over the socket."""

from __future__ import annotations

import asyncio
import ssl

from airflow_azure_compute.exceptions import AzureComputeRemoteError

#: Most output kept from one exec (bytes); the rest is dropped with a note.
MAX_OUTPUT = 4 * 1024 * 1024


async def read_exec_output(
    uri: str, password: str, *, ca_bundle: str | None = None, timeout: float = 300
) -> str:
    """Open the exec socket, authenticate, and return the command's output as text.

    Raises `AzureComputeRemoteError` when the socket refuses the password or the command outlives
    ``timeout`` seconds.
    """
    import aiohttp

    context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
    chunks: list[bytes] = []
    size = 0

    async def session() -> None:
        nonlocal size
        async with aiohttp.ClientSession() as http, http.ws_connect(uri, ssl=context) as ws:
            await ws.send_str(password)
            async for message in ws:
                if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    break
                data = message.data.encode() if isinstance(message.data, str) else message.data
                if size < MAX_OUTPUT:
                    chunks.append(data[: MAX_OUTPUT - size])
                size += len(data)
            if ws.close_code not in (None, 1000):
                raise AzureComputeRemoteError(
                    f"exec socket closed with code {ws.close_code}: {ws.exception() or 'refused'}",
                    code="ExecSessionRefused",
                )

    try:
        await asyncio.wait_for(session(), timeout)
    except asyncio.TimeoutError:
        raise AzureComputeRemoteError(
            f"exec command still running after {timeout:g} s: it was abandoned (the process may still run)",
            code="ExecTimeout",
        ) from None
    except aiohttp.ClientError as err:
        raise AzureComputeRemoteError(f"exec socket failed: {err}", code="ExecSocketError") from err
    text = b"".join(chunks).decode("utf-8", "replace")
    if size > MAX_OUTPUT:
        text += f"\n[{size - MAX_OUTPUT} more bytes of output dropped]\n"
    return text
