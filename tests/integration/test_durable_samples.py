"""Microsoft's own Durable Functions sample apps, unchanged, on the emulator's Durable host.

Each app in ``tests/integration/durable_samples/`` is a verbatim copy of a sample of
azure-functions-durable-python (the README there names the repository, paths and commits):
``samples-v2/`` holds apps of the v2 programming model (a ``function_app.py``), ``samples/`` apps of
the v1 model (``function.json`` folders). The emulator loads one app with ``--function-app`` and
the sample is driven the way its README or tutorial says: the HTTP starter route, then the status
query URI of the check-status response (entity reads through the app's own HTTP function), until
the documented output comes back.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from airflow_azure_compute.testing.stack import AzuriteEndpoints, run_emulator

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SAMPLES = Path(__file__).resolve().parent / "durable_samples"
RUNNING = {"Pending", "Running", "ContinuedAsNew", "Suspended"}
CHECK_STATUS_KEYS = {
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


@pytest.fixture(scope="module")
def sample_host(request: pytest.FixtureRequest, azurite: AzuriteEndpoints) -> Iterator[dict[str, Any]]:
    """The emulator with one sample app loaded (the samples reuse function names, so one host each)."""
    app = SAMPLES / request.param
    env = {"AzureWebJobsStorage": azurite.connection_string}
    with run_emulator(function_apps=[app], env=env) as endpoints:
        yield endpoints["durable"]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def start(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> dict[str, Any]:
    """Call a starter and check the check-status response the sample returns."""
    async with http.post(url, **kwargs) as response:
        body = await response.json(content_type=None)
        assert response.status == 202, body
        assert response.headers["Location"] == body["statusQueryGetUri"]
    assert set(body) == CHECK_STATUS_KEYS, body
    return body


async def wait_for_output(
    http: aiohttp.ClientSession,
    status_uri: str,
    until: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = 60,
) -> dict[str, Any]:
    """Poll the status query URI (as a client of the tutorial does) until ``until(body)``, by
    default until the instance is done."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with http.get(status_uri) as response:
            body: dict[str, Any] = await response.json(content_type=None)
            terminal = body["runtimeStatus"] not in RUNNING
            assert response.status == (200 if terminal else 202), body
            if until(body) if until else terminal:
                return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("sample_host", ["samples-v2/function_chaining/function_app.py"], indirect=True)
async def test_v2_function_chaining(sample_host: dict[str, Any], http: aiohttp.ClientSession) -> None:
    started = await start(http, f"{sample_host['api_url']}/orchestrators/my_orchestrator")
    done = await wait_for_output(http, started["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed"
    assert done["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


@pytest.mark.parametrize(
    "sample_host", ["samples-v2/simple_sub_orchestration/function_app.py"], indirect=True
)
async def test_v2_sub_orchestration(sample_host: dict[str, Any], http: aiohttp.ClientSession) -> None:
    # The README: "make a GET request to .../api/orchestrators/orchestrator"
    async with http.get(f"{sample_host['api_url']}/orchestrators/orchestrator") as response:
        started = await response.json(content_type=None)
        assert response.status == 202, started
    done = await wait_for_output(http, started["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed"
    assert done["output"] == "Hello Seattle"


@pytest.mark.parametrize("sample_host", ["samples-v2/blueprint/function_app.py"], indirect=True)
async def test_v2_blueprint(sample_host: dict[str, Any], http: aiohttp.ClientSession) -> None:
    # The app is func.FunctionApp(http_auth_level=FUNCTION): its routes need the function key.
    code = {"code": sample_host["key"]}
    async with http.get(f"{sample_host['api_url']}/startOrchestrator") as response:
        assert response.status == 401
    started = await start(http, f"{sample_host['api_url']}/startOrchestrator", params=code)
    done = await wait_for_output(http, started["statusQueryGetUri"])
    assert done["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]

    async with http.get(f"{sample_host['api_url']}/HttpTrigger", params={**code, "name": "Ada"}) as response:
        assert response.status == 200
        assert await response.text() == "Hello, Ada. This HTTP triggered function executed successfully."


@pytest.mark.parametrize("sample_host", ["samples-v2/fan_in_fan_out/function_app.py"], indirect=True)
async def test_v2_fan_in_fan_out_backs_up_to_blob(
    sample_host: dict[str, Any], http: aiohttp.ClientSession, azurite: AzuriteEndpoints, tmp_path: Path
) -> None:
    from azure.storage.blob import BlobServiceClient

    # The tutorial backs up a site's function folders: files named __init__.py / function.json
    # under a directory whose path contains "E2_".
    site = tmp_path / "site"
    folder = f"E2_{uuid.uuid4().hex[:8]}"
    files = {"__init__.py": b"print('backup me')\n", "function.json": b'{"bindings": []}\n'}
    (site / folder).mkdir(parents=True)
    for name, data in files.items():
        (site / folder / name).write_bytes(data)
    (site / folder / "ignored.txt").write_bytes(b"not backed up")

    started = await start(
        http, f"{sample_host['api_url']}/orchestrators/E2_BackupSiteContent", json=str(site)
    )
    done = await wait_for_output(http, started["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed", done
    assert done["output"] == sum(len(data) for data in files.values())

    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    backups = service.get_container_client("backups")
    for name, data in files.items():
        assert backups.download_blob(f"{folder}_{name}").readall() == data


@pytest.mark.parametrize("sample_host", ["samples/function_chaining"], indirect=True)
async def test_v1_function_chaining(sample_host: dict[str, Any], http: aiohttp.ClientSession) -> None:
    started = await start(http, f"{sample_host['api_url']}/orchestrators/E1_HelloSequence")
    done = await wait_for_output(http, started["statusQueryGetUri"])
    assert done["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


@pytest.mark.parametrize("sample_host", ["samples/function_chaining_custom_status"], indirect=True)
async def test_v1_custom_status(sample_host: dict[str, Any], http: aiohttp.ClientSession) -> None:
    started = await start(http, f"{sample_host['api_url']}/orchestrators/DurableOrchestration")
    done = await wait_for_output(http, started["statusQueryGetUri"])
    assert done["output"] == 3
    assert done["customStatus"] == "1 -> 2 -> 3"


@pytest.mark.parametrize("sample_host", ["samples/serialize_arguments"], indirect=True)
async def test_v1_serialize_arguments(sample_host: dict[str, Any], http: aiohttp.ClientSession) -> None:
    # The starter answers through a named HTTP output binding (`message.set(response)`), and the
    # functions import `..shared_code` relative to the app root.
    started = await start(http, f"{sample_host['api_url']}/orchestrators/DurableOrchestration")
    done = await wait_for_output(http, started["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed", done
    assert done["output"] == 5


@pytest.mark.parametrize("sample_host", ["samples/simple_sub_orchestration"], indirect=True)
async def test_v1_sub_orchestration(sample_host: dict[str, Any], http: aiohttp.ClientSession) -> None:
    started = await start(http, f"{sample_host['api_url']}/orchestrators/DurableOrchestrator")
    done = await wait_for_output(http, started["statusQueryGetUri"])
    assert done["output"] == "Hello Seattle!"


@pytest.mark.parametrize("sample_host", ["samples/fan_in_fan_out"], indirect=True)
async def test_v1_fan_in_fan_out_backs_up_its_own_functions(
    sample_host: dict[str, Any], http: aiohttp.ClientSession, azurite: AzuriteEndpoints
) -> None:
    from azure.storage.blob import BlobServiceClient

    # The v1 tutorial backs up the app's own E2_* function folders (their __init__.py / function.json).
    root = SAMPLES / "samples" / "fan_in_fan_out"
    backed_up = {
        f"{path.parent.name}_{path.name}": path.read_bytes()
        for pattern in ("E2_*/__init__.py", "E2_*/function.json")
        for path in root.glob(pattern)
    }
    assert len(backed_up) == 6

    started = await start(
        http, f"{sample_host['api_url']}/orchestrators/E2_BackupSiteContent", json=str(root)
    )
    done = await wait_for_output(http, started["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed", done
    assert done["output"] == sum(len(data) for data in backed_up.values())

    backups = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        "backups"
    )
    for name, data in backed_up.items():
        assert backups.download_blob(name).readall() == data


@pytest.mark.parametrize("sample_host", ["samples/counter_entity"], indirect=True)
async def test_v1_counter_entity(sample_host: dict[str, Any], http: aiohttp.ClientSession) -> None:
    api, code = sample_host["api_url"], {"code": sample_host["key"]}
    # The orchestration signals "add 3" to Counter@myCounter, then calls "get" on it.
    started = await start(http, f"{api}/orchestrators/DurableOrchestration")
    done = await wait_for_output(http, started["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed", done
    assert done["output"] == 3

    # RetrieveEntity (authLevel function) reads the state through the client's read_entity_state.
    async with http.get(f"{api}/entity/Counter/myCounter", params=code) as response:
        assert response.status == 200
        assert await response.json(content_type=None) == {"entity": "Counter", "key": "myCounter", "state": 3}
    async with http.get(f"{api}/entity/Counter/nobody", params=code) as response:
        assert response.status == 404
        assert await response.text() == "Entity not found"

    # An operation signalled over the Durable HTTP API reaches the same entity.
    webhooks = f"{sample_host['webhook_url']}/entities/Counter/myCounter"
    async with http.post(webhooks, params={**code, "op": "add"}, json=4) as response:
        assert response.status == 202
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        async with http.get(f"{api}/entity/Counter/myCounter", params=code) as response:
            state = (await response.json(content_type=None))["state"]
        if state == 7:
            break
        assert asyncio.get_running_loop().time() < deadline, state
        await asyncio.sleep(0.1)


def test_v1_human_interaction_is_refused_naming_its_twilio_binding() -> None:
    # SendSMSChallenge sends the challenge through a Twilio output binding, which the host does not
    # emulate: it refuses the app at start-up rather than drop the message.
    with (
        pytest.raises(RuntimeError, match=r"binding 'message' of type 'twilioSms' is not emulated"),
        run_emulator(function_apps=[SAMPLES / "samples" / "human_interaction"]),
    ):
        pass


@pytest.mark.parametrize(
    "sample_host", ["samples-v2/orchestration_versioning/function_app.py"], indirect=True
)
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # host.json sets defaultVersion 1.0: the orchestration takes the legacy path (activity_a).
        ({}, ["Orchestration version: 1.0", "Hello from A!"]),
        # The starter passes ?version= on to client.start_new(version=...): the new path.
        ({"version": "2.0"}, ["Orchestration version: 2.0", "Hello from B!"]),
    ],
)
async def test_v2_orchestration_versioning(
    sample_host: dict[str, Any], http: aiohttp.ClientSession, query: dict[str, str], expected: list[str]
) -> None:
    started = await start(http, f"{sample_host['api_url']}/orchestrators/my_orchestrator", params=query)
    waiting = await wait_for_output(
        http,
        started["statusQueryGetUri"],
        until=lambda body: body["customStatus"] == "Waiting for Continue event...",
    )
    assert waiting["runtimeStatus"] == "Running"
    async with http.post(started["sendEventPostUri"].replace("{eventName}", "Continue"), json={}) as response:
        assert response.status == 202
    done = await wait_for_output(http, started["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed", done
    assert done["customStatus"] == "Continue event received"
    # A sub-orchestration gets the version it is called with, else the host's defaultVersion.
    assert done["output"] == [
        expected[0],
        "Suborchestration version (explicit): 0.9",
        "Suborchestration version (default): 1.0",
        expected[1],
    ]
