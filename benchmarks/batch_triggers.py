"""1,000 deferred Batch sensors in one event loop, as the triggerer runs them: RSS and event-loop lag.

Run: ``.venv/bin/python benchmarks/batch_triggers.py [--triggers 1000] [--seconds 40] [--poll 10]``.

Starts its own emulator (20 ms latency), one job of 100 queued tasks per 10 triggers (on a pool without
nodes, so nothing completes), then runs N ``BatchJobCompleteTrigger.run()`` generators concurrently in
this process's loop, each polling every ``--poll`` seconds with its own ``azure.batch.aio`` client. A
ticker measures event-loop lag (how late a 50 ms sleep wakes up); RSS is read with psutil. Baseline:
the same process before the triggers start.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import psutil
from _batch_common import batch_emulator, empty_job, task_bodies
from _loop_lag import ticker


async def drive(trigger: object, polls: list[int]) -> None:
    async for _event in trigger.run():  # type: ignore[attr-defined]
        polls.append(1)  # an event means the job finished or failed: should not happen here
        return


async def run(args: argparse.Namespace) -> None:
    from airflow_azure_compute.triggers.batch import BatchJobCompleteTrigger

    proc = psutil.Process()
    jobs = max(1, args.triggers // 10)
    triggers = [
        BatchJobCompleteTrigger(
            job_id=f"trig-job-{i % jobs}",
            conn_id="azure_compute_batch_default",
            deadline=time.time() + 3600,
            poll_interval=args.poll,
            expected_tasks=100,
            progress_quiet_s=args.progress_quiet_s,
        )
        for i in range(args.triggers)
    ]
    base_rss = proc.memory_info().rss
    lags: list[float] = []
    events: list[int] = []
    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(lags, stop))
    tasks = [asyncio.create_task(drive(t, events)) for t in triggers]
    peak = base_rss
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        await asyncio.sleep(1)
        peak = max(peak, proc.memory_info().rss)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await tick
    lags.sort()
    p99 = lags[int(len(lags) * 0.99) - 1] if lags else 0.0
    print(f"triggers: {args.triggers}, poll every {args.poll}s, {args.seconds}s, 20 ms latency per request")
    print(
        f"RSS before: {base_rss / 2**20:.0f} MiB, peak with triggers: {peak / 2**20:.0f} MiB (target <= 300)"
    )
    print(
        f"event-loop lag p50 {statistics.median(lags) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {lags[-1] * 1000:.1f} ms (target p99 <= 100 ms)"
    )
    print(f"unexpected events: {len(events)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--poll", type=float, default=10)  # BatchJobSensor default
    parser.add_argument("--progress-quiet-s", type=float, default=0.0)  # 0: a line at every poll
    args = parser.parse_args()
    with batch_emulator(20):
        from airflow_azure_compute.hooks.batch import BatchHook

        hook = BatchHook()
        for j in range(max(1, args.triggers // 10)):
            empty_job(f"trig-job-{j}", "trig-pool")
            hook.create_tasks(f"trig-job-{j}", task_bodies(100))
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
