"""The worker side of a Container Instances worker pool: pull, process, write the result, delete, repeat.

A worker image needs only its function. Run this module (or copy this one file into the image; it needs
the Python standard library, ``azure-storage-queue`` and ``azure-storage-blob``, never Airflow)::

    python -m airflow_azure_compute.runtime.queue_worker mypackage.work:handle
    python queue_worker.py /app/work.py:handle

``handle(value)`` receives one work item (the JSON value the DAG gave) and returns a JSON-serialisable
result. The pool operator sets the protocol's environment (SAS URLs as secure values)::

    AZ_POOL_QUEUE_URL      the pool's queue, with a read+process+update SAS
    AZ_POOL_INPUT_URL      the container holding the items, with a read SAS
    AZ_POOL_OUTPUT_URL     the container receiving results, with a create+write SAS
    AZ_POOL_PREFIX         blob prefix of the pool: items under ``items/``, results under ``results/``
    AZ_POOL_MAX_DEQUEUE    attempts per item before it is reported as poison (default 3)
    AZ_POOL_VISIBILITY_S   seconds a taken message stays invisible to other workers (default 300)
    AZ_POOL_IDLE_S         exit after this many seconds without a message (default 30)

Each message is ``{"item": <index>, "blob": <input blob name>}``. A result blob
``results/<index>.json`` holds ``{"ok": true, "value": ...}``; once an item has failed on
``AZ_POOL_MAX_DEQUEUE`` takes, ``failed/<index>.json`` holds ``{"ok": false, "error": ..., "attempts": n}``:
a poison item, reported by index, never retried again. A failed take that is not the last makes the message visible again at once,
for another worker. The message is deleted only after its result is written, so a worker that dies
mid-item loses nothing: the item comes back after the visibility timeout.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Handler = Callable[[Any], Any]

#: Messages taken per receive call.
BATCH = 4
#: Seconds to wait between empty receives.
EMPTY_WAIT_S = 0.25


@dataclass(frozen=True)
class WorkerConfig:
    """The protocol's environment, read once."""

    queue_url: str
    input_url: str
    output_url: str
    prefix: str
    max_dequeue: int = 3
    visibility_s: int = 300
    idle_s: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WorkerConfig:
        missing = [
            k for k in ("AZ_POOL_QUEUE_URL", "AZ_POOL_INPUT_URL", "AZ_POOL_OUTPUT_URL") if not environ.get(k)
        ]
        if missing:
            raise SystemExit(f"queue worker: {', '.join(missing)} not set; run it in a pool worker container")
        return cls(
            queue_url=environ["AZ_POOL_QUEUE_URL"],
            input_url=environ["AZ_POOL_INPUT_URL"],
            output_url=environ["AZ_POOL_OUTPUT_URL"],
            prefix=environ.get("AZ_POOL_PREFIX", ""),
            max_dequeue=int(environ.get("AZ_POOL_MAX_DEQUEUE", "3")),
            visibility_s=int(environ.get("AZ_POOL_VISIBILITY_S", "300")),
            idle_s=float(environ.get("AZ_POOL_IDLE_S", "30")),
        )


RESULTS = "results/"
FAILED = "failed/"


def result_name(prefix: str, item: int, *, failed: bool = False) -> str:
    """The blob of one item's result, or of its failure report (the operator reads the same names)."""
    return f"{prefix}{FAILED if failed else RESULTS}{item:06d}.json"


class QueueWorker:
    """One worker's loop; ``clients`` are the queue, input and output container clients."""

    def __init__(self, handler: Handler, config: WorkerConfig, *, name: str | None = None) -> None:
        from azure.storage.blob import ContainerClient
        from azure.storage.queue import QueueClient

        self.handler = handler
        self.config = config
        self.name = name or os.environ.get("HOSTNAME") or socket.gethostname()
        self.queue = QueueClient.from_queue_url(config.queue_url)
        self.inputs = ContainerClient.from_container_url(config.input_url)
        self.outputs = ContainerClient.from_container_url(config.output_url)
        self.done = 0
        self.failed = 0

    def _write(self, item: int, payload: dict[str, Any], *, failed: bool = False) -> None:
        data = json.dumps(payload).encode()
        self.outputs.upload_blob(result_name(self.config.prefix, item, failed=failed), data, overwrite=True)

    def process(self, message: Any) -> None:
        """Take one message: run the handler on its item, write the result, delete the message."""
        item: int | None = None
        try:
            body = json.loads(message.content)
            item = int(body["item"])
            value = json.loads(self.inputs.download_blob(body["blob"]).readall())
            result = self.handler(value)
            self._write(item, {"ok": True, "value": result})
            self.queue.delete_message(message)
            self.done += 1
            print(f"{self.name}: item {item} done", flush=True)
        except Exception as err:  # the item fails, the worker goes on
            attempts = int(getattr(message, "dequeue_count", 1) or 1)
            error = f"{type(err).__name__}: {err}"
            print(f"{self.name}: item {item} failed (take {attempts}): {error}", flush=True)
            if item is None or attempts >= self.config.max_dequeue:
                self._poison(message, item, error, attempts, traceback.format_exc())
            else:  # visible again at once, for any worker
                self.queue.update_message(message, visibility_timeout=0)

    def _poison(self, message: Any, item: int | None, error: str, attempts: int, trace: str) -> None:
        if item is not None:
            report = {"ok": False, "error": error, "attempts": attempts, "traceback": trace[-4000:]}
            self._write(item, report, failed=True)
        self.queue.delete_message(message)
        self.failed += 1

    def run(self) -> int:
        """Work until idle for ``idle_s``; returns 0 (items that failed are reported as results)."""
        last_work = time.monotonic()
        while time.monotonic() - last_work < self.config.idle_s:
            messages = list(
                self.queue.receive_messages(max_messages=BATCH, visibility_timeout=self.config.visibility_s)
            )
            if not messages:
                time.sleep(EMPTY_WAIT_S)
                continue
            for message in messages:
                if int(getattr(message, "dequeue_count", 1) or 1) > self.config.max_dequeue:
                    # Taken more often than allowed without a result: its workers died on it.
                    item = json.loads(message.content).get("item")
                    takes = int(message.dequeue_count or 0)
                    self._poison(message, item, "the worker died on every take", takes, "")
                    continue
                self.process(message)
            last_work = time.monotonic()
        print(f"{self.name}: idle for {self.config.idle_s:g}s after {self.done} item(s) "
              f"({self.failed} failed); exiting", flush=True)  # fmt: skip
        return 0


def load_handler(spec: str) -> Handler:
    """``package.module:function`` or ``/path/to/file.py:function``."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise SystemExit(f"queue worker: {spec!r} is not module:function or file.py:function")
    if target.endswith(".py"):
        loader_spec = importlib.util.spec_from_file_location("pool_handler", target)
        if loader_spec is None or loader_spec.loader is None:
            raise SystemExit(f"queue worker: cannot load {target!r}")
        module = importlib.util.module_from_spec(loader_spec)
        loader_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise SystemExit(f"queue worker: {spec!r} is not a function")
    return handler  # type: ignore[no-any-return]


def serve(handler: Handler, environ: Mapping[str, str] | None = None) -> int:
    """Run one worker with ``handler`` until the queue has been idle (what a worker image calls)."""
    return QueueWorker(handler, WorkerConfig.from_env(os.environ if environ is None else environ)).run()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: queue_worker.py module:function | file.py:function", file=sys.stderr)
        return 2
    return serve(load_handler(args[0]))


if __name__ == "__main__":
    sys.exit(main())
