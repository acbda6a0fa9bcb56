"""Liveness and readiness probes of the ACI emulator: their validation and one probe attempt.

A probe runs a command (``exec``) next to the container's process, or sends an HTTP GET to
``127.0.0.1:<port>`` (``httpGet``: the container's process shares the host's network). The
container runtime (`airflow_azure_compute.emulator.aci.runtime`) runs the probe on its period and
acts on the failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_azure_compute.emulator.aci.errors import bad_request

#: Probe timing fields, their default (the ACI/Kubernetes defaults) and their minimum.
_TIMINGS = {
    "initialDelaySeconds": (0, 0),
    "periodSeconds": (10, 1),
    "failureThreshold": (3, 1),
    "successThreshold": (1, 1),
    "timeoutSeconds": (1, 1),
}
_PROBE_KEYS = {"exec", "httpGet", *_TIMINGS}


@dataclass(frozen=True)
class ProbeSpec:
    """A validated probe.

    :param command: the ``exec`` command (argv), or empty for an ``httpGet`` probe.
    :param port: the ``httpGet`` port.
    :param path: the ``httpGet`` path.
    :param scheme: ``http`` or ``https`` (the certificate is not checked, as the kubelet does not).
    :param headers: the ``httpGet`` headers.
    """

    command: tuple[str, ...] = ()
    port: int = 0
    path: str = "/"
    scheme: str = "http"
    headers: Mapping[str, str] = field(default_factory=dict)
    initial_delay_s: float = 0
    period_s: float = 10
    failure_threshold: int = 3
    success_threshold: int = 1
    timeout_s: float = 1


def parse_probe(raw: Any, where: str, liveness: bool) -> ProbeSpec | None:
    """A probe from a container's ``livenessProbe`` / ``readinessProbe``; 400 naming what is wrong."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad_request(f"'{where}' must be a JSON object.", where)
    for key in raw:
        if key not in _PROBE_KEYS:
            raise bad_request(f"'{where}' has the unknown property '{key}'.", f"{where}.{key}")
    timings: dict[str, int] = {}
    for key, (default, minimum) in _TIMINGS.items():
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise bad_request(f"'{where}.{key}' must be an integer of at least {minimum}.", f"{where}.{key}")
        timings[key] = value
    if liveness and timings["successThreshold"] != 1:
        raise bad_request(
            f"'{where}.successThreshold' must be 1 for a liveness probe.", f"{where}.successThreshold"
        )
    kinds = [k for k in ("exec", "httpGet") if raw.get(k) is not None]
    if len(kinds) != 1:
        raise bad_request(
            f"'{where}' must give exactly one of exec and httpGet (got {kinds or 'none'}).", where
        )
    timed = ProbeSpec(
        initial_delay_s=timings["initialDelaySeconds"],
        period_s=timings["periodSeconds"],
        failure_threshold=timings["failureThreshold"],
        success_threshold=timings["successThreshold"],
        timeout_s=timings["timeoutSeconds"],
    )
    if kinds == ["exec"]:
        command = raw["exec"].get("command") if isinstance(raw["exec"], dict) else None
        if not isinstance(command, list) or not command or not all(isinstance(p, str) for p in command):
            raise bad_request(
                f"'{where}.exec.command' must be a non-empty list of strings.", f"{where}.exec.command"
            )
        return replace(timed, command=tuple(command))
    http = raw["httpGet"]
    if not isinstance(http, dict):
        raise bad_request(f"'{where}.httpGet' must be a JSON object.", f"{where}.httpGet")
    port = http.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise bad_request(
            f"'{where}.httpGet.port' must be an integer from 1 to 65535.", f"{where}.httpGet.port"
        )
    scheme = str(http.get("scheme") or "http").lower()
    if scheme not in ("http", "https"):
        raise bad_request(f"'{where}.httpGet.scheme' must be http or https.", f"{where}.httpGet.scheme")
    headers: dict[str, str] = {}
    for position, header in enumerate(http.get("httpHeaders") or []):
        if not isinstance(header, dict) or not isinstance(header.get("name"), str):
            raise bad_request(
                f"'{where}.httpGet.httpHeaders[{position}]' needs a 'name' and a 'value'.",
                f"{where}.httpGet.httpHeaders[{position}]",
            )
        headers[header["name"]] = str(header.get("value") or "")
    path = str(http.get("path") or "/")
    path = path if path.startswith("/") else "/" + path
    return replace(timed, port=port, path=path, scheme=scheme, headers=headers)


async def probe_once(
    probe: ProbeSpec, env: Mapping[str, str], cwd: str, localize: Callable[[str], str]
) -> str | None:
    """Run one attempt of ``probe``: None when it succeeds, else why it failed."""
    if probe.command:
        return await _exec(probe, env, cwd, localize)
    return await _http_get(probe)


async def _exec(
    probe: ProbeSpec, env: Mapping[str, str], cwd: str, localize: Callable[[str], str]
) -> str | None:
    command = [localize(part) for part in probe.command]
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        return f"cannot run {command[0]!r}: {exc.strerror or exc}"
    try:
        code = await asyncio.wait_for(proc.wait(), probe.timeout_s)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return f"command timed out after {probe.timeout_s:g}s"
    return None if code == 0 else f"command exited with {code}"


async def _http_get(probe: ProbeSpec) -> str | None:
    import aiohttp

    url = f"{probe.scheme}://127.0.0.1:{probe.port}{probe.path}"
    timeout = aiohttp.ClientTimeout(total=probe.timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=dict(probe.headers), ssl=False, allow_redirects=False) as answer,
        ):
            status = answer.status
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        return f"GET {url}: {type(exc).__name__}"
    return None if 200 <= status < 400 else f"GET {url} answered {status}"
