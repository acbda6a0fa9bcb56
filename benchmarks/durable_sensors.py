"""500 deferred Durable sensors in one event loop, as the triggerer runs them: RSS and poll requests/s.

Run: ``.venv/bin/python benchmarks/durable_sensors.py [--triggers 500] [--seconds 20] [--poll 5]``.

Starts its own emulator (``tests/function_apps/durable_patterns.py``, 20 ms latency per request) and N
``approval_orchestrator`` instances that wait for an ``Approval`` event, then runs N
``DurableOrchestrationTrigger.run()`` generators concurrently in this process's loop (each with its own
``DurableAsyncHook``: one aiohttp session per trigger, as in a triggerer). Measured: RSS before and with
the triggers (psutil), status requests per second as counted by the emulator against the ideal
N / poll, event-loop lag of a 50 ms ticker, and, after raising ``Approval`` on every instance, the time
until every trigger has fired its success event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _loop_lag import ticker  # noqa: E402

from airflow_azure_compute.testing.stack import run_emulator  # noqa: E402

APP = ROOT / "tests" / "function_apps" / "durable_patterns.py"


def admin(ep: dict[str, Any], path: str, body: Any = None, method: str = "GET") -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{ep['durable']['admin_url']}/{path}",
        data=data,
        method=method,
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # 127.0.0.1 only
        return json.loads(response.read() or b"null")


def status_requests(ep: dict[str, Any]) -> int:
    counts = admin(ep, "counters")["requests"]
    return sum(n for route, n in counts.items() if route.startswith("GET") and "{instanceId}" in route)


async def bounded(limit: int, calls: list[Any]) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(call: Any) -> None:
        async with gate:
            await call

    await asyncio.gather(*(one(c) for c in calls))


async def run(args: argparse.Namespace, ep: dict[str, Any]) -> None:
    from airflow_azure_compute.hooks.durable import DurableAsyncHook
    from airflow_azure_compute.triggers.durable import DurableOrchestrationTrigger

    ids = [f"bench-{i:04d}" for i in range(args.triggers)]
    async with DurableAsyncHook() as hook:
        await bounded(
            50, [hook.start("approval_orchestrator", instance_id=i, input={"timeout_s": 3600}) for i in ids]
        )
    proc = psutil.Process()
    base_rss = proc.memory_info().rss
    admin(ep, "counters/reset", {}, method="POST")
    deadline = time.time() + 3600
    triggers = [
        DurableOrchestrationTrigger(instance_id=i, poll_interval=args.poll, deadline=deadline) for i in ids
    ]
    done: dict[str, float] = {}

    async def drive(trigger: DurableOrchestrationTrigger) -> None:
        async for event in trigger.run():
            if event.payload["status"] == "success":
                done[trigger.instance_id] = time.monotonic()
            return

    lags: list[float] = []
    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(lags, stop))
    started = time.monotonic()
    tasks = [asyncio.create_task(drive(t)) for t in triggers]
    peak = base_rss
    while time.monotonic() - started < args.seconds:
        await asyncio.sleep(1)
        peak = max(peak, proc.memory_info().rss)
    polled = status_requests(ep)
    elapsed = time.monotonic() - started
    async with DurableAsyncHook() as hook:
        raised = time.monotonic()
        await bounded(50, [hook.raise_event(i, "Approval", {"ok": True}) for i in ids])
    await asyncio.wait(tasks, timeout=args.poll * 4 + 60)
    drained = (max(done.values()) - raised) if done else float("nan")
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await tick
    lags.sort()
    p99 = lags[int(len(lags) * 0.99) - 1] if lags else 0.0
    ideal = args.triggers / args.poll
    rate = polled / elapsed
    print(
        f"triggers: {args.triggers}, poll every {args.poll:g}s, {elapsed:.0f}s measured, 20 ms latency per request"
    )
    print(
        f"RSS before: {base_rss / 2**20:.0f} MiB, peak with triggers: {peak / 2**20:.0f} MiB "
        f"(+{(peak - base_rss) / args.triggers / 1024:.0f} KiB per trigger)"
    )
    print(f"status polls: {rate:.1f}/s, ideal {ideal:.1f}/s, ratio {rate / ideal:.2f}")
    print(
        f"event-loop lag p50 {statistics.median(lags) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {lags[-1] * 1000:.1f} ms"
    )
    print(
        f"after raising Approval on all: {len(done)}/{args.triggers} success events in {drained:.1f}s "
        f"({drained / args.poll:.2f} poll intervals)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--triggers", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--poll", type=float, default=5)
    parser.add_argument("--latency-ms", type=float, default=20)
    args = parser.parse_args()
    with run_emulator(function_apps=[APP]) as ep:
        durable = ep["durable"]
        os.environ["AIRFLOW_CONN_AZURE_COMPUTE_DURABLE_DEFAULT"] = json.dumps(
            {"conn_type": "azure_compute_durable", "host": durable["url"], "password": durable["key"]}
        )
        admin(
            ep, "faults", {"latency_ms": args.latency_ms, "error_rate": 0.0, "reset_rate": 0.0}, method="PUT"
        )
        asyncio.run(run(args, ep))


if __name__ == "__main__":
    main()
