"""The emulator framework with a dummy service: middleware counters, faults, admin routes, TLS, endpoints."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from airflow_azure_compute.emulator.core import (
    EmulatorService,
    ServiceContext,
    build_app,
    build_parser,
    start_services,
    write_atomically,
)
from airflow_azure_compute.emulator.faults import Faults


class Dummy(EmulatorService):
    name = "dummy"

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        self.resets = 0
        self.stopped = False

    def add_routes(self, app: web.Application) -> None:
        async def hello(_: web.Request) -> web.Response:
            return web.json_response({"hello": "world"})

        app.router.add_get("/hello/{who}", hello)

    def reset(self) -> None:
        self.resets += 1

    async def stop(self) -> None:
        self.stopped = True


class DummyTls(Dummy):
    name = "dummytls"
    scheme = "https"


def _args(*extra: str) -> Any:
    return build_parser([Dummy, DummyTls]).parse_args(["--endpoints-file", "/tmp/unused.json", *extra])


async def test_counters_faults_and_admin(tmp_path: Path) -> None:
    service = Dummy(ServiceContext(host="127.0.0.1", workdir=tmp_path, args=_args(), faults=Faults()))
    async with TestClient(TestServer(build_app(service))) as client:
        for who in ("a", "b"):
            assert (await client.get(f"/hello/{who}")).status == 200
        counters = await (await client.get("/_emulator/counters")).json()
        assert counters["requests"] == {"GET /hello/{who}": 2}
        assert counters["bytes_sent"] > 0 and "GET /hello/{who}" in counters["server_ms"]

        answer = await client.put("/_emulator/faults", json={"error_rate": 1.0, "seed": 1})
        assert (await answer.json())["error_rate"] == 1.0
        throttled = await client.get("/hello/c")
        assert throttled.status in (429, 503) and throttled.headers["Retry-After"] == "1"
        assert (await client.get("/_emulator/faults")).status == 200  # admin routes are never faulted
        assert (await client.put("/_emulator/faults", json={"error_rate": 3})).status == 400
        await client.put("/_emulator/faults", json={"error_rate": 0})

        await client.post("/_emulator/counters/reset")
        assert (await (await client.get("/_emulator/counters")).json())["total_requests"] == 0
        await client.post("/_emulator/reset")
        assert service.resets == 1


async def test_start_services_tls_ports_and_stop(tmp_path: Path) -> None:
    running = await start_services([Dummy, DummyTls], _args("--latency-ms", "1"), tmp_path)
    try:
        plain, tls = running.endpoints["dummy"], running.endpoints["dummytls"]
        assert (
            plain["url"].startswith("http://127.0.0.1:") and plain["admin_url"] == plain["url"] + "/_emulator"
        )
        assert tls["url"].startswith("https://127.0.0.1:") and Path(tls["ca_path"]).exists()
        context = ssl.create_default_context(cafile=tls["ca_path"])
        async with aiohttp.ClientSession() as session:
            async with session.get(tls["url"] + "/hello/x", ssl=context) as response:
                assert response.status == 200 and (await response.json()) == {"hello": "world"}
            async with session.get(plain["admin_url"] + "/faults") as response:
                assert (await response.json())["latency_ms"] == 1.0
    finally:
        await running.close()
    assert all(s.stopped for s in running.services)  # type: ignore[attr-defined]


def test_write_atomically(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "endpoints.json"
    write_atomically(target, {"batch": {"url": "http://x"}})
    assert json.loads(target.read_text()) == {"batch": {"url": "http://x"}}
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in target.parent.iterdir()] == ["endpoints.json"]


def test_parser_ports_and_function_apps() -> None:
    args = _args("--batch-port", "1234", "--function-app", "a.py", "--function-app", "b", "--dummy-port", "5")
    assert (args.batch_port, args.aci_port, args.durable_port, args.dummy_port) == (1234, 0, 0, 5)
    assert args.function_apps == ["a.py", "b"]
