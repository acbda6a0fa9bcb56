"""Pool, node and supported-image routes of the Batch emulator."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from airflow_azure_compute.emulator.batch.conditions import check_conditions
from airflow_azure_compute.emulator.batch.engine import BatchEngine
from airflow_azure_compute.emulator.batch.files import delete_file, file_response, list_files, resolve
from airflow_azure_compute.emulator.batch.http_common import (
    AUTOSCALE_RUN_SET,
    metadata_url,
    one,
    page,
    read_json,
)
from airflow_azure_compute.emulator.batch.model import Node, Pool
from airflow_azure_compute.emulator.batch.not_emulated import (
    NOT_EMULATED_OPERATIONS,
    check_pool,
    feature_not_emulated,
)
from airflow_azure_compute.emulator.batch.pool_specs import validate_pool_spec
from airflow_azure_compute.emulator.batch.wire import (
    BatchError,
    check_id,
    entity_headers,
    json_response,
    parse_duration,
)
from airflow_azure_compute.emulator.operations import serves

_NODE_FILE = re.compile(r"^/pools/[^/]+/nodes/[^/]+/files/(?P<path>.+)$")
#: Pool properties a PATCH may change only while the pool has no nodes (as on Azure); nodes created
#: afterwards use the new values.
EMPTY_POOL_PROPERTIES = (
    "vmSize",
    "enableInterNodeCommunication",
    "virtualMachineConfiguration",
    "taskSlotsPerNode",
    "taskSchedulingPolicy",
    "networkConfiguration",
    "userAccounts",
    "mountConfiguration",
    "upgradePolicy",
)
DEALLOCATION_OPTIONS = {"requeue", "terminate", "taskcompletion", "retaineddata"}
SUPPORTED_IMAGES = [
    {
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
        "imageReference": {
            "publisher": "canonical",
            "offer": "0001-com-ubuntu-server-jammy",
            "sku": "22_04-lts",
            "version": "latest",
        },
        "osType": "linux",
        "capabilities": [],
        "verificationType": "verified",
    },
    {
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
        "imageReference": {
            "publisher": "microsoft-dsvm",
            "offer": "ubuntu-hpc",
            "sku": "2204",
            "version": "latest",
        },
        "osType": "linux",
        "capabilities": [],
        "verificationType": "verified",
    },
]


class PoolRoutes:
    """Handlers of ``/pools``, ``/pools/{poolId}/...`` and ``/supportedimages``."""

    def __init__(self, engine: BatchEngine) -> None:
        self.engine = engine

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/pools", serves("Pools_CreatePool", self.create)),
            web.get("/pools", serves("Pools_ListPools", self.list)),
            web.get("/pools/{poolId}", serves("Pools_GetPool", self.get), allow_head=False),
            web.head("/pools/{poolId}", serves("Pools_PoolExists", self.head)),
            web.delete("/pools/{poolId}", serves("Pools_DeletePool", self.delete)),
            web.patch("/pools/{poolId}", serves("Pools_UpdatePool", self.patch)),
            web.post(
                "/pools/{poolId}/updateproperties",
                serves("Pools_ReplacePoolProperties", self.update_properties),
            ),
            web.post("/pools/{poolId}/resize", serves("Pools_ResizePool", self.resize)),
            web.post("/pools/{poolId}/stopresize", serves("Pools_StopPoolResize", self.stop_resize)),
            web.post(
                "/pools/{poolId}/enableautoscale", serves("Pools_EnablePoolAutoScale", self.enable_autoscale)
            ),
            web.post(
                "/pools/{poolId}/disableautoscale",
                serves("Pools_DisablePoolAutoScale", self.disable_autoscale),
            ),
            web.post(
                "/pools/{poolId}/evaluateautoscale",
                serves("Pools_EvaluatePoolAutoScale", self.evaluate_autoscale),
            ),
            web.get("/pools/{poolId}/nodes", serves("Nodes_ListNodes", self.list_nodes)),
            web.get("/pools/{poolId}/nodes/{nodeId}", serves("Nodes_GetNode", self.get_node)),
            web.get(
                "/pools/{poolId}/nodes/{nodeId}/files", serves("Nodes_ListNodeFiles", self.list_node_files)
            ),
            web.get(
                "/pools/{poolId}/nodes/{nodeId}/files/{filePath:.+}",
                serves("Nodes_GetNodeFile", self.get_node_file),
                allow_head=False,
            ),
            web.head(
                "/pools/{poolId}/nodes/{nodeId}/files/{filePath:.+}",
                serves("Nodes_GetNodeFileProperties", self.head_node_file),
            ),
            web.delete(
                "/pools/{poolId}/nodes/{nodeId}/files/{filePath:.+}",
                serves("Nodes_DeleteNodeFile", self.delete_node_file),
            ),
            web.post("/pools/{poolId}/removenodes", serves("Pools_RemoveNodes", self.remove_nodes)),
            web.post(
                "/pools/{poolId}/nodes/{nodeId}/disablescheduling",
                serves("Nodes_DisableNodeScheduling", self.disable_scheduling),
            ),
            web.post(
                "/pools/{poolId}/nodes/{nodeId}/enablescheduling",
                serves("Nodes_EnableNodeScheduling", self.enable_scheduling),
            ),
            web.post("/pools/{poolId}/nodes/{nodeId}/reboot", serves("Nodes_RebootNode", self.reboot_node)),
            web.get("/supportedimages", serves("Pools_ListSupportedImages", self.supported_images)),
            web.get("/nodecounts", serves("Pools_ListPoolNodeCounts", self.node_counts)),
            *(web.route("*", path, self._not_emulated(feature)) for path, feature in NOT_EMULATED_OPERATIONS),
        ]

    @staticmethod
    def _not_emulated(feature: str) -> Any:
        async def refuse(request: web.Request) -> web.Response:
            raise feature_not_emulated(feature, request.path)

        return refuse

    # ------------------------------------------------------------------ helpers
    def pool(self, request: web.Request, *, mutable: bool = False, conditional: bool = False) -> Pool:
        """The request's pool; ``conditional``: a write on it also honours If-Match and its kin (412)."""
        pool_id = request.match_info["poolId"]
        pool = self.engine.pools.get(pool_id.lower())
        if pool is None:
            raise BatchError(404, "PoolNotFound", f"The specified pool {pool_id} does not exist.")
        if conditional:
            check_conditions(request, pool.etag, pool.last_modified)
        if mutable and pool.state == "deleting":
            raise BatchError(409, "PoolBeingDeleted", f"The specified pool {pool.id} is being deleted.")
        return pool

    def node(self, request: web.Request, pool: Pool) -> Node:
        node_id = request.match_info["nodeId"]
        node = pool.nodes.get(node_id)
        if node is None:
            raise BatchError(404, "NodeNotFound", f"The specified node {node_id} does not exist.")
        return node

    def node_wire(self, pool: Pool, node: Node) -> dict:
        spec = pool.spec
        return node.wire(
            pool.url,
            str(spec.get("vmSize") or ""),
            spec.get("startTask"),
            spec.get("virtualMachineConfiguration"),
            spec.get("networkConfiguration"),
        )

    # ------------------------------------------------------------------ pools
    async def create(self, request: web.Request) -> web.Response:
        spec = await read_json(request)
        pool_id = check_id("pool", spec.get("id"))
        validate_pool_spec(spec)
        check_pool(spec, blob_mounts=self.engine.mounts.blob_endpoint is not None)
        if pool_id.lower() in self.engine.pools:
            raise BatchError(409, "PoolExists", f"The specified pool {pool_id} already exists.")
        pool = self.engine.create_pool(spec)
        return web.Response(status=201, headers=entity_headers(pool.etag, pool.last_modified, pool.url))

    @staticmethod
    def _duration(value: object, name: str) -> None:
        if value is None:
            return
        try:
            parse_duration(str(value))
        except ValueError as exc:
            raise BatchError(400, "InvalidPropertyValue", str(exc), {"PropertyName": name}) from exc

    async def list(self, request: web.Request) -> web.Response:
        return page(request, sorted(self.engine.pools.values(), key=lambda p: p.id.lower()), Pool.wire)

    async def get(self, request: web.Request) -> web.Response:
        pool = self.pool(request)
        if check_conditions(request, pool.etag, pool.last_modified):
            return web.Response(status=304, headers=entity_headers(pool.etag, pool.last_modified))
        return one(request, pool.wire(), entity_headers(pool.etag, pool.last_modified))

    async def head(self, request: web.Request) -> web.Response:
        pool = self.pool(request)
        status = 304 if check_conditions(request, pool.etag, pool.last_modified) else 200
        return web.Response(status=status, headers=entity_headers(pool.etag, pool.last_modified))

    async def delete(self, request: web.Request) -> web.Response:
        pool = self.pool(request, conditional=True)
        if pool.state != "deleting":
            self.engine.delete_pool(pool)
        return web.Response(status=202)

    async def patch(self, request: web.Request) -> web.Response:
        pool = self.pool(request, mutable=True, conditional=True)
        body = await read_json(request)
        check_pool(body, blob_mounts=self.engine.mounts.blob_endpoint is not None)
        empty_only = [name for name in EMPTY_POOL_PROPERTIES if name in body]
        if empty_only:
            if pool.nodes:
                raise BatchError(
                    409,
                    "PoolNotEmpty",
                    f"{empty_only[0]} can be updated only while the pool has no nodes.",
                    {"PropertyName": empty_only[0]},
                )
            validate_pool_spec({**pool.spec, **{k: body[k] for k in empty_only}})
        for name in ("startTask", "metadata", "targetNodeCommunicationMode", "displayName", *empty_only):
            if name in body:
                pool.spec[name] = body[name]
        pool.touch()
        return web.Response(status=200, headers=entity_headers(pool.etag, pool.last_modified, pool.url))

    async def update_properties(self, request: web.Request) -> web.Response:
        pool = self.pool(request, mutable=True)
        body = await read_json(request)
        check_pool(body)
        for name in ("startTask", "metadata", "applicationPackageReferences", "targetNodeCommunicationMode"):
            if body.get(name) is None:
                pool.spec.pop(name, None)
            else:
                pool.spec[name] = body[name]
        pool.touch()
        return web.Response(status=204, headers=entity_headers(pool.etag, pool.last_modified))

    async def resize(self, request: web.Request) -> web.Response:
        pool = self.pool(request, mutable=True, conditional=True)
        body = await read_json(request)
        if pool.enable_autoscale:
            raise BatchError(
                409, "AutoScalingEnabled", "The pool has autoscale enabled: disable it before resizing."
            )
        if pool.allocation_state != "steady":
            raise BatchError(409, "PoolBeingResized", f"The pool {pool.id} is already being resized.")
        option = body.get("nodeDeallocationOption")
        if option is not None and option not in DEALLOCATION_OPTIONS:
            raise BatchError(
                400, "InvalidPropertyValue", f"Invalid nodeDeallocationOption {option!r}.",
                {"PropertyName": "nodeDeallocationOption"},
            )  # fmt: skip
        self._duration(body.get("resizeTimeout"), "resizeTimeout")
        self.engine.resize(
            pool,
            int(body.get("targetDedicatedNodes") or 0),
            int(body.get("targetLowPriorityNodes") or 0),
            option,
        )
        return web.Response(status=202, headers=entity_headers(pool.etag, pool.last_modified, pool.url))

    async def stop_resize(self, request: web.Request) -> web.Response:
        pool = self.pool(request, mutable=True, conditional=True)
        if pool.allocation_state == "resizing":
            self.engine.stop_resize(pool)
        return web.Response(status=202, headers=entity_headers(pool.etag, pool.last_modified, pool.url))

    async def enable_autoscale(self, request: web.Request) -> web.Response:
        pool = self.pool(request, mutable=True, conditional=True)
        body = await read_json(request)
        formula = body.get("autoScaleFormula") or pool.autoscale_formula
        if not formula:
            raise BatchError(400, "MissingRequiredProperty", "autoScaleFormula is required.")
        self._duration(body.get("autoScaleEvaluationInterval"), "autoScaleEvaluationInterval")
        self.engine.enable_autoscale(pool, formula, body.get("autoScaleEvaluationInterval"))
        return web.Response(status=200, headers=entity_headers(pool.etag, pool.last_modified, pool.url))

    async def disable_autoscale(self, request: web.Request) -> web.Response:
        pool = self.pool(request, mutable=True)
        self.engine.disable_autoscale(pool)
        return web.Response(status=200, headers=entity_headers(pool.etag, pool.last_modified, pool.url))

    async def evaluate_autoscale(self, request: web.Request) -> web.Response:
        pool = self.pool(request, mutable=True)
        body = await read_json(request)
        formula = body.get("autoScaleFormula")
        if not formula:
            raise BatchError(400, "MissingRequiredProperty", "autoScaleFormula is required.")
        run = self.engine.evaluate_autoscale(pool, formula)
        return json_response(
            {"odata.metadata": metadata_url(request, AUTOSCALE_RUN_SET), **run},
            headers=entity_headers(pool.etag, pool.last_modified, pool.url),
        )

    # ------------------------------------------------------------------ nodes
    async def list_nodes(self, request: web.Request) -> web.Response:
        pool = self.pool(request)
        nodes = sorted(pool.nodes.values(), key=lambda n: n.id)
        return page(request, nodes, lambda n: self.node_wire(pool, n))

    async def get_node(self, request: web.Request) -> web.Response:
        pool = self.pool(request)
        node = self.node(request, pool)
        return one(request, self.node_wire(pool, node), {})

    async def list_node_files(self, request: web.Request) -> web.Response:
        pool = self.pool(request)
        node = self.node(request, pool)
        return list_files(
            request,
            self.engine.runner,
            node.root if node.root.exists() else None,
            f"{pool.url}/nodes/{node.id}",
        )

    def _node_file(self, request: web.Request) -> tuple[str, Path, Path]:
        pool = self.pool(request)
        node = self.node(request, pool)
        match = _NODE_FILE.match(request.raw_path.partition("?")[0])
        relative = unquote(match["path"]) if match else ""
        url = f"{pool.url}/nodes/{node.id}/files/{quote(relative, safe='/')}"
        return url, resolve(self.engine.runner, node.root, relative), node.root

    async def delete_node_file(self, request: web.Request) -> web.Response:
        _, path, root = self._node_file(request)
        return delete_file(request, path, root)

    async def get_node_file(self, request: web.Request) -> web.Response:
        url, path, _ = self._node_file(request)
        return file_response(request, path, url, head=False)

    async def head_node_file(self, request: web.Request) -> web.Response:
        url, path, _ = self._node_file(request)
        return file_response(request, path, url, head=True)

    async def remove_nodes(self, request: web.Request) -> web.Response:
        pool = self.pool(request, mutable=True)
        if pool.allocation_state != "steady":
            raise BatchError(409, "PoolBeingResized", f"The pool {pool.id} is being resized.")
        body = await read_json(request)
        ids = body.get("nodeList") or []
        missing = [i for i in ids if i not in pool.nodes]
        if not ids or missing or len(ids) > 100:
            raise BatchError(
                400, "InvalidPropertyValue", f"nodeList must name 1-100 nodes of the pool; unknown: {missing}"
            )
        option = body.get("nodeDeallocationOption")
        if option is not None and option not in DEALLOCATION_OPTIONS:
            raise BatchError(400, "InvalidPropertyValue", f"Invalid nodeDeallocationOption {option!r}.")
        self.engine.remove_nodes(pool, [pool.nodes[i] for i in ids], option)
        return web.Response(status=202, headers=entity_headers(pool.etag, pool.last_modified, pool.url))

    async def disable_scheduling(self, request: web.Request) -> web.Response:
        pool = self.pool(request)
        node = self.node(request, pool)
        body = await read_json(request)
        option = body.get("nodeDisableSchedulingOption") or "requeue"
        self.engine.disable_node_scheduling(node, option)
        return web.Response(status=200, headers=self._node_headers(pool, node))

    async def enable_scheduling(self, request: web.Request) -> web.Response:
        pool = self.pool(request)
        node = self.node(request, pool)
        node.scheduling_state = "enabled"
        self.engine.wake()
        return web.Response(status=200, headers=self._node_headers(pool, node))

    @staticmethod
    def _node_headers(pool: Pool, node: Node) -> dict[str, str]:
        """The headers of a node action: ``DataServiceId`` names the node; emulated nodes keep no ETag of
        their own, so the pool's ETag and Last-Modified stand in."""
        return entity_headers(pool.etag, pool.last_modified, f"{pool.url}/nodes/{node.id}")

    async def reboot_node(self, request: web.Request) -> web.Response:
        """Restart a node: it boots again and runs the pool's current start task (202)."""
        pool = self.pool(request, mutable=True)
        node = self.node(request, pool)
        if node.state not in ("idle", "running", "starttaskfailed", "unusable", "offline"):
            raise BatchError(
                409, "NodeNotReady", f"The node {node.id} cannot be rebooted in state {node.state}."
            )
        body = await read_json(request) if request.can_read_body else {}
        option = body.get("nodeRebootOption") or "requeue"
        if option not in DEALLOCATION_OPTIONS:
            raise BatchError(
                400, "InvalidPropertyValue", f"Invalid nodeRebootOption {option!r}.",
                {"PropertyName": "nodeRebootOption"},
            )  # fmt: skip
        self.engine.reboot_node(pool, node, option)
        return web.Response(status=202, headers={"DataServiceId": f"{pool.url}/nodes/{node.id}/reboot"})

    async def supported_images(self, request: web.Request) -> web.Response:
        return page(request, SUPPORTED_IMAGES)

    async def node_counts(self, request: web.Request) -> web.Response:
        pools = sorted(self.engine.pools.values(), key=lambda p: p.id.lower())
        return page(request, pools, _node_counts)


_COUNT_NAMES = {
    "starttaskfailed": "startTaskFailed",
    "waitingforstarttask": "waitingForStartTask",
    "leavingpool": "leavingPool",
    "upgradingos": "upgradingOS",
}
_COUNT_KEYS = [
    "creating",
    "idle",
    "offline",
    "preempted",
    "rebooting",
    "reimaging",
    "running",
    "starting",
    "startTaskFailed",
    "leavingPool",
    "unknown",
    "unusable",
    "waitingForStartTask",
    "deallocated",
    "deallocating",
    "upgradingOS",
]


def _node_counts(pool: Pool) -> dict[str, Any]:
    out: dict[str, Any] = {"poolId": pool.id}
    for dedicated, name in ((True, "dedicated"), (False, "lowPriority")):
        counts = dict.fromkeys(_COUNT_KEYS, 0)
        for node in pool.nodes.values():
            if node.is_dedicated == dedicated:
                key = _COUNT_NAMES.get(node.state, node.state)
                counts[key] = counts.get(key, 0) + 1
        counts["total"] = sum(counts.values())
        out[name] = counts
    return out
