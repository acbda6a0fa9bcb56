"""The WebSocket side of ``containers/{name}/exec`` and ``containers/{name}/attach``.

ARM answers those POSTs with ``{"webSocketUri", "password"}``; the client opens the socket and sends
the password as its first message. Here ``exec`` then runs the command (no shell, as ACI does) in the
container's working directory and environment, relaying stdin and output; ``attach`` sends the
container's output so far. A session serves one connection and expires after a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shlex
import time
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from airflow_azure_compute.emulator.aci.runtime import ContainerRuntime

BRIDGE_PATH = "/aci-bridge/{session}"
SESSION_TTL_S = 60.0


@dataclass
class Session:
    kind: str  # "exec" or "attach"
    runtime: ContainerRuntime
    command: list[str]
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16), repr=False)
    expires: float = field(default_factory=lambda: time.monotonic() + SESSION_TTL_S)


class Bridge:
    """One-time exec/attach sessions and their WebSocket handler."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}

    def open(
        self, request: web.Request, kind: str, runtime: ContainerRuntime, command: str = ""
    ) -> dict[str, str]:
        """Register a session; return the ``ContainerExecResponse``/``ContainerAttachResponse`` body."""
        now = time.monotonic()
        for key in [k for k, s in self.sessions.items() if s.expires < now]:
            del self.sessions[key]
        session_id = secrets.token_urlsafe(12)
        session = Session(kind, runtime, shlex.split(command) if command else [])
        self.sessions[session_id] = session
        origin = request.url.origin()
        scheme = "wss" if origin.scheme == "https" else "ws"
        uri = f"{scheme}://{origin.host}:{origin.port}{BRIDGE_PATH.format(session=session_id)}"
        return {"webSocketUri": uri, "password": session.password}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        session = self.sessions.pop(request.match_info["session"], None)
        if session is None or session.expires < time.monotonic():
            raise web.HTTPNotFound(text="no such exec/attach session")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        first = await ws.receive()
        if first.type not in (WSMsgType.TEXT, WSMsgType.BINARY) or _text(first.data) != session.password:
            await ws.close(code=4001, message=b"wrong password")
            return ws
        if session.kind == "attach":
            await ws.send_str(session.runtime.logs.render(None, False))
        else:
            await self._exec(ws, session)
        await ws.close()
        return ws

    async def _exec(self, ws: web.WebSocketResponse, session: Session) -> None:
        runtime = session.runtime
        if runtime.pid is None:  # stopped or deleted since the session was granted
            await ws.send_str(f"container '{runtime.spec.name}' is not running\r\n")
            return
        try:
            proc = await asyncio.create_subprocess_exec(
                *(runtime.localize(part) for part in session.command),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=str(runtime.workdir),
                env=runtime.environment(),
            )
        except OSError as exc:
            await ws.send_str(f"exec failed: {exc.strerror or exc}\r\n")
            return
        assert proc.stdout is not None and proc.stdin is not None
        stdin, stdout = proc.stdin, proc.stdout
        runtime.exec_processes.add(proc)

        async def relay_input() -> None:
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    data = message.data.encode() if isinstance(message.data, str) else message.data
                    stdin.write(data)
                    with contextlib.suppress(ConnectionError):
                        await stdin.drain()

        async def relay_output() -> None:
            with contextlib.suppress(ConnectionError):
                while chunk := await stdout.read(4096):
                    await ws.send_bytes(chunk)
            await proc.wait()

        # the command ends the session when it exits; a client that hangs up ends the command
        tasks = {asyncio.create_task(relay_input()), asyncio.create_task(relay_output())}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            runtime.exec_processes.discard(proc)


def _text(data: str | bytes) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else data
