"""Throughput and server time of the Batch emulator's ``taskcounts`` GET at 100 concurrent clients.

Run: ``.venv/bin/python benchmarks/emulator_throughput.py [--requests N] [--clients C]``.
Starts its own emulator process, creates a job with 10 tasks and one with 10,000 (on a pool without
nodes, so nothing runs), then fires signed ``GET /jobs/{id}/taskcounts`` requests from C concurrent
aiohttp clients. Server time per request comes from the emulator's admin counters (time spent in the
auth + handler chain); throughput and latency are measured by the client. Printed ratios:
server ms per request against the 1 ms budget, and 10,000-task job against 10-task job (incremental
counts must make them equal).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.request
from email.utils import formatdate
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airflow_azure_compute.emulator.batch.auth import sign, string_to_sign
from airflow_azure_compute.testing.stack import run_emulator

ROUTE = "GET /jobs/{jobId}/taskcounts"


def _headers(
    ep: dict[str, Any], method: str, path: str, query: str, body: bytes | None = None
) -> dict[str, str]:
    headers = {"ocp-date": formatdate(usegmt=True)}
    if body is not None:
        headers["Content-Type"] = "application/json; odata=minimalmetadata"
        headers["Content-Length"] = str(len(body))
    text = string_to_sign(method, headers, ep["account_name"], path, query)
    headers["Authorization"] = f"SharedKey {ep['account_name']}:{sign(ep['account_key'], text)}"
    return headers


def _call(ep: dict[str, Any], method: str, path: str, payload: Any = None) -> None:
    query = "api-version=2025-06-01"
    body = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{ep['url']}{path}?{query}",
        data=body,
        method=method,
        headers=_headers(ep, method, path, query, body),
    )
    urllib.request.urlopen(request, timeout=30).read()


def _admin(ep: dict[str, Any], method: str, path: str) -> Any:
    request = urllib.request.Request(
        ep["admin_url"] + path, method=method, data=b"" if method == "POST" else None
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _setup(ep: dict[str, Any]) -> None:
    vm = {"imageReference": {"publisher": "canonical", "offer": "x", "sku": "y"}, "nodeAgentSKUId": "n"}
    _call(ep, "POST", "/pools", {"id": "bench", "vmSize": "s", "virtualMachineConfiguration": vm})
    for job_id, count in (("small", 10), ("large", 10_000)):
        _call(ep, "POST", "/jobs", {"id": job_id, "poolInfo": {"poolId": "bench"}})
        for start in range(0, count, 100):
            tasks = [
                {"id": f"t{i}", "commandLine": "/bin/true"} for i in range(start, min(count, start + 100))
            ]
            _call(ep, "POST", f"/jobs/{job_id}/addtaskcollection", {"value": tasks})


async def _load(ep: dict[str, Any], job_id: str, total: int, clients: int) -> tuple[float, list[float]]:
    path, query = f"/jobs/{job_id}/taskcounts", "api-version=2025-06-01"
    url = f"{ep['url']}{path}?{query}"
    latencies: list[float] = []
    remaining = total

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            began = time.perf_counter()
            async with session.get(url, headers=_headers(ep, "GET", path, query)) as response:
                await response.read()
                assert response.status == 200, response.status
            latencies.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(clients)))
        return time.perf_counter() - began, latencies


def _measure(ep: dict[str, Any], job_id: str, total: int, clients: int) -> dict[str, float]:
    _admin(ep, "POST", "/counters/reset")
    elapsed, latencies = asyncio.run(_load(ep, job_id, total, clients))
    counters = _admin(ep, "GET", "/counters")
    served = counters["requests"][ROUTE]
    latencies.sort()
    return {
        "rps": total / elapsed,
        "server_ms": counters["server_ms"][ROUTE] / served,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=100)
    args = parser.parse_args()
    with run_emulator() as endpoints:
        ep = endpoints["batch"]
        _setup(ep)
        _measure(ep, "small", 500, args.clients)  # warm-up
        one = _measure(ep, "small", args.requests // 5, 1)
        small = _measure(ep, "small", args.requests, args.clients)
        large = _measure(ep, "large", args.requests, args.clients)
    print(f"taskcounts GET, {args.requests} requests")
    for label, row in (("1 client, 10 tasks", one), (f"{args.clients} clients, 10 tasks", small),
                       (f"{args.clients} clients, 10,000 tasks", large)):  # fmt: skip
        print(
            f"  {label:28s} {row['rps']:8.0f} req/s  server {row['server_ms']:.3f} ms/req"
            f"  client p50 {row['p50_ms']:.1f} ms  p99 {row['p99_ms']:.1f} ms"
        )
    print(f"ratio server time / 1 ms budget (100 clients, 10,000 tasks): {large['server_ms'] / 1.0:.3f}")
    print(f"ratio server time 10,000-task job / 10-task job: {large['server_ms'] / small['server_ms']:.2f}")
    print(f"ratio throughput {args.clients} clients / 1 client: {small['rps'] / one['rps']:.2f}")


if __name__ == "__main__":
    main()
