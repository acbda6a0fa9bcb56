"""Fan-out of N Batch tasks: bulk submission against one ``create_task`` per task, with injected latency.

Run: ``.venv/bin/python benchmarks/batch_fanout.py [--tasks 10000] [--latency-ms 20] [--baseline-sample 300]``.

Starts its own emulator with ``latency-ms`` added to every Batch request, on a pool without nodes (tasks
stay queued). Measures, in one run:

* ``BatchHook.create_tasks`` (100 tasks per request, 8 requests in flight, our own deadline) for N tasks;
* the official provider's way, one ``create_task`` request per task, on ``baseline-sample`` tasks and
  scaled linearly to N (the full baseline would take N x latency);
* the floor ⌈N/100⌉ x latency / concurrency.

Prints the speed-up against one-by-one and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import math
import time

from _batch_common import admin, batch_emulator, empty_job, task_bodies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--baseline-sample", type=int, default=300)
    args = parser.parse_args()

    with batch_emulator(args.latency_ms) as ep:
        from azure.batch import models

        from airflow_azure_compute.hooks.batch import BatchHook

        hook = BatchHook()
        empty_job("bench-bulk", "bench-pool")
        empty_job("bench-one", "bench-pool")
        hook.get_task_counts("bench-bulk")  # warm the connection pool and the credential

        bodies = task_bodies(args.tasks)
        admin(ep, "counters/reset", {}, method="POST")
        start = time.perf_counter()
        result = hook.create_tasks("bench-bulk", bodies, concurrency=args.concurrency)
        bulk = time.perf_counter() - start
        counters = admin(ep, "counters")
        assert result.added == args.tasks, result
        assert hook.get_task_counts("bench-bulk").active == args.tasks

        sample = task_bodies(args.baseline_sample, prefix="one-")
        start = time.perf_counter()
        for body in sample:
            hook.client.create_task("bench-one", models.BatchTaskCreateOptions(body))
        one_each = (time.perf_counter() - start) / len(sample) * args.tasks

        floor = math.ceil(args.tasks / 100) * args.latency_ms / 1000 / args.concurrency
        server_ms = sum(v for k, v in counters["server_ms"].items() if "addtaskcollection" in k)
        print(f"tasks: {args.tasks}, latency: {args.latency_ms} ms, concurrency: {args.concurrency}")
        print(
            f"bulk create_tasks:        {bulk:8.3f} s  ({result.requests} requests, emulator {server_ms / 1000:.3f} s)"
        )
        print(f"one create_task per task: {one_each:8.3f} s  (measured on {len(sample)}, scaled)")
        print(f"floor ceil(N/100)*lat/conc: {floor:6.3f} s")
        print(f"speed-up vs one-by-one: {one_each / bulk:.0f}x (target >= 100x)")
        print(f"ratio to the floor: {bulk / floor:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
