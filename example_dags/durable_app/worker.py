"""Compute function of the Durable + ACI example's workers (seed 004).

The worker pool runs it through the provider's queue worker, which takes the blocks off the pool's
queue, calls :func:`compute` for each, writes the result and deletes the message; the container image
needs only this file (see ``Dockerfile``)::

    python -m airflow_azure_compute.runtime.queue_worker /app/worker.py:compute

:func:`compute` sums the squares of its block and raises ``BlockDone`` on the orchestration that
planned the block, so the orchestrator learns each piece is done.

Environment: ``DURABLE_URL`` (the function app URL), ``DURABLE_KEY`` (secure value: the Durable system
key), optional ``DURABLE_TASK_HUB``.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

EVENT = "BlockDone"
RAISE_ATTEMPTS = 6


def raise_event(instance_id: str, payload: dict) -> None:
    query = {"code": os.environ["DURABLE_KEY"]}
    if os.environ.get("DURABLE_TASK_HUB"):
        query["taskHub"] = os.environ["DURABLE_TASK_HUB"]
    url = (
        f"{os.environ['DURABLE_URL'].rstrip('/')}/runtime/webhooks/durabletask/instances/"
        f"{urllib.parse.quote(instance_id, safe='')}/raiseEvent/{EVENT}?{urllib.parse.urlencode(query)}"
    )
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    # Raising the same event twice is harmless (the orchestrator counts blocks by number), so a throttled,
    # failed or unanswered request is sent again, waiting what the host asks (Retry-After).
    for attempt in range(1, RAISE_ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                if response.status in (200, 202):
                    return
                raise RuntimeError(f"raise event answered {response.status}")
        except urllib.error.HTTPError as err:
            if err.code not in (408, 429, 500, 502, 503, 504) or attempt == RAISE_ATTEMPTS:
                raise
            delay = float(err.headers.get("Retry-After") or 0.5 * 2**attempt)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if attempt == RAISE_ATTEMPTS:
                raise
            delay = 0.5 * 2**attempt
        time.sleep(min(delay, 10.0))


def compute(block: dict) -> dict:
    """One block: the sum of squares of ``start .. stop - 1``, reported to the orchestration."""
    result = {"block": block["block"], "sum": sum(n * n for n in range(block["start"], block["stop"]))}
    raise_event(block["instance_id"], result)
    return result
