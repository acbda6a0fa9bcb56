"""ACI emulator overhead, as ratios measured in one run against running the same processes directly.

    python benchmarks/aci_lifecycle.py --groups 20

Phases (``--groups`` container groups of one container running ``python -c pass``, all at once,
through ``azure.mgmt.containerinstance.aio`` against the emulator process):

* ``baseline``: the same ``python -c pass`` processes started directly with asyncio, all at once.
* ``retry-after 1 s``: create (LRO) -> poll ``get`` until Terminated -> delete (LRO), with the
  emulator's default ``Retry-After: 1``.
* ``retry-after-ms 100``: the same with ``retry_after_ms=100`` (azure-core prefers ``retry-after-ms``).

Prints wall times and the ratio phase / baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
import urllib.request
from typing import Any


class _Credential:
    """The bearer token the emulator issued (it accepts no other)."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        return None


def _admin(aci: dict[str, Any], body: dict[str, Any]) -> None:
    context = ssl.create_default_context(cafile=aci["ca_path"])
    request = urllib.request.Request(
        aci["admin_url"] + "/aci/settings", data=json.dumps(body).encode(), method="PUT"
    )
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        response.read()


async def _baseline(count: int) -> float:
    started = time.perf_counter()
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", "pass") for _ in range(count)]
    await asyncio.gather(*(p.wait() for p in procs))
    return time.perf_counter() - started


async def _lifecycle(aci: dict[str, Any], count: int, prefix: str) -> float:
    from azure.mgmt.containerinstance import models as m
    from azure.mgmt.containerinstance.aio import ContainerInstanceManagementClient

    rg = aci["resource_group"]
    spec = m.ContainerGroup(
        location=aci["region"],
        os_type="Linux",
        restart_policy="Never",
        containers=[
            m.Container(
                name="main",
                image="python:3.12-slim",
                command=["python", "-c", "pass"],
                resources=m.ResourceRequirements(requests=m.ResourceRequests(cpu=1, memory_in_gb=1)),
            )
        ],
    )
    async with ContainerInstanceManagementClient(
        _Credential(aci["token"]),  # type: ignore[arg-type]
        aci["subscription_id"],
        base_url=aci["url"],
        connection_verify=aci["ca_path"],
    ) as client:

        async def one(name: str) -> None:
            await (await client.container_groups.begin_create_or_update(rg, name, spec)).result()
            while True:
                view = (await client.container_groups.get(rg, name)).containers[0].instance_view
                if view is not None and view.current_state.state == "Terminated":
                    break
                await asyncio.sleep(0.1)
            await (await client.container_groups.begin_delete(rg, name)).result()

        started = time.perf_counter()
        await asyncio.gather(*(one(f"{prefix}-{i}") for i in range(count)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--groups", type=int, default=20)
    args = parser.parse_args()

    from airflow_azure_compute.testing.stack import run_emulator

    baseline = asyncio.run(_baseline(args.groups))
    with run_emulator() as endpoints:
        aci = endpoints["aci"]
        slow = asyncio.run(_lifecycle(aci, args.groups, "bench-slow"))
        _admin(aci, {"retry_after_ms": 100})
        fast = asyncio.run(_lifecycle(aci, args.groups, "bench-fast"))
    print(f"{args.groups} container groups (python -c pass), all at once")
    print(f"{'phase':<22}{'wall':>10}{'ratio':>10}")
    for name, wall in (
        ("baseline (direct)", baseline),
        ("retry-after 1 s", slow),
        ("retry-after-ms 100", fast),
    ):
        print(f"{name:<22}{wall:>9.2f}s{wall / baseline:>10.1f}")


if __name__ == "__main__":
    main()
