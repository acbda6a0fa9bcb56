"""Cost of one poll of a 10,000-task job: requests and bytes, ours against listing every task.

Run: ``.venv/bin/python benchmarks/batch_poll.py [--tasks 10000] [--latency-ms 20]``.

Starts its own emulator (``latency-ms`` on every request), creates a job of N queued tasks, then
measures with the emulator's admin counters (requests served, response bytes sent):

* our poll: one ``GET /jobs/{id}/taskcounts`` (``BatchJobSensor`` / ``BatchJobCompleteTrigger``,
  ``scope="job"``);
* our prefix-scoped poll (``scope="prefix"``): a filtered, ``$select``-ed list, 1,000 tasks per page;
* the official provider's trigger: ``list_tasks`` of the whole job with no ``$select``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _batch_common import admin, batch_emulator, empty_job, task_bodies


def measure(ep: dict[str, Any], call: Any) -> tuple[int, int, float]:
    admin(ep, "counters/reset", {}, method="POST")
    start = time.perf_counter()
    call()
    wall = time.perf_counter() - start
    counters = admin(ep, "counters")
    return counters["total_requests"], counters["bytes_sent"], wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=20)
    args = parser.parse_args()
    with batch_emulator(args.latency_ms) as ep:
        from airflow_azure_compute.hooks.batch import BatchHook

        hook = BatchHook()
        empty_job("poll-job", "poll-pool")
        hook.create_tasks("poll-job", task_bodies(args.tasks))
        hook.get_task_counts("poll-job")  # warm up

        ours = measure(ep, lambda: hook.get_task_counts("poll-job"))
        scoped = measure(ep, lambda: hook.get_scoped_counts("poll-job", "t-"))
        official = measure(ep, lambda: list(hook.client.list_tasks("poll-job")))

        print(f"job of {args.tasks} tasks, {args.latency_ms} ms latency per request")
        print(f"{'poll':<34}{'requests':>9}{'bytes':>12}{'wall s':>9}")
        for name, (requests, size, wall) in (
            ("taskcounts (ours, scope=job)", ours),
            ("prefix list (ours, scope=prefix)", scoped),
            ("list every task (official)", official),
        ):
            print(f"{name:<34}{requests:>9}{size:>12}{wall:>9.3f}")
        print(
            f"requests ratio official/ours: {official[0] / ours[0]:.0f}x, bytes ratio: {official[1] / ours[1]:.0f}x"
        )
        print(f"ours: {ours[0]} request, {ours[1]} bytes (target: 1 request, <= 2048 bytes)")


if __name__ == "__main__":
    main()
