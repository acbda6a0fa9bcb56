"""The operations each emulator claims, derived from its aiohttp routes, and the examples replaying them.

``python -m tests.conformance.operations`` rewrites the operations table of
``docs/emulator/conformance.md`` (between its ``operations-table`` markers) from these;
``test_operations.py`` fails while the page differs from what this module derives.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from airflow_azure_compute.emulator.batch.not_emulated import NOT_EMULATED_OPERATIONS
from airflow_azure_compute.emulator.core import ServiceContext, build_app
from airflow_azure_compute.emulator.durable.api import WEBHOOK_PATH
from airflow_azure_compute.emulator.faults import Faults
from airflow_azure_compute.emulator.operations import ServedRoute, claimed_operations, operation_of
from airflow_azure_compute.emulator.registry import SERVICES

DATA = Path(__file__).parent / "data"
PAGE = Path(__file__).parents[2] / "docs" / "emulator" / "conformance.md"
START, END = "<!-- operations-table:start -->", "<!-- operations-table:end -->"
EMULATORS = {"batch": "Batch", "aci": "Container Instances", "durable": "Durable Functions"}
#: Shown as ``{group}`` in the table, as the Container Instances page writes it.
ACI_GROUP = (
    "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.ContainerInstance"
    "/containerGroups/{name}"
)

#: The ACI examples' operations, as the spec's ``x-ms-examples`` list them (the files carry no id).
ACI_EXAMPLE_OPERATIONS = {
    "ContainerAttach": "Containers_Attach",
    "ContainerExec": "Containers_ExecuteCommand",
    "ContainerGroupCreateConfidential": "ContainerGroups_CreateOrUpdate",
    "ContainerGroupEncryptionProperties": "ContainerGroups_CreateOrUpdate",
    "ContainerGroupUsage": "Location_ListUsage",
    "ContainerGroupsCreateOrUpdate": "ContainerGroups_CreateOrUpdate",
    "ContainerGroupsDelete": "ContainerGroups_Delete",
    "ContainerGroupsGet_Succeeded": "ContainerGroups_Get",
    "ContainerGroupsList": "ContainerGroups_List",
    "ContainerGroupsListByResourceGroup": "ContainerGroups_ListByResourceGroup",
    "ContainerGroupsRestart": "ContainerGroups_Restart",
    "ContainerGroupsStart": "ContainerGroups_Start",
    "ContainerGroupsStop": "ContainerGroups_Stop",
    "ContainerGroupsUpdate": "ContainerGroups_Update",
    "ContainerListLogs": "Containers_ListLogs",
    "OperationsList": "Operations_List",
}

#: Claimed operations no published example replays, and why. Every other claimed operation must have one.
NO_EXAMPLE: dict[str, dict[str, str]] = {
    "batch": {},
    "aci": {},
    "durable": {
        "RestartInstance": "not in the HTTP API reference (the check-status payload's `restartPostUri` "
        "points at it); covered by the emulator's integration tests",
    },
}

#: Routes outside the emulated API, and why they are served.
UNCLAIMED: dict[str, dict[tuple[str, str], str]] = {
    "batch": {
        ("*", re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)): (  # aiohttp's canonical form drops the regex
            f"refuses {feature} with 400 FeatureNotEmulated (not emulated, never ignored)"
        )
        for path, feature in NOT_EMULATED_OPERATIONS
    },
    "aci": {
        ("GET", "/aci-bridge/{session}"): "the exec/attach WebSocket (Azure serves it on another host)",
        (
            "GET",
            "/subscriptions/{subscription}/providers/Microsoft.ContainerInstance/locations/{location}"
            "/operations/{operation}",
        ): "the Azure-AsyncOperation status URL of long-running operations (opaque to clients, no spec "
        "operation)",
    },
    "durable": {
        ("*", "/{path}"): "the API's paths spelt in another letter case (served by the same handlers)",
    },
}


def service_app(service: str) -> web.Application:
    """The aiohttp app of one emulator service, built as the emulator process builds it."""
    (cls,) = [s for s in SERVICES if s.name == service]
    ctx = ServiceContext(
        host="127.0.0.1",
        workdir=Path(tempfile.mkdtemp(prefix="aac-operations-")),
        args=argparse.Namespace(),
        faults=Faults(),
    )
    return build_app(cls(ctx))


def claimed(service: str) -> dict[str, list[ServedRoute]]:
    return claimed_operations(service_app(service))


def _durable_operation(app: web.Application, example: dict[str, object]) -> str | None:
    request = example["request"]
    assert isinstance(request, dict)

    path = re.sub(r"\{(\w+)\}", r"\1", str(request["path"]))  # a placeholder stands for any value

    async def resolve() -> str | None:
        mocked = make_mocked_request(str(request["method"]), WEBHOOK_PATH + path, app=app)
        match = await app.router.resolve(mocked)
        return operation_of(match.handler)

    return asyncio.run(resolve())


def replayed(service: str) -> dict[str, list[str]]:
    """Operation id -> the examples in ``data/<service>`` replaying it."""
    app = service_app(service) if service == "durable" else None
    found: dict[str, list[str]] = {}
    for path in sorted((DATA / service).glob("*.json")):
        example = json.loads(path.read_text())
        if service == "batch":
            operation = example["operationId"]
        elif service == "aci":
            operation = ACI_EXAMPLE_OPERATIONS.get(path.stem)
        else:
            assert app is not None
            operation = _durable_operation(app, example)
        found.setdefault(str(operation), []).append(path.stem)
    return found


def table() -> str:
    """The operations table of the docs page, and a coverage line per emulator."""
    lines = [
        "| Emulator | Operation | Route | Published examples replayed |",
        "|---|---|---|---|",
    ]
    totals: list[str] = []
    counts: list[tuple[int, int]] = []
    for service, title in EMULATORS.items():
        ops, examples = claimed(service), replayed(service)
        for op, routes in ops.items():
            shown = sorted({f"`{r.method} {r.path.replace(ACI_GROUP, '{group}')}`" for r in routes})
            if service == "durable":  # the same handlers also answer on the host's local RPC path
                shown = [s for s in shown if WEBHOOK_PATH in s]
            covered = ", ".join(examples.get(op, [])) or f"none: {NO_EXAMPLE[service].get(op, '?')}"
            lines.append(f"| {title} | {op} | {'<br>'.join(shown)} | {covered} |")
        with_example = sum(1 for op in ops if op in examples)
        counts.append((len(ops), with_example))
        totals.append(
            f"- **{title}**: {len(ops)} operations claimed, {with_example} replayed by a published example."
        )
    claimed_all, replayed_all = (sum(c[i] for c in counts) for i in (0, 1))
    totals.append(
        f"- **All**: {claimed_all} operations claimed, {replayed_all} replayed by a published example "
        f"({100 * replayed_all // claimed_all} %)."
    )
    return "\n".join([*lines, "", *totals])


def rendered_page() -> str:
    """The docs page with its operations table as derived now."""
    text = PAGE.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table()}\n{END}{tail}"


if __name__ == "__main__":
    PAGE.write_text(rendered_page())
    print(f"wrote {PAGE}")
