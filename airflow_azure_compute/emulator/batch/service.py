"""The Batch service of the emulator process: routes, SharedKey auth, engine, admin extras."""

from __future__ import annotations

import argparse
import os
import random
from typing import Any

from aiohttp import web

from airflow_azure_compute.emulator.batch.engine import BatchEngine, Timings
from airflow_azure_compute.emulator.batch.http_common import error_middleware, make_auth_middleware, read_json
from airflow_azure_compute.emulator.batch.mounts import blob_endpoint_template
from airflow_azure_compute.emulator.batch.routes_jobs import JobRoutes
from airflow_azure_compute.emulator.batch.routes_pools import PoolRoutes
from airflow_azure_compute.emulator.batch.routes_tasks import TaskRoutes
from airflow_azure_compute.emulator.batch.wire import BatchError, json_response
from airflow_azure_compute.emulator.core import EmulatorService, ServiceContext
from airflow_azure_compute.emulator.faults import ADMIN_PREFIX

DEFAULT_ACCOUNT = "devbatch"
#: A fixed development key (like Azurite's): the emulator is local-only; override with --batch-account-key.
DEFAULT_KEY = "ZW11bGF0b3ItYmF0Y2gta2V5LW5vdC1hLXNlY3JldC0wMDAwMDAwMDAwMDAwMDA="


class BatchService(EmulatorService):
    """Azure Batch data plane (api-version 2025-06-01) for one shared-key account."""

    name = "batch"

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        args = ctx.args
        self.account_name: str = getattr(args, "batch_account_name", None) or DEFAULT_ACCOUNT
        self.account_key: str = getattr(args, "batch_account_key", None) or DEFAULT_KEY
        timings = Timings(
            node_boot_s=float(getattr(args, "batch_node_boot_s", Timings.node_boot_s)),
            resize_s=float(getattr(args, "batch_resize_s", Timings.resize_s)),
            delete_s=float(getattr(args, "batch_delete_s", Timings.delete_s)),
            autoscale_interval_s=float(
                getattr(args, "batch_autoscale_interval_s", Timings.autoscale_interval_s)
            ),
        )
        blob_endpoint = blob_endpoint_template(
            getattr(args, "batch_blob_endpoint", None),
            getattr(args, "storage_upstream", None) or os.environ.get("EMULATOR_STORAGE_UPSTREAM"),
        )
        self.engine = BatchEngine(
            account_name=self.account_name, workdir=ctx.workdir, timings=timings, blob_endpoint=blob_endpoint
        )
        self.forced_auth: dict[str, int] = {}
        self.collection_faults: dict[str, float] = {"servererror_rate": 0.0}
        self._collection_rng = random.Random(ctx.faults.seed)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        env = os.environ.get
        group = parser.add_argument_group("batch")
        group.add_argument("--batch-account-name", default=env("EMULATOR_BATCH_ACCOUNT", DEFAULT_ACCOUNT))
        group.add_argument("--batch-account-key", default=env("EMULATOR_BATCH_KEY", DEFAULT_KEY))
        group.add_argument(
            "--batch-node-boot-s", type=float, default=float(env("EMULATOR_BATCH_NODE_BOOT_S", "0.3"))
        )
        group.add_argument(
            "--batch-resize-s", type=float, default=float(env("EMULATOR_BATCH_RESIZE_S", "0.2"))
        )
        group.add_argument(
            "--batch-delete-s", type=float, default=float(env("EMULATOR_BATCH_DELETE_S", "0.2"))
        )
        group.add_argument(
            "--batch-autoscale-interval-s",
            type=float,
            default=float(env("EMULATOR_BATCH_AUTOSCALE_INTERVAL_S", "1.0")),
            help="cap of the autoscale evaluation interval (Azure: at least 5 minutes)",
        )
        group.add_argument(
            "--batch-blob-endpoint",
            default=env("EMULATOR_BATCH_BLOB_ENDPOINT"),
            help="Blob service URL of a storage account for blob mounts, with {account} in it "
            "(default: the host of --storage-upstream, path-style)",
        )

    def add_routes(self, app: web.Application) -> None:
        app.middlewares.append(error_middleware)
        app.middlewares.append(
            make_auth_middleware(self.account_name, lambda: self.account_key, self.forced_auth)
        )
        app.add_routes(self._admin_routes())
        tasks = TaskRoutes(self.engine, self._collection_server_error)
        for group in (PoolRoutes(self.engine), JobRoutes(self.engine), tasks):
            app.add_routes(group.routes())

    async def start(self) -> None:
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()

    def reset(self) -> None:
        self.engine.reset()

    def _collection_server_error(self) -> bool:
        rate = self.collection_faults["servererror_rate"]
        return bool(rate) and self._collection_rng.random() < rate

    def throttle_response(self, status: int) -> web.Response:
        code = "TooManyRequests" if status == 429 else "ServerBusy"
        return BatchError(
            status, code, "The server is busy (injected by the emulator); retry later."
        ).response()

    def endpoint_info(self, url: str, ca_path: str | None) -> dict[str, Any]:
        self.engine.account_url = url
        return {"url": url, "account_name": self.account_name, "account_key": self.account_key}

    # ------------------------------------------------------------------ admin extras
    def _admin_routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{ADMIN_PREFIX}/pools/{{poolId}}/nodes/{{nodeId}}/preempt", self._preempt),
            web.post(f"{ADMIN_PREFIX}/pools/{{poolId}}/preempt", self._preempt),
            web.put(f"{ADMIN_PREFIX}/pools/{{poolId}}/resizeerror", self._resize_error),
            web.delete(f"{ADMIN_PREFIX}/pools/{{poolId}}/resizeerror", self._resize_error),
            web.put(f"{ADMIN_PREFIX}/auth", self._auth_fault),
            web.put(f"{ADMIN_PREFIX}/collectionfaults", self._collection_fault),
            web.get(f"{ADMIN_PREFIX}/state", self._state),
        ]

    def _admin_pool(self, request: web.Request) -> Any:
        pool = self.engine.pools.get(request.match_info["poolId"].lower())
        if pool is None:
            raise web.HTTPNotFound(text="no such pool")
        return pool

    async def _preempt(self, request: web.Request) -> web.Response:
        """Preempt one node (or every node of the pool); body ``{"recover_after_s": 1.0 | null}``."""
        pool = self._admin_pool(request)
        body = await read_json(request) if request.can_read_body else {}
        recover = body.get("recover_after_s", 1.0)
        node_id = request.match_info.get("nodeId")
        nodes = [pool.nodes[node_id]] if node_id in pool.nodes else []
        if node_id is None:
            nodes = list(pool.nodes.values())
        elif not nodes:
            raise web.HTTPNotFound(text="no such node")
        requeued = []
        for node in nodes:
            requeued += [t.id for t in node.running.values()]
            self.engine.preempt_node(pool, node, None if recover is None else float(recover))
        return web.json_response({"preempted": [n.id for n in nodes], "requeued_tasks": requeued})

    async def _resize_error(self, request: web.Request) -> web.Response:
        """PUT ``{"code", "message"}``: the pool's resizes fail with that error until DELETE."""
        pool = self._admin_pool(request)
        if request.method == "DELETE":
            pool.injected_resize_error = None
            return web.json_response({"resize_error": None})
        body = await read_json(request)
        error = {
            "code": str(body.get("code") or "AllocationFailed"),
            "message": str(body.get("message") or "Injected allocation failure."),
            "values": body.get("values") or [],
        }
        pool.injected_resize_error = error
        if pool.allocation_state == "steady" and pool.resize_done_at is None:
            pool.resize_errors = [dict(error)]
        return web.json_response({"resize_error": error})

    async def _auth_fault(self, request: web.Request) -> web.Response:
        """PUT ``{"status": 401|403, "count": N}``: the next N requests fail authentication."""
        body = await read_json(request)
        self.forced_auth["status"] = int(body.get("status") or 403)
        self.forced_auth["count"] = int(body.get("count") or 0)
        return web.json_response(dict(self.forced_auth))

    async def _collection_fault(self, request: web.Request) -> web.Response:
        """PUT ``{"servererror_rate": F, "seed": N}``: that share of addtaskcollection entries fail transiently."""
        body = await read_json(request)
        rate = float(body.get("servererror_rate", 0.0))
        if not 0.0 <= rate <= 1.0:
            return web.json_response({"error": "servererror_rate must be between 0 and 1"}, status=400)
        self.collection_faults["servererror_rate"] = rate
        if "seed" in body:
            self._collection_rng = random.Random(int(body["seed"]))
        return web.json_response(dict(self.collection_faults))

    async def _state(self, _: web.Request) -> web.Response:
        engine = self.engine
        return json_response(
            {
                "pools": {
                    p.id: {"state": p.state, "nodes": {n.id: n.state for n in p.nodes.values()}}
                    for p in engine.pools.values()
                },
                "jobs": {j.id: {"state": j.state, **j.counts.wire()} for j in engine.jobs.values()},
            }
        )
