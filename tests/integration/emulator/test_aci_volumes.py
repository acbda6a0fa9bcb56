"""Volumes, GPU and managed identity on the ACI emulator: containers (local processes) write and read
through their mount paths; answers echo GPU and identity as ARM does and never a secret."""

from __future__ import annotations

import base64
import json
import sys
import uuid
from typing import Any

import pytest

from tests.integration.emulator.aci_support import raw
from tests.integration.emulator.batch_support import wait_for

pytestmark = pytest.mark.integration
API = "api-version=2023-05-01"
STORAGE_KEY = "c3RvcmFnZS1rZXktbmV2ZXItZWNob2Vk"
SECRET = b"tok-from-a-secret-volume"
UAI = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/worker"


def _url(aci: dict[str, Any], name: str) -> str:
    return (
        f"{aci['url']}/subscriptions/{aci['subscription_id']}/resourceGroups/{aci['resource_group']}"
        f"/providers/Microsoft.ContainerInstance/containerGroups/{name}?{API}"
    )


def _container(name: str, code: str, mounts: list[dict[str, Any]], **requests: Any) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "image": "python:3.12",
            "command": [sys.executable, "-c", code],
            "resources": {"requests": {"cpu": 1, "memoryInGB": 1, **requests}},
            "volumeMounts": mounts,
        },
    }


def _run(aci: dict[str, Any], name: str, body: dict[str, Any]) -> dict[str, Any]:
    """PUT the group, wait until it is no longer running, return its final GET."""
    headers = {"Authorization": f"Bearer {aci['token']}"}
    status, created, _ = raw(aci, "PUT", _url(aci, name), body, headers=headers)
    assert status == 201, created

    def finished() -> dict[str, Any] | None:
        group = raw(aci, "GET", _url(aci, name), headers=headers)[1]
        return group if group["properties"]["instanceView"]["state"] in ("Succeeded", "Failed") else None

    return wait_for(finished, what=f"group {name} to finish")


def _logs(aci: dict[str, Any], name: str, container: str) -> str:
    url = _url(aci, name).replace(f"?{API}", f"/containers/{container}/logs?{API}")
    return str(raw(aci, "GET", url, headers={"Authorization": f"Bearer {aci['token']}"})[1]["content"])


def test_containers_share_volumes_through_their_mount_paths(aci: dict[str, Any]) -> None:
    share = f"share-{uuid.uuid4().hex[:6]}"
    volumes = [
        {"name": "scratch", "emptyDir": {}},
        {"name": "certs", "secret": {"token.txt": base64.b64encode(SECRET).decode()}},
        {"name": "files", "azureFile": {"shareName": share, "storageAccountName": "acct", "storageAccountKey": STORAGE_KEY}},
    ]  # fmt: skip
    writer = (
        "import os, time\n"
        "token = open('/etc/certs/token.txt').read()\n"
        "open('/scratch/handoff.txt', 'w').write('via emptyDir: ' + token)\n"
        "open('/mnt/files/result.txt', 'w').write('via share: ' + token)\n"
        "print('wrote', os.environ['OUT'])\n"
    )
    reader = (
        "import os, time\n"
        "while not os.path.exists('/scratch/handoff.txt'): time.sleep(0.05)\n"
        "time.sleep(0.1)\n"
        "print(open('/scratch/handoff.txt').read())\n"
    )
    body = {
        "location": "westeurope",
        "properties": {
            "osType": "Linux",
            "restartPolicy": "Never",
            "volumes": volumes,
            "containers": [
                _container("writer", writer, [
                    {"name": "scratch", "mountPath": "/scratch"},
                    {"name": "certs", "mountPath": "/etc/certs", "readOnly": True},
                    {"name": "files", "mountPath": "/mnt/files"},
                ]),
                _container("reader", reader, [{"name": "scratch", "mountPath": "/scratch"}]),
            ],
        },
    }  # fmt: skip
    body["properties"]["containers"][0]["properties"]["environmentVariables"] = [
        {"name": "OUT", "value": "/mnt/files/result.txt"}
    ]
    name = f"vol-{uuid.uuid4().hex[:8]}"
    group = _run(aci, name, body)
    assert group["properties"]["instanceView"]["state"] == "Succeeded"
    text = json.dumps(group)
    assert STORAGE_KEY not in text and base64.b64encode(SECRET).decode() not in text
    answered = {v["name"]: v for v in group["properties"]["volumes"]}
    assert answered["certs"]["secret"] == {}
    assert answered["files"]["azureFile"] == {"shareName": share, "storageAccountName": "acct"}
    assert _logs(aci, name, "reader").strip() == f"via emptyDir: {SECRET.decode()}"
    written = _logs(aci, name, "writer").strip()
    assert written.startswith("wrote ") and written.endswith("/acct/" + share + "/result.txt")

    # the share outlives the group: another group mounting it elsewhere reads the file
    again = {
        "location": "westeurope",
        "properties": {
            "osType": "Linux",
            "restartPolicy": "Never",
            "volumes": [volumes[2]],
            "containers": [
                _container("late", "print(open('/data/result.txt').read())", [{"name": "files", "mountPath": "/data"}])
            ],
        },
    }  # fmt: skip
    second = f"vol2-{uuid.uuid4().hex[:8]}"
    assert _run(aci, second, again)["properties"]["instanceView"]["state"] == "Succeeded"
    assert _logs(aci, second, "late").strip() == f"via share: {SECRET.decode()}"
    for group_name in (name, second):
        raw(aci, "DELETE", _url(aci, group_name), headers={"Authorization": f"Bearer {aci['token']}"})


def test_gpu_and_identity_are_echoed_as_arm_does(aci: dict[str, Any]) -> None:
    body = {
        "location": "westeurope",
        "identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {UAI: {}}},
        "properties": {
            "osType": "Linux",
            "restartPolicy": "Never",
            "containers": [_container("gpu", "print('ok')", [], gpu={"count": 1, "sku": "v100"})],
        },
    }
    name = f"gpu-{uuid.uuid4().hex[:8]}"
    group = _run(aci, name, body)
    requests = group["properties"]["containers"][0]["properties"]["resources"]["requests"]
    assert requests["gpu"] == {"count": 1, "sku": "V100"}
    identity = group["identity"]
    assert identity["type"] == "SystemAssigned, UserAssigned"
    uuid.UUID(identity["principalId"]), uuid.UUID(identity["tenantId"])
    user = identity["userAssignedIdentities"][UAI]
    uuid.UUID(user["principalId"]), uuid.UUID(user["clientId"])
    headers = {"Authorization": f"Bearer {aci['token']}"}
    status, updated, _ = raw(aci, "PUT", _url(aci, name), body, headers=headers)
    assert status == 200 and updated["identity"]["principalId"] == identity["principalId"]
    raw(aci, "DELETE", _url(aci, name), headers=headers)
