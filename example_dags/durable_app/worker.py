"""Compute worker of the Durable + ACI example: the container image's entrypoint.

Takes messages off the work queue until it has been idle for ``WORKER_IDLE_S`` seconds. For each: read
the input block from Blob storage, compute, write the result next to it, raise ``BlockDone`` on the
orchestration named in the message, delete the message. A message whose processing fails becomes
visible again after the visibility timeout and another worker retries it.

Environment: ``STORAGE_CONNECTION_STRING`` and ``DURABLE_KEY`` (secure values), ``DURABLE_URL`` (the
function app URL), ``WORK_CONTAINER``, ``WORK_QUEUE``, optional ``DURABLE_TASK_HUB``, ``WORKER_IDLE_S``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

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


def compute(numbers: list[int]) -> dict:
    return {"count": len(numbers), "sum": sum(n * n for n in numbers)}


def main() -> int:
    storage = os.environ["STORAGE_CONNECTION_STRING"]
    container = BlobServiceClient.from_connection_string(storage).get_container_client(
        os.environ["WORK_CONTAINER"]
    )
    queue = QueueClient.from_connection_string(storage, os.environ["WORK_QUEUE"])
    idle_s = float(os.environ.get("WORKER_IDLE_S", "60"))
    me = os.environ.get("HOSTNAME") or socket.gethostname()
    done = 0
    last_work = time.monotonic()
    while time.monotonic() - last_work < idle_s:
        messages = list(queue.receive_messages(max_messages=4, visibility_timeout=60))
        if not messages:
            time.sleep(0.2)
            continue
        for message in messages:
            item = json.loads(message.content)
            numbers = json.loads(container.download_blob(item["blob"]).readall())
            result = compute(numbers)
            output = item["blob"].replace("/input/", "/output/")
            container.upload_blob(output, json.dumps(result), overwrite=True)
            raise_event(item["instance_id"], {"block": item["block"], "output": output, "sum": result["sum"]})
            queue.delete_message(message)
            done += 1
            print(f"{me}: block {item['block']} -> {output} (sum {result['sum']})", flush=True)
        last_work = time.monotonic()
    print(f"{me}: idle for {idle_s:g}s after {done} block(s); exiting", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
