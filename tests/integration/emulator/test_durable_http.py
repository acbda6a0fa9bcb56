"""The Durable HTTP API of the emulator through a plain HTTP client (aiohttp), against the live process.

The orchestrations come from ``tests/function_apps/durable_patterns.py``, loaded by the session
``emulator`` fixture with ``--function-app``.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from yarl import URL

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

RUNNING = {"Pending", "Running", "ContinuedAsNew", "Suspended"}
MANAGEMENT_KEYS = {
    "id",
    "statusQueryGetUri",
    "sendEventPostUri",
    "terminatePostUri",
    "rewindPostUri",
    "purgeHistoryDeleteUri",
    "restartPostUri",
    "suspendPostUri",
    "resumePostUri",
}
TIME_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Durable:
    """A tiny client of the emulator's webhook API, with the system key."""

    def __init__(self, session: aiohttp.ClientSession, endpoints: dict[str, Any]) -> None:
        self.session = session
        self.base = endpoints["url"] + "/runtime/webhooks/durabletask"
        self.key = endpoints["key"]
        self.admin = endpoints["admin_url"]

    def params(self, **extra: Any) -> dict[str, str]:
        return {"code": self.key, **{k: str(v) for k, v in extra.items()}}

    async def start(
        self, name: str, body: Any = None, instance_id: str | None = None, **query: Any
    ) -> tuple[int, Any, dict[str, str]]:
        url = f"{self.base}/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
        data = None if body is None else json.dumps(body)
        async with self.session.post(
            url, params=self.params(**query), data=data, headers={"Content-Type": "application/json"}
        ) as r:
            text = await r.text()
            return r.status, (json.loads(text) if text else None), dict(r.headers)

    async def run(self, name: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        status, payload, _ = await self.start(name, body, **kwargs)
        assert status == 202, payload
        return await self.wait(payload["statusQueryGetUri"])

    async def status(self, instance_id: str, **query: Any) -> tuple[int, Any]:
        async with self.session.get(f"{self.base}/instances/{instance_id}", params=self.params(**query)) as r:
            text = await r.text()
            return r.status, (json.loads(text) if text else None)

    async def wait(self, status_url: str, until: Any = None, timeout: float = 30) -> dict[str, Any]:
        """Poll the status URL until ``until(body)`` (default: a terminal runtime status)."""
        done = until or (lambda body: body["runtimeStatus"] not in RUNNING)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            async with self.session.get(status_url) as r:
                body = await r.json()
            if done(body):
                return body
            assert asyncio.get_running_loop().time() < deadline, body
            await asyncio.sleep(0.05)

    async def post(self, path: str, **query: Any) -> int:
        async with self.session.post(f"{self.base}{path}", params=self.params(**query)) as r:
            return r.status

    async def history(self, instance_id: str) -> dict[str, Any]:
        async with self.session.get(f"{self.admin}/durable/instances/{instance_id}/history") as r:
            assert r.status == 200
            return await r.json()


@pytest.fixture
async def durable(emulator: dict[str, Any]) -> AsyncIterator[Durable]:
    async with aiohttp.ClientSession() as session:
        yield Durable(session, emulator["durable"])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------- auth and errors
async def test_code_is_required(durable: Durable) -> None:
    url = f"{durable.base}/orchestrators/chain_orchestrator"
    for params in ({}, {"code": "wrong"}):
        async with durable.session.post(url, params=params) as r:
            assert r.status == 401
            assert await r.read() == b""
    async with durable.session.get(f"{durable.base}/instances", params={"code": "nope"}) as r:
        assert r.status == 401


async def test_base_path_is_case_insensitive(durable: Durable) -> None:
    url = durable.base.replace("durabletask", "durableTask") + "/instances/missing-instance"
    async with durable.session.get(url, params=durable.params()) as r:
        assert r.status == 404
        assert await r.read() == b""
    shouting = durable.base.replace("/runtime/webhooks/durabletask", "/Runtime/Webhooks/DurableTask")
    async with durable.session.post(f"{shouting}/Orchestrators/chain_orchestrator", json=["case"]) as r:
        assert r.status == 401
    async with durable.session.post(
        f"{shouting}/Orchestrators/chain_orchestrator/Case-Id-{uuid.uuid4().hex[:6]}",
        params=durable.params(),
        json=["case"],
    ) as r:
        assert r.status == 202
        instance_id = (await r.json())["id"]
    assert instance_id.startswith("Case-Id-")
    done = await durable.wait(f"{shouting}/Instances/{instance_id}?code={durable.key}")
    assert done["output"] == ["Hello case!"]


async def test_counters_and_faults(durable: Durable) -> None:
    async with durable.session.post(f"{durable.admin}/counters/reset") as r:
        assert r.status == 200
    await durable.status("counted-instance")
    async with durable.session.get(f"{durable.admin}/counters") as r:
        counters = await r.json()
    assert counters["requests"] == {"GET /runtime/webhooks/durabletask/instances/{instanceId}": 1}
    async with durable.session.put(f"{durable.admin}/faults", json={"error_rate": 1.0, "seed": 1}) as r:
        assert r.status == 200
    try:
        async with durable.session.get(f"{durable.base}/instances/x", params=durable.params()) as r:
            assert r.status in (429, 503)
            assert r.headers["Retry-After"] == "1"
    finally:
        async with durable.session.put(f"{durable.admin}/faults", json={"error_rate": 0.0}) as r:
            assert r.status == 200


@pytest.mark.parametrize("bad_id", ["@entity", "a#b", "a?b", "x" * 257, "tab\there"])
async def test_invalid_instance_ids_are_400(durable: Durable, bad_id: str) -> None:
    url = f"{durable.base}/orchestrators/chain_orchestrator/{quote(bad_id, safe='')}?code={durable.key}"
    async with durable.session.post(URL(url, encoded=True)) as r:
        assert r.status == 400
        assert "ExceptionMessage" in await r.json()


async def test_unknown_orchestrator_and_bad_json_are_400(durable: Durable) -> None:
    status, body, _ = await durable.start("no_such_orchestrator")
    assert status == 400
    assert "no_such_orchestrator" in body["ExceptionMessage"]
    async with durable.session.post(
        f"{durable.base}/orchestrators/chain_orchestrator", params=durable.params(), data=b"{not json"
    ) as r:
        assert r.status == 400
        assert "ExceptionMessage" in await r.json()


async def test_missing_instances(durable: Durable) -> None:
    status, body = await durable.status("does-not-exist")
    assert (status, body) == (404, None)
    for op in ("terminate", "suspend", "resume"):
        assert await durable.post(f"/instances/does-not-exist/{op}") == 404
    assert await durable.post("/instances/does-not-exist/raiseEvent/Approval") == 404
    async with durable.session.delete(
        f"{durable.base}/instances/does-not-exist", params=durable.params()
    ) as r:
        assert r.status == 404


# --------------------------------------------------------------------------- patterns
async def test_chaining_with_check_status_payload(durable: Durable) -> None:
    status, payload, headers = await durable.start("chain_orchestrator", ["Tokyo", "Seattle", "London"])
    assert status == 202
    assert set(payload) == MANAGEMENT_KEYS
    assert re.fullmatch(r"[0-9a-f]{32}", payload["id"])
    assert headers["Location"] == payload["statusQueryGetUri"]
    assert headers["Retry-After"] == "10"
    for key in MANAGEMENT_KEYS - {"id"}:
        assert f"code={durable.key}" in payload[key]
        assert "taskHub=" in payload[key] and "connection=" in payload[key]
    assert "{eventName}" in payload["sendEventPostUri"]

    done = await durable.wait(payload["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed"
    assert done["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert done["customStatus"] == {"done": 3}
    assert done["input"] == ["Tokyo", "Seattle", "London"]
    assert done["name"] == "chain_orchestrator"
    assert TIME_FORMAT.match(done["createdTime"]) and TIME_FORMAT.match(done["lastUpdatedTime"])

    code, body = await durable.status(payload["id"], showInput="false", showHistory="true")
    assert code == 200
    assert body["input"] is None
    kinds = [e["EventType"] for e in body["historyEvents"]]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionCompleted"
    assert kinds.count("TaskCompleted") == 3
    assert all("Result" not in e for e in body["historyEvents"])
    _, with_output = await durable.status(payload["id"], showHistory="true", showHistoryOutput="true")
    assert any(e.get("Result") == "Hello Tokyo!" for e in with_output["historyEvents"])
    assert "TaskScheduled" not in [e["EventType"] for e in with_output["historyEvents"]]
    completed = next(e for e in with_output["historyEvents"] if e["EventType"] == "TaskCompleted")
    assert completed["FunctionName"] == "hello_activity" and "ScheduledTime" in completed


async def test_fan_out_fan_in_of_50(durable: Durable) -> None:
    done = await durable.run("fan_out_orchestrator", {"count": 50})
    assert done["runtimeStatus"] == "Completed"
    assert done["output"]["squares"] == [i * i for i in range(50)]
    history = await durable.history(done["instanceId"])
    scheduled = [e for e in history["history"] if e["EventType"] == 4]
    assert sorted(e["EventId"] for e in scheduled) == list(range(50))


async def test_human_interaction_event_wins(durable: Durable) -> None:
    status, payload, _ = await durable.start("approval_orchestrator", {"timeout_s": 60})
    assert status == 202
    await durable.wait(payload["statusQueryGetUri"], until=lambda b: b["runtimeStatus"] == "Running")
    raise_url = payload["sendEventPostUri"].replace("{eventName}", "Approval")
    async with durable.session.post(raise_url, data="text", headers={"Content-Type": "text/plain"}) as r:
        assert r.status == 400
    async with durable.session.post(raise_url, json={"by": "alice"}) as r:
        assert r.status == 202
    done = await durable.wait(payload["statusQueryGetUri"])
    assert done["output"] == {
        "outcome": "approved",
        "payload": {"by": "alice"},
        "greeting": "Hello approver!",
    }
    async with durable.session.post(raise_url, json={"by": "bob"}) as r:
        assert r.status == 410


async def test_human_interaction_timer_wins(durable: Durable) -> None:
    done = await durable.run("approval_orchestrator", {"timeout_s": 0.3})
    assert done["output"] == {"outcome": "timed_out"}
    history = await durable.history(done["instanceId"])
    assert [e["EventType"] for e in history["history"]].count(11) == 1  # TimerFired


async def test_activity_failure_with_retry(durable: Durable) -> None:
    ok = await durable.run(
        "retry_orchestrator", {"key": unique("retry"), "failures": 2, "attempts": 3, "interval_ms": 50}
    )
    assert ok["output"] == {"before": "Hello before!", "value": 3, "after": "Hello after!"}
    exhausted = await durable.run(
        "retry_orchestrator", {"key": unique("retry"), "failures": 9, "attempts": 2, "interval_ms": 50}
    )
    assert exhausted["runtimeStatus"] == "Completed"
    assert "flaky attempt 2 failed" in exhausted["output"]["failed"]
    no_retry = await durable.run("activity_failure_orchestrator")
    assert no_retry["output"] == {"caught": True}


async def test_orchestrator_exception_fails_instance(durable: Durable) -> None:
    done = await durable.run("failing_orchestrator")
    assert done["runtimeStatus"] == "Failed"
    assert "orchestrator gave up on purpose" in done["output"]
    code, _ = await durable.status(done["instanceId"])
    assert code == 200
    code, _ = await durable.status(done["instanceId"], returnInternalServerErrorOnFailure="true")
    assert code == 500


async def test_a_failed_durable_http_call_fails_the_instance_clearly(durable: Durable) -> None:
    done = await durable.run("durable_http_orchestrator")
    assert done["runtimeStatus"] == "Failed"
    assert "GET http://127.0.0.1:9/ failed" in done["output"]


async def test_continue_as_new(durable: Durable) -> None:
    done = await durable.run("counter_orchestrator", {"value": 0, "limit": 5})
    assert done["runtimeStatus"] == "Completed"
    assert done["output"] == {"final": 5}
    history = await durable.history(done["instanceId"])
    # Only the last execution's history is kept, as with ContinueAsNew on Azure.
    assert [e["EventType"] for e in history["history"]].count(4) == 1


async def test_sub_orchestrations(durable: Durable) -> None:
    done = await durable.run("parent_orchestrator")
    assert done["output"] == {
        "chains": [["Hello a!", "Hello b!"], ["Hello c!"]],
        "fan": {"count": 3, "sum": 5, "squares": [0, 1, 4]},
    }
    retried = await durable.run("sub_retry_orchestrator")
    assert retried["output"] == {"sub_failed": True}
    async with durable.session.get(
        f"{durable.base}/instances",
        params=durable.params(instanceIdPrefix=retried["instanceId"] + ":", runtimeStatus="Failed"),
    ) as r:
        children = await r.json()
    assert len(children) == 2  # one child instance per attempt


async def test_wait_for_completion_on_start(durable: Durable) -> None:
    status, body, _ = await durable.start("chain_orchestrator", ["x"], timeout=20, pollingInterval=1)
    assert (status, body) == (200, ["Hello x!"])


# --------------------------------------------------------------------------- management
async def start_ticking(durable: Durable, ticks: int, *, after_ticks: int) -> dict[str, Any]:
    """Start ``ticking_orchestrator`` (a tick every 0.05 s); return its payload once ``after_ticks`` ticked."""
    status, payload, _ = await durable.start("ticking_orchestrator", {"ticks": ticks, "pause_s": 0.05})
    assert status == 202
    await durable.wait(
        payload["statusQueryGetUri"], until=lambda b: (b["customStatus"] or {}).get("ticks", 0) >= after_ticks
    )
    return payload


async def test_terminate_mid_run(durable: Durable) -> None:
    payload = await start_ticking(durable, 1000, after_ticks=2)
    async with durable.session.post(payload["terminatePostUri"].replace("{text}", "enough")) as r:
        assert r.status == 202
    done = await durable.wait(payload["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Terminated"
    assert done["output"] == "enough"
    async with durable.session.post(payload["terminatePostUri"].replace("{text}", "again")) as r:
        assert r.status == 410
    async with durable.session.post(payload["suspendPostUri"].replace("{text}", "late")) as r:
        assert r.status == 410


async def test_suspend_and_resume(durable: Durable) -> None:
    payload = await start_ticking(durable, 6, after_ticks=1)
    async with durable.session.post(payload["suspendPostUri"].replace("{text}", "hold")) as r:
        assert r.status == 202
    async with durable.session.get(payload["statusQueryGetUri"]) as r:
        assert r.status == 202
        suspended = await r.json()
    assert suspended["runtimeStatus"] == "Suspended"
    await asyncio.sleep(0.5)  # ten timer periods: a running instance would have moved on
    async with durable.session.get(payload["statusQueryGetUri"]) as r:
        still = await r.json()
    assert still["runtimeStatus"] == "Suspended"
    assert still["customStatus"] == suspended["customStatus"]
    async with durable.session.post(payload["resumePostUri"].replace("{text}", "go")) as r:
        assert r.status == 202
    done = await durable.wait(payload["statusQueryGetUri"])
    assert (done["runtimeStatus"], done["output"]) == ("Completed", 6)


async def test_duplicate_running_id_is_409_and_terminal_id_is_replaced(durable: Durable) -> None:
    instance_id = unique("dup")
    status, _, _ = await durable.start("ticking_orchestrator", {"ticks": 1000}, instance_id=instance_id)
    assert status == 202
    status, body, _ = await durable.start("ticking_orchestrator", {"ticks": 1000}, instance_id=instance_id)
    assert status == 409
    assert "ExceptionMessage" in body
    assert await durable.post(f"/instances/{instance_id}/terminate", reason="stop") == 202
    status, payload, _ = await durable.start("chain_orchestrator", ["again"], instance_id=instance_id)
    assert status == 202 and payload["id"] == instance_id
    done = await durable.wait(payload["statusQueryGetUri"])
    assert (done["name"], done["output"]) == ("chain_orchestrator", ["Hello again!"])


async def test_restart(durable: Durable) -> None:
    first = await durable.run("chain_orchestrator", ["r"])
    async with durable.session.post(
        f"{durable.base}/instances/{first['instanceId']}/restart", params=durable.params()
    ) as r:
        assert r.status == 202
        payload = await r.json()
    assert set(payload) == MANAGEMENT_KEYS and payload["id"] != first["instanceId"]
    again = await durable.wait(payload["statusQueryGetUri"])
    assert again["output"] == first["output"]

    same = await durable.post(f"/instances/{first['instanceId']}/restart", restartWithNewInstanceId="false")
    assert same == 202
    assert await durable.post("/instances/unknown-instance/restart") == 400
    running_id = unique("restart")
    await durable.start("ticking_orchestrator", {"ticks": 1000}, instance_id=running_id)
    assert await durable.post(f"/instances/{running_id}/restart", restartWithNewInstanceId="false") == 409
    assert await durable.post(f"/instances/{running_id}/terminate") == 202


async def test_purge(durable: Durable) -> None:
    running_id = unique("purge")
    await durable.start("ticking_orchestrator", {"ticks": 1000}, instance_id=running_id)
    delete_url = f"{durable.base}/instances/{running_id}"
    async with durable.session.delete(delete_url, params=durable.params()) as r:
        assert r.status == 412
    assert await durable.post(f"/instances/{running_id}/terminate") == 202
    await durable.wait(f"{delete_url}?code={durable.key}")
    async with durable.session.delete(delete_url, params=durable.params()) as r:
        assert (r.status, await r.json()) == (200, {"instancesDeleted": 1})
    async with durable.session.delete(delete_url, params=durable.params()) as r:
        assert r.status == 404

    async with durable.session.delete(f"{durable.base}/instances", params=durable.params()) as r:
        assert r.status == 400
    done = await durable.run("chain_orchestrator", ["p"], instance_id=unique("purge-many"))
    async with durable.session.delete(
        f"{durable.base}/instances",
        params=durable.params(createdTimeFrom=done["createdTime"], runtimeStatus="Completed"),
    ) as r:
        assert r.status == 200
        assert (await r.json())["instancesDeleted"] >= 1
    code, _ = await durable.status(done["instanceId"])
    assert code == 404


async def test_list_with_filters_and_continuation(durable: Durable) -> None:
    prefix = unique("list")
    for i in range(5):
        await durable.run("chain_orchestrator", [str(i)], instance_id=f"{prefix}-{i}")
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        headers = {"x-ms-continuation-token": token} if token else {}
        async with durable.session.get(
            f"{durable.base}/instances",
            params=durable.params(instanceIdPrefix=prefix, top=2, runtimeStatus="Completed,Failed"),
            headers=headers,
        ) as r:
            assert r.status == 200
            page = await r.json()
            token = r.headers.get("x-ms-continuation-token")
        pages += 1
        assert len(page) <= 2
        seen += [item["instanceId"] for item in page]
        if not token:
            break
    assert pages == 3
    assert sorted(seen) == [f"{prefix}-{i}" for i in range(5)]
    async with durable.session.get(
        f"{durable.base}/instances", params=durable.params(instanceIdPrefix=prefix, runtimeStatus="Running")
    ) as r:
        assert await r.json() == []


# --------------------------------------------------------------------------- the app's own HTTP starter
async def test_http_starter_function_with_durable_client(durable: Durable, emulator: dict[str, Any]) -> None:
    """``/api/orchestrators/{functionName}`` runs the app's ``durable_client_input`` starter unchanged."""
    url = f"{emulator['durable']['url']}/api/orchestrators/chain_orchestrator"
    async with durable.session.post(url, json=["starter"]) as r:
        assert r.status == 401
    async with durable.session.post(url, params={"code": durable.key}, json=["starter"]) as r:
        assert r.status == 202, await r.text()
        payload = await r.json()
        assert r.headers["Location"] == payload["statusQueryGetUri"]
    assert set(payload) >= MANAGEMENT_KEYS
    assert payload["statusQueryGetUri"].startswith(durable.base + f"/instances/{payload['id']}?")
    done = await durable.wait(payload["statusQueryGetUri"])
    assert done["output"] == ["Hello starter!"]
