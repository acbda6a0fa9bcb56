"""Volumes, GPU resources and managed identities in the ACI emulator's pure rules."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from airflow_azure_compute.emulator.aci.errors import CloudError
from airflow_azure_compute.emulator.aci.model import (
    EMULATOR_TENANT_ID,
    assign_identity,
    localize,
    parse_group,
    redact,
)

UAI = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/me"


def body(mounts: list[dict[str, Any]] | None = None, **props: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "properties": {
            "image": "python:3.12",
            "command": ["python", "-c", "pass"],
            "resources": {"requests": {"cpu": 1, "memoryInGB": 1.5}},
        },
    }
    if mounts is not None:
        container["properties"]["volumeMounts"] = mounts
    return {"location": "westeurope", "properties": {"osType": "Linux", "containers": [container], **props}}


def three_volumes() -> dict[str, Any]:
    return body(
        [
            {"name": "share", "mountPath": "/mnt/share"},
            {"name": "scratch", "mountPath": "/scratch/"},
            {"name": "certs", "mountPath": "/etc/certs", "readOnly": True},
        ],
        volumes=[
            {"name": "share", "azureFile": {"shareName": "s", "storageAccountName": "acct", "storageAccountKey": "KEY"}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "certs", "secret": {"token.txt": base64.b64encode(b"tok-1").decode()}},
        ],
    )  # fmt: skip


def test_volumes_and_mounts_are_parsed() -> None:
    spec = parse_group(three_volumes(), "g")
    kinds = {v.name: (v.kind, v.share, dict(v.files)) for v in spec.volumes}
    assert kinds == {
        "share": ("azureFile", ("acct", "s"), {}),
        "scratch": ("emptyDir", None, {}),
        "certs": ("secret", None, {"token.txt": b"tok-1"}),
    }
    mounts = [(m.volume, m.mount_path, m.read_only) for m in spec.containers[0].mounts]
    assert mounts == [
        ("share", "/mnt/share", False),
        ("scratch", "/scratch", False),
        ("certs", "/etc/certs", True),
    ]


def test_redact_hides_the_storage_key_and_secret_contents() -> None:
    out = redact(parse_group(three_volumes(), "g").body)
    volumes = {v["name"]: v for v in out["properties"]["volumes"]}
    assert volumes["share"]["azureFile"] == {"shareName": "s", "storageAccountName": "acct"}
    assert volumes["certs"]["secret"] == {} and volumes["scratch"]["emptyDir"] == {}


def _volume(**kind: Any) -> dict[str, Any]:
    return body([{"name": "v", "mountPath": "/mnt/v"}], volumes=[{"name": "v", **kind}])


def _gpu(sku: Any, count: Any, **group: Any) -> dict[str, Any]:
    raw = body(**group.pop("props", {}))
    raw["properties"]["containers"][0]["properties"]["resources"]["requests"]["gpu"] = {
        "sku": sku,
        "count": count,
    }
    raw.update(group)
    return raw


C0 = "properties.containers[0].properties"


@pytest.mark.parametrize(
    ("raw", "code", "target"),
    [
        (_volume(azureFile={"shareName": "s", "storageAccountName": "a"}), "InvalidRequestContent", "properties.volumes[0].azureFile.storageAccountKey"),
        (_volume(secret={"f": "not base64!"}), "InvalidRequestContent", "properties.volumes[0].secret.f"),
        (_volume(emptyDir={}, secret={}), "InvalidVolumeDefinition", "properties.volumes[0]"),
        (_volume(), "InvalidVolumeDefinition", "properties.volumes[0]"),
        (_volume(gitRepo={"repository": "https://example.invalid/r"}), "FeatureNotEmulated", "properties.volumes[0].gitRepo"),
        (body([{"name": "nope", "mountPath": "/mnt/x"}]), "VolumeMountNameNotFound", f"{C0}.volumeMounts[0].name"),
        (body([{"name": "v", "mountPath": "relative"}], volumes=[{"name": "v", "emptyDir": {}}]), "InvalidVolumeMountPath", f"{C0}.volumeMounts[0].mountPath"),
        (body([{"name": "v", "mountPath": "/a"}, {"name": "w", "mountPath": "/a"}], volumes=[{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]), "DuplicateVolumeMountPath", f"{C0}.volumeMounts"),
        (body(volumes=[{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]), "DuplicateVolumeName", "properties.volumes"),
        (body(volumes=[{"name": f"v{i}", "emptyDir": {}} for i in range(21)]), "InvalidRequestContent", "properties.volumes"),
        (_gpu("A100", 1), "InvalidGpuSku", f"{C0}.resources.requests.gpu.sku"),
        (_gpu("V100", 3), "InvalidGpuCount", f"{C0}.resources.requests.gpu.count"),
        (_gpu("V100", 0), "InvalidGpuCount", f"{C0}.resources.requests.gpu.count"),
        (_gpu("K80", 1, props={"osType": "Windows"}), "GpuNotSupportedForOsType", f"{C0}.resources.requests.gpu"),
        (_gpu("K80", 1, location="japaneast"), "GpuSkuNotAvailableInRegion", f"{C0}.resources.requests.gpu.sku"),
        ({**body(), "identity": {"type": "Everyone"}}, "InvalidIdentityType", "identity.type"),
        ({**body(), "identity": {"type": "UserAssigned"}}, "InvalidIdentityValues", "identity.userAssignedIdentities"),
        ({**body(), "identity": {"type": "SystemAssigned", "userAssignedIdentities": {UAI: {}}}}, "InvalidIdentityValues", "identity.userAssignedIdentities"),
        ({**body(), "identity": {"type": "UserAssigned", "userAssignedIdentities": {"/subscriptions/s/x": {}}}}, "InvalidIdentityValues", "identity.userAssignedIdentities"),
    ],
)  # fmt: skip
def test_invalid_volumes_gpu_and_identity_name_the_property(
    raw: dict[str, Any], code: str, target: str
) -> None:
    with pytest.raises(CloudError) as info:
        parse_group(raw, "g")
    assert (info.value.status, info.value.code, info.value.target) == (400, code, target)


def test_gpu_is_accepted_and_its_sku_spelled_as_azure_does() -> None:
    spec = parse_group(_gpu("v100", 2), "g")
    assert spec.body["properties"]["containers"][0]["properties"]["resources"]["requests"]["gpu"] == {
        "sku": "V100",
        "count": 2,
    }


def test_identity_gets_principals_kept_across_updates() -> None:
    raw = {**body(), "identity": {"type": "systemassigned,UserAssigned", "userAssignedIdentities": {UAI: {}}}}
    first = parse_group(raw, "g").body
    assign_identity(first, None)
    identity = first["identity"]
    assert identity["type"] == "SystemAssigned, UserAssigned" and identity["tenantId"] == EMULATOR_TENANT_ID
    user = identity["userAssignedIdentities"][UAI]
    assert set(user) == {"principalId", "clientId"} and user["principalId"] != user["clientId"]
    again = parse_group(raw, "g").body
    assign_identity(again, first)
    assert again["identity"] == identity  # same group, same principal; same identity, same ids
    other = parse_group(raw, "h").body
    assign_identity(other, None)
    assert other["identity"]["principalId"] != identity["principalId"]
    assert other["identity"]["userAssignedIdentities"] == identity["userAssignedIdentities"]


def test_identity_none_is_dropped() -> None:
    raw = parse_group({**body(), "identity": {"type": "None"}}, "g").body
    assign_identity(raw, None)
    assert "identity" not in raw


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/mnt/data", "/L"),
        ("/mnt/data/out.txt", "/L/out.txt"),
        ("cat /mnt/data/a > /mnt/database/b", "cat /L/a > /mnt/database/b"),
        ("/x/mnt/data/a", "/x/mnt/data/a"),
        ("open('/mnt/data/sub/f')", "open('/S/f')"),
        ("no paths here", "no paths here"),
    ],
)
def test_localize_rewrites_whole_mount_paths_only(text: str, expected: str) -> None:
    assert localize(text, {"/mnt/data": "/L", "/mnt/data/sub": "/S"}) == expected
