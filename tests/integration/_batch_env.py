"""Batch integration helpers: Airflow connections to the emulator + Azurite, admin calls, fresh ids."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any


def admin(
    endpoints: dict[str, Any], path: str, body: dict[str, Any] | None = None, method: str = "GET"
) -> Any:
    """Call the Batch emulator's admin API (``/_emulator/...``)."""
    url = f"{endpoints['batch']['admin_url']}/{path}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def set_faults(endpoints: dict[str, Any], **faults: Any) -> None:
    admin(
        endpoints, "faults", {"latency_ms": 0, "error_rate": 0.0, "reset_rate": 0.0, **faults}, method="PUT"
    )


def fresh(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:10]}"


POOL_BASE = {
    "vm_size": "standard_d2s_v5",
    "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
    "node_agent_sku_id": "batch.node.ubuntu 22.04",
}


def pool_body(pool_id: str, **fields: Any) -> dict[str, Any]:
    """The REST body (camelCase, as ``create_pool`` sends it) of a pool of ``POOL_BASE``, plus ``fields``."""
    return {
        "id": pool_id,
        "vmSize": POOL_BASE["vm_size"],
        "virtualMachineConfiguration": {
            "imageReference": {
                "publisher": "canonical",
                "offer": "0001-com-ubuntu-server-jammy",
                "sku": "22_04-lts",
            },
            "nodeAgentSKUId": POOL_BASE["node_agent_sku_id"],
        },
        **fields,
    }
