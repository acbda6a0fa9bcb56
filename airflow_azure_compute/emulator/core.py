"""The emulator framework: one asyncio process, one aiohttp app and port per emulated service.

Each service subclasses `EmulatorService` and is listed in
`airflow_azure_compute.emulator.registry.SERVICES`. The core gives every app a middleware
(request counters, seeded faults), the admin routes under ``/_emulator``, TLS for ``https`` services,
and writes the endpoints file atomically once every service listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from aiohttp import web

from airflow_azure_compute.emulator.faults import (
    ADMIN_PREFIX,
    Counters,
    Faults,
    default_throttle_response,
    make_middleware,
)

log = logging.getLogger("airflow_azure_compute.emulator")


@dataclass
class ServiceContext:
    """What the core gives each service.

    :param host: the address every server binds (127.0.0.1 unless told otherwise).
    :param workdir: a directory the service may write into (``workdir / service.name`` by convention).
    :param args: the parsed command line (services read their own ``--<name>-...`` options).
    :param faults: this service's fault settings (changed at run time by the admin route).
    """

    host: str
    workdir: Path
    args: argparse.Namespace
    faults: Faults
    counters: Counters = field(default_factory=Counters)


class EmulatorService(ABC):
    """Base class of an emulated service.

    Subclasses set `name` (the key in the endpoints file), optionally `scheme`, and
    implement `add_routes`; `start`/`stop` run background loops, `reset`
    drops all state, `endpoint_info` returns the service's endpoints-file object.
    """

    name: ClassVar[str]
    scheme: ClassVar[str] = "http"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @classmethod  # noqa: B027 - optional hook
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add service-specific command-line options (optional)."""

    @abstractmethod
    def add_routes(self, app: web.Application) -> None:
        """Register the service's HTTP routes on ``app``."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Start background loops (called after the app is built, before the endpoints file)."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Cancel loops and kill child processes."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Drop all state (``POST {admin}/reset``)."""

    def throttle_response(self, status: int) -> web.Response:
        """The body of an injected 429/503, in the service's error format."""
        return default_throttle_response(status)

    def endpoint_info(self, url: str, ca_path: str | None) -> dict[str, Any]:
        info: dict[str, Any] = {"url": url}
        if ca_path:
            info["ca_path"] = ca_path
        return info


class AdminSettings(Protocol):
    """Settings changed by an admin ``PUT`` (fault injection, a service's own knobs)."""

    def as_dict(self) -> dict[str, Any]: ...

    def update(self, values: dict[str, Any]) -> None: ...


async def put_admin_settings(request: web.Request, settings: AdminSettings) -> web.Response:
    """Apply a JSON object body to ``settings``: 200 with the new values, 400 naming what was wrong."""
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        settings.update(body)
    except (ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(settings.as_dict())


def _admin_routes(service: EmulatorService) -> list[web.RouteDef]:
    ctx = service.ctx

    async def get_counters(_: web.Request) -> web.Response:
        return web.json_response(ctx.counters.as_dict())

    async def reset_counters(_: web.Request) -> web.Response:
        ctx.counters.reset()
        return web.json_response(ctx.counters.as_dict())

    async def get_faults(_: web.Request) -> web.Response:
        return web.json_response(ctx.faults.as_dict())

    async def put_faults(request: web.Request) -> web.Response:
        return await put_admin_settings(request, ctx.faults)

    async def reset(_: web.Request) -> web.Response:
        service.reset()
        return web.json_response({"reset": service.name})

    return [
        web.get(f"{ADMIN_PREFIX}/counters", get_counters),
        web.post(f"{ADMIN_PREFIX}/counters/reset", reset_counters),
        web.get(f"{ADMIN_PREFIX}/faults", get_faults),
        web.put(f"{ADMIN_PREFIX}/faults", put_faults),
        web.post(f"{ADMIN_PREFIX}/reset", reset),
    ]


def build_app(service: EmulatorService) -> web.Application:
    """The aiohttp app of one service: middleware, admin routes, then the service's routes."""
    ctx = service.ctx
    app = web.Application(
        middlewares=[make_middleware(ctx.faults, ctx.counters, service.throttle_response)],
        client_max_size=64 * 1024 * 1024,
    )
    app.add_routes(_admin_routes(service))
    service.add_routes(app)
    return app


def make_tls(workdir: Path, host: str) -> tuple[ssl.SSLContext, str]:
    """A trustme CA and a server certificate for 127.0.0.1/localhost; returns (context, CA path)."""
    import trustme

    ca = trustme.CA()
    names = sorted({host, "127.0.0.1", "localhost"})
    cert = ca.issue_cert(*names)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    ca_path = workdir / "emulator-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return ctx, str(ca_path)


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to ``path`` through a temporary file and ``os.replace`` (readers never see half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class RunningEmulator:
    """Services, their runners and the endpoints object of a started emulator."""

    services: list[EmulatorService]
    runners: list[web.AppRunner]
    endpoints: dict[str, Any]

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for service in self.services:
            began = loop.time()
            try:
                await service.stop()
            except Exception:
                log.exception("stopping %s failed", service.name)
            log.info("%s stopped in %.2fs", service.name, loop.time() - began)
        began = loop.time()
        await asyncio.gather(*(runner.cleanup() for runner in self.runners))
        log.info("servers closed in %.2fs", loop.time() - began)


def _faults_from_args(args: argparse.Namespace) -> Faults:
    return Faults(
        latency_ms=args.latency_ms, error_rate=args.error_rate, reset_rate=args.reset_rate, seed=args.seed
    )


async def start_services(
    service_classes: Sequence[type[EmulatorService]], args: argparse.Namespace, workdir: Path
) -> RunningEmulator:
    """Build and bind every service, start their loops; return what is needed to stop them."""
    services: list[EmulatorService] = []
    runners: list[web.AppRunner] = []
    endpoints: dict[str, Any] = {}
    running = RunningEmulator(services, runners, endpoints)
    tls: tuple[ssl.SSLContext, str] | None = None
    try:
        for cls in service_classes:
            ctx = ServiceContext(host=args.host, workdir=workdir, args=args, faults=_faults_from_args(args))
            service = cls(ctx)
            app = build_app(service)
            ssl_ctx, ca_path = (None, None)
            if cls.scheme == "https":  # one CA per process, shared by every https service
                tls = tls or make_tls(workdir, args.host)
                ssl_ctx, ca_path = tls
            runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(
                runner, args.host, int(getattr(args, f"{cls.name}_port", 0) or 0), ssl_context=ssl_ctx
            )
            await site.start()
            port = int(runner.addresses[-1][1])
            url = f"{cls.scheme}://{args.host}:{port}"
            services.append(service)
            await service.start()
            info = service.endpoint_info(url, ca_path)
            info.setdefault("admin_url", f"{url}{ADMIN_PREFIX}")
            endpoints[cls.name] = info
            log.info("%s listening on %s", cls.name, url)
    except BaseException:
        await running.close()
        raise
    return running


def build_parser(service_classes: Sequence[type[EmulatorService]]) -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="airflow-azure-compute-emulator",
        description="Local emulators of Azure Batch, Container Instances and Durable Functions.",
    )
    parser.add_argument(
        "--endpoints-file", type=Path, required=True, help="where to write the endpoints JSON"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address every service binds (default 127.0.0.1)")
    parser.add_argument("--workdir", type=Path, default=None, help="state directory (default: a temp dir)")
    parser.add_argument(
        "--function-app",
        dest="function_apps",
        action="append",
        default=[],
        help="a Durable function app (module or file); repeatable",
    )
    names = {"batch", "aci", "durable", *(cls.name for cls in service_classes)}
    for name in sorted(names):
        parser.add_argument(f"--{name}-port", type=int, default=0, help=f"{name} port (0: a free port)")
    parser.add_argument("--seed", type=int, default=int(env("EMULATOR_SEED", "0")))
    parser.add_argument("--latency-ms", type=float, default=float(env("EMULATOR_LATENCY_MS", "0")))
    parser.add_argument("--error-rate", type=float, default=float(env("EMULATOR_ERROR_RATE", "0")))
    parser.add_argument("--reset-rate", type=float, default=float(env("EMULATOR_RESET_RATE", "0")))
    parser.add_argument("--log-level", default=env("EMULATOR_LOG_LEVEL", "INFO"))
    for cls in service_classes:
        cls.add_arguments(parser)
    return parser


async def serve(service_classes: Sequence[type[EmulatorService]], args: argparse.Namespace) -> None:
    """Run until SIGTERM/SIGINT; write the endpoints file once every service listens, remove it at exit."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with tempfile.TemporaryDirectory(prefix="aac-emulator-") as tmp:
        workdir = (args.workdir or Path(tmp)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        running = await start_services(service_classes, args, workdir)
        try:
            write_atomically(args.endpoints_file, running.endpoints)
            log.info("endpoints written to %s", args.endpoints_file)
            await stop.wait()
            log.info("shutting down")
        finally:
            await running.close()
            args.endpoints_file.unlink(missing_ok=True)  # the file exists only while the services serve
