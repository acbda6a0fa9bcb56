"""Microsoft's own Durable Functions sample apps, unchanged, on the emulator's Durable host.

Each app in ``tests/integration/durable_samples/`` is a verbatim copy of a sample of
azure-functions-durable-python (its README there names the repository, path and commit). The
emulator loads it with ``--function-app`` and every sample is driven the way its tutorial says: the
HTTP starter route, then the status query URI from the check-status response, until the
documented output comes back.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
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
    app = SAMPLES / request.param / "function_app.py"
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
    http: aiohttp.ClientSession, status_uri: str, timeout: float = 60
) -> dict[str, Any]:
    """Poll the status query URI (as a client of the tutorial does) until the instance is done."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with http.get(status_uri) as response:
            body: dict[str, Any] = await response.json(content_type=None)
            if body["runtimeStatus"] not in RUNNING:
                assert response.status == 200, body
                return body
            assert response.status == 202, body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("sample_host", ["function_chaining"], indirect=True)
async def test_function_chaining(sample_host: dict[str, Any], http: aiohttp.ClientSession) -> None:
    started = await start(http, f"{sample_host['api_url']}/orchestrators/my_orchestrator")
    done = await wait_for_output(http, started["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed"
    assert done["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


@pytest.mark.parametrize("sample_host", ["simple_sub_orchestration"], indirect=True)
async def test_sub_orchestration(sample_host: dict[str, Any], http: aiohttp.ClientSession) -> None:
    # The README: "make a GET request to .../api/orchestrators/orchestrator"
    async with http.get(f"{sample_host['api_url']}/orchestrators/orchestrator") as response:
        started = await response.json(content_type=None)
        assert response.status == 202, started
    done = await wait_for_output(http, started["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed"
    assert done["output"] == "Hello Seattle"


@pytest.mark.parametrize("sample_host", ["blueprint"], indirect=True)
async def test_blueprint(sample_host: dict[str, Any], http: aiohttp.ClientSession) -> None:
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


@pytest.mark.parametrize("sample_host", ["fan_in_fan_out"], indirect=True)
async def test_fan_in_fan_out_backs_up_to_blob(
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
