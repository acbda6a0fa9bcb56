"""Replay Azure's own recorded traffic (the azure-batch SDK's test-proxy recordings) against the
Batch emulator, request by request and in order, and compare every answer with the recorded one.

Each session's client-chosen ids are made unique, so the shared emulator behaves as a fresh account
for it (lists of pools, jobs and schedules are compared on the session's own); the names the service
chose (node ids, task directories) are learned from the emulator's answers as the replay goes. A
request the emulator refuses by design (400 `FeatureNotEmulated`) is counted and listed as not
emulated. Divergences the emulator keeps on purpose are listed in `KNOWN_DIFFERENCES` with their
reason; any other one fails the test.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conformance.clients import BatchWire, Reply, unique, wait_for
from tests.conformance.recordings import Exchange, Outcome, compare, load, recorded_ids, sessions, summary

pytestmark = pytest.mark.integration

#: The inbound NAT pool of the SDK tests' pool preparer (its nodes show the endpoint it gives them).
_NETWORK = {
    "endpointConfiguration": {
        "inboundNATPools": [
            {
                "name": "ruleName",
                "protocol": "tcp",
                "backendPort": 3389,
                "frontendPortRangeStart": 15000,
                "frontendPortRangeEnd": 15100,
            }
        ]
    }
}
#: What a recorded session presupposes but does not record (the SDK tests' preparers create pools
#: through the management plane, and a job): built through the data plane before the replay, with
#: what the recorded answers show of it, and not compared.
SETUP: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "test_batch_scale_pools": [
        (
            "POST",
            "/pools",
            {
                "id": "f50021c2",
                "displayName": "test_pool",
                "vmSize": "standard_d2_v2",
                "virtualMachineConfiguration": {
                    "imageReference": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS"},
                    "nodeAgentSKUId": "batch.node.ubuntu 18.04",
                },
                "userAccounts": [
                    {"name": "task-user", "password": "p4ssw0rd-Replay", "elevationLevel": "admin"}
                ],
                "networkConfiguration": _NETWORK,
            },
        )
    ],
    "test_batch_files": [
        (
            "POST",
            "/pools",
            {
                "id": "filepool",
                "vmSize": "standard_d2_v2",
                "virtualMachineConfiguration": {
                    "imageReference": {
                        "publisher": "MicrosoftWindowsServer",
                        "offer": "WindowsServer",
                        "sku": "2016-Datacenter-smalldisk",
                    },
                    "nodeAgentSKUId": "batch.node.windows amd64",
                },
                "targetDedicatedNodes": 1,
                "networkConfiguration": _NETWORK,
            },
        ),
        ("POST", "/jobs", {"id": "batch", "poolInfo": {"poolId": "filepool"}}),
    ],
}

#: Divergences kept on purpose, by session and field path (or `status`), with the reason.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    ("test_batch_scale_pools", "certificateReferences"): "recorded at api-version 2024-07-01; the "
    "emulator serves 2025-06-01, which removed pool certificates (the 2025-06-01 recordings have none)",
    ("test_batch_files", "executionInfo.exitCode"): "the recorded task runs `cmd /c`, a Windows command the "
    "emulator's Linux nodes do not have: it fails with CommandProgramNotFound and, as Azure reports a "
    "program it cannot start, no exit code",
}

OUTCOMES: list[Outcome] = []


@pytest.fixture(scope="module")
def wire(emulator: dict[str, Any]) -> Iterator[BatchWire]:
    client = BatchWire(emulator)
    yield client
    client.close()


def _own_items(exchange: Exchange, body: Any, ids: set[str]) -> Any:
    """A list of pools, jobs or schedules restricted to the session's own (the emulator is shared)."""
    top_level = exchange.path.strip("/").count("/") == 0
    if top_level and isinstance(body, dict) and isinstance(body.get("value"), list):
        return {**body, "value": [i for i in body["value"] if not isinstance(i, dict) or i.get("id") in ids]}
    return body


def _learn(exchange: Exchange, body: Any, ids: dict[str, str], learned: dict[str, str]) -> None:
    """Names the service chose, in the recording and in the emulator's answer: node ids (by position
    in a node list) and a task's directory on its node (as the recorded file paths spell it)."""
    recorded = exchange.response
    if not isinstance(recorded, dict) or not isinstance(body, dict):
        return
    if exchange.path.endswith("/nodes") and isinstance(body.get("value"), list):
        for old, new in zip(recorded.get("value") or [], body["value"], strict=False):
            learned[old["id"]] = new["id"]
    old_root = (recorded.get("nodeInfo") or {}).get("taskRootDirectory")
    new_root = (body.get("nodeInfo") or {}).get("taskRootDirectory")
    if isinstance(old_root, str) and isinstance(new_root, str):
        for original, mine in ids.items():  # the recorded paths name the recorded ids
            old_root = old_root.replace(mine, original)
        learned[quote(old_root, safe="")] = new_root
        learned["%5C"] = "/"  # the recorded node ran Windows; the emulator's nodes separate with "/"


def _refusal(reply: Reply) -> str | None:
    """Why the emulator does not emulate a request: 400 `FeatureNotEmulated` (refused by design,
    naming the feature), or 404 `ResourceNotFound` (an operation it does not serve at all)."""
    body = reply.body if isinstance(reply.body, dict) else {}
    code = body.get("code")
    if (reply.status, code) in ((400, "FeatureNotEmulated"), (404, "ResourceNotFound")):
        message = body.get("message")
        return f"{code}: " + str(message.get("value") if isinstance(message, dict) else message)
    return None


def _send(wire: BatchWire, exchange: Exchange) -> Reply:
    query = {k: v for k, v in exchange.query.items() if k != "api-version"}
    return wire.send(exchange.method, exchange.path, exchange.body, query)


def _steady(wire: BatchWire, pool_id: str) -> bool:
    reply = wire.send("GET", f"/pools/{pool_id}")
    return reply.status == 200 and reply.body.get("allocationState") == "steady"


def _settled(exchange: Exchange, reply: Reply) -> bool:
    """Whether an answer shows what the recorded one shows: its status, and its (allocation) state."""
    if reply.status != exchange.status:
        return False
    recorded, body = exchange.response, reply.body
    if not isinstance(recorded, dict) or not isinstance(body, dict):
        return True
    if isinstance(recorded.get("value"), list):  # a list polled until its items reach a state
        states = [i.get("state") for i in recorded["value"] if isinstance(i, dict)]
        return [i.get("state") for i in body.get("value") or [] if isinstance(i, dict)] == states
    return all(body.get(key) == recorded[key] for key in ("state", "allocationState") if key in recorded)


def _answer(wire: BatchWire, exchanges: list[Exchange], index: int, learned: dict[str, str]) -> Reply:
    """Send one recorded request. The recorded client polled where a request repeats, and waited
    for a steady pool before acting on it: the last request of such a run, and a GET whose recorded
    answer shows a steady pool, are repeated until the emulator shows the recorded state (or refuses
    the request as not emulated)."""
    recorded = exchanges[index]
    polled = index > 0 and recorded.same_request(exchanges[index - 1])
    last_of_run = index + 1 == len(exchanges) or not recorded.same_request(exchanges[index + 1])
    exchange = recorded.with_path(learned)
    steady = isinstance(exchange.response, dict) and exchange.response.get("allocationState") == "steady"
    if exchange.method != "GET" or not ((polled and last_of_run) or steady):
        return _send(wire, exchange)
    replies: list[Reply] = []

    def settled() -> bool:
        replies.append(_send(wire, exchange))
        return _settled(exchange, replies[-1]) or _refusal(replies[-1]) is not None

    with contextlib.suppress(TimeoutError):  # compared as it is
        wait_for(settled, timeout=30, what=f"{exchange.operation} to show the recorded state")
    return replies[-1]


def replay(wire: BatchWire, name: str) -> list[Outcome]:
    ids = {recorded: unique(recorded) for recorded in recorded_ids("batch", name)}
    exchanges = load("batch", name, ids)
    for method, path, body in SETUP.get(name, []):
        text = json.dumps(body)
        for recorded, mine in ids.items():
            text = text.replace(recorded, mine)
        reply = wire.send(method, path, json.loads(text))
        if refused := _refusal(reply):  # the whole session depends on what it sets up
            return [
                Outcome(name, i, e.operation, reply.status, e.status, f"setup {method} {path}: {refused}")
                for i, e in enumerate(exchanges)
            ]
        assert reply.status in (200, 201), f"setup {method} {path}: {reply.status} {reply.body}"
        if path == "/pools":  # the recorded test started on an allocated pool
            pool_id = json.loads(text)["id"]
            wait_for(lambda p=pool_id: _steady(wire, p), what=f"pool {pool_id} to be steady")
    outcomes = []
    refused_paths: dict[str, str] = {}  # a HEAD answer has no body: it is refused where its GET was
    learned: dict[str, str] = {}
    for index, exchange in enumerate(exchanges):
        reply = _answer(wire, exchanges, index, learned)
        _learn(exchange, reply.body, ids, learned)
        refused = _refusal(reply)
        if refused:
            refused_paths[exchange.path] = refused
        elif exchange.method == "HEAD" and reply.status in (400, 404):
            refused = refused_paths.get(exchange.path)
        outcome = Outcome(name, index, exchange.operation, reply.status, exchange.status, refused)
        body = _own_items(exchange, reply.body, set(ids.values()))
        compare(exchange, reply.status, reply.headers, body, outcome)
        outcomes.append(outcome)
    return outcomes


def _known(name: str, problem: str) -> bool:
    path = problem.split(": ", 1)[0] if not problem.startswith("status ") else "status"
    return (name, path) in KNOWN_DIFFERENCES


@pytest.mark.parametrize("name", sessions("batch"))
def test_batch_recording(wire: BatchWire, name: str) -> None:
    outcomes = replay(wire, name)
    OUTCOMES.extend(outcomes)
    unexplained = [
        f"#{o.index} {o.operation}: {p}"
        for o in outcomes
        if o.refused is None
        for p in o.problems
        if not _known(name, p)
    ]
    assert not unexplained, "\n".join(unexplained)


def pytest_terminal_summary_lines() -> list[str]:
    """The replay's figures, for the suite's summary at the end of the run."""
    if not OUTCOMES:
        return []
    figures = summary(OUTCOMES)
    n, refused = figures["requests"], len(figures["refused"])
    lines = [
        f"recorded traffic: {n} requests, {refused} not emulated; matching in status {figures['status_ok']}/{n}, "
        f"status and fields {figures['shape_ok']}/{n}, headers {figures['headers_ok']}/{n}; "
        f"response fields {figures['fields_ok']}/{figures['fields']}"
    ]
    lines += [f"  not emulated: {r}" for r in figures["refused"]]
    if target := os.environ.get("RECORDINGS_REPORT"):
        problems = [
            {"session": o.session, "index": o.index, "operation": o.operation, "problems": o.problems}
            for o in OUTCOMES
            if o.problems
        ]
        Path(target).write_text(json.dumps({**figures, "problems": problems}, indent=2, sort_keys=True))
    return lines
