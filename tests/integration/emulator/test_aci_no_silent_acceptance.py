"""No silent acceptance in the ACI emulator: every property of a container group create is emulated,
validated and echoed (no local effect), or refused with a 400 naming it (the audit of
`emulator/aci/properties.py`), through raw ARM requests and azure-mgmt-containerinstance."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerinstance import ContainerInstanceManagementClient
from azure.mgmt.containerinstance import models as m

from tests.integration.emulator.aci_support import raw
from tests.integration.emulator.batch_support import wait_for

pytestmark = pytest.mark.integration
API = "api-version=2023-05-01"
IDENTITY = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/puller"
)

VAULT = "https://keys.vault.azure.net"


@pytest.fixture(scope="module")
def client(aci_sdk: Any) -> Any:
    return aci_sdk


def _groups(aci: dict[str, Any]) -> str:
    return (
        f"{aci['url']}/subscriptions/{aci['subscription_id']}/resourceGroups/{aci['resource_group']}"
        "/providers/Microsoft.ContainerInstance/containerGroups"
    )


def _body() -> dict[str, Any]:
    container = {
        "name": "main",
        "properties": {
            "image": "busybox",
            "command": ["/bin/sh", "-c", "echo ready; sleep 30"],
            "resources": {"requests": {"cpu": 1, "memoryInGB": 1}},
        },
    }
    return {"location": "westeurope", "properties": {"containers": [container], "osType": "Linux"}}


def _props(body: dict[str, Any]) -> dict[str, Any]:
    return body["properties"]  # type: ignore[no-any-return]


def _main(body: dict[str, Any]) -> dict[str, Any]:
    return body["properties"]["containers"][0]["properties"]  # type: ignore[no-any-return]


Change = Callable[[dict[str, Any]], None]
#: (what the request uses, the change making it, the property the 400 names, its error code).
REFUSALS: list[tuple[str, Change, str, str]] = [
    ("init container security context", lambda b: _props(b).update(initContainers=[
        {"name": "i", "properties": {"image": "x", "securityContext": {"privileged": True}}}]),
     "properties.initContainers[0].properties.securityContext", "FeatureNotEmulated"),
    ("Spot priority", lambda b: _props(b).update(priority="Spot"), "properties.priority", "FeatureNotEmulated"),
    ("Confidential SKU", lambda b: _props(b).update(sku="Confidential"), "properties.sku", "FeatureNotEmulated"),
    ("confidential compute", lambda b: _props(b).update(confidentialComputeProperties={"ccePolicy": "e30="}),
     "properties.confidentialComputeProperties", "FeatureNotEmulated"),
    ("extensions", lambda b: _props(b).update(extensions=[{"name": "kube-proxy", "properties": {}}]),
     "properties.extensions", "FeatureNotEmulated"),
    ("Confidential SKU with a CCE policy", lambda b: _props(b).update(
        sku="Confidential", confidentialComputeProperties={"ccePolicy": "e30="}),
     "properties.sku", "FeatureNotEmulated"),
    ("a customer-managed key without a version", lambda b: _props(b).update(
        encryptionProperties={"vaultBaseUrl": VAULT, "keyName": "k"}),
     "properties.encryptionProperties.keyVersion", "InvalidRequestContent"),
    ("a customer-managed key in no vault", lambda b: _props(b).update(
        encryptionProperties={"vaultBaseUrl": "vault.vault.azure.net", "keyName": "k", "keyVersion": "1"}),
     "properties.encryptionProperties.vaultBaseUrl", "InvalidRequestContent"),
    ("a key vault identity the group lacks", lambda b: _props(b).update(
        encryptionProperties={"vaultBaseUrl": VAULT, "keyName": "k", "keyVersion": "1", "identity": IDENTITY}),
     "properties.encryptionProperties.identity", "InvalidRequestContent"),
    ("a misspelt customer-managed key property", lambda b: _props(b).update(
        encryptionProperties={"vaultBaseUrl": VAULT, "keyName": "k", "keyVersion": "1", "keyVaultUrl": VAULT}),
     "properties.encryptionProperties.keyVaultUrl", "InvalidRequestContent"),
    ("a probe with exec and httpGet", lambda b: _main(b).update(
        livenessProbe={"exec": {"command": ["true"]}, "httpGet": {"port": 80}}),
     "properties.containers[0].properties.livenessProbe", "InvalidRequestContent"),
    ("a probe period of 0", lambda b: _main(b).update(readinessProbe={"httpGet": {"port": 80}, "periodSeconds": 0}),
     "properties.containers[0].properties.readinessProbe.periodSeconds", "InvalidRequestContent"),
    ("a probe on an init container", lambda b: _props(b).update(initContainers=[
        {"name": "i", "properties": {"image": "x", "livenessProbe": {"exec": {"command": ["true"]}}}}]),
     "properties.initContainers[0].properties.livenessProbe", "InvalidRequestContent"),
    ("security context", lambda b: _main(b).update(securityContext={"privileged": True}),
     "properties.containers[0].properties.securityContext", "FeatureNotEmulated"),
    ("private IP address", lambda b: _props(b).update(ipAddress={"type": "Private", "ports": [{"port": 80}]}),
     "properties.ipAddress.type", "FeatureNotEmulated"),
    ("DNS label scope", lambda b: _props(b).update(ipAddress={
        "type": "Public", "ports": [{"port": 80}], "dnsNameLabel": "d", "autoGeneratedDomainNameLabelScope": "TenantReuse"}),
     "properties.ipAddress.autoGeneratedDomainNameLabelScope", "FeatureNotEmulated"),
    ("a property of a later api-version", lambda b: _props(b).update(standbyPoolProfile={"id": "x"}),
     "properties.standbyPoolProfile", "InvalidRequestContent"),
    ("a misspelt container property", lambda b: _main(b).update(enviromentVariables=[]),
     "properties.containers[0].properties.enviromentVariables", "InvalidRequestContent"),
    ("a misspelt resource amount", lambda b: _main(b)["resources"]["requests"].update(memoryInGb=2),
     "properties.containers[0].properties.resources.requests.memoryInGb", "InvalidRequestContent"),
    ("a registry identity the group lacks", lambda b: _props(b).update(
        imageRegistryCredentials=[{"server": "r.azurecr.io", "identity": IDENTITY}]),
     "properties.imageRegistryCredentials[0].identity", "InvalidImageRegistryCredentialIdentity"),
    ("a port out of range", lambda b: _main(b).update(ports=[{"port": 70000}]),
     "properties.containers[0].properties.ports[0].port", "InvalidRequestContent"),
    ("a negative CPU limit", lambda b: _main(b)["resources"].update(limits={"cpu": -1}),
     "properties.containers[0].properties.resources.limits.cpu", "InvalidRequestContent"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "change", "target", "code"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_name_the_property(
    aci: dict[str, Any], what: str, change: Change, target: str, code: str
) -> None:
    body = _body()
    change(body)
    name = f"refused-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {aci['token']}"}
    status, answer, _ = raw(aci, "PUT", f"{_groups(aci)}/{name}?{API}", body, headers=headers)
    assert status == 400, answer
    assert answer["error"]["code"] == code and answer["error"]["target"] == target
    assert target in answer["error"]["message"]
    assert raw(aci, "GET", f"{_groups(aci)}/{name}?{API}", headers=headers)[0] == 404  # nothing half-created


def test_properties_without_local_effect_are_validated_and_echoed(
    client: ContainerInstanceManagementClient, aci: dict[str, Any]
) -> None:
    name = f"echoed-{uuid.uuid4().hex[:8]}"
    group = m.ContainerGroup(
        location="westeurope",
        zones=["1"],
        identity=m.ContainerGroupIdentity(
            type="UserAssigned", user_assigned_identities={IDENTITY: m.UserAssignedIdentities()}
        ),
        containers=[
            m.Container(
                name="main",
                image="example.azurecr.io/app:1",
                command=["/bin/sh", "-c", "echo ready; sleep 30"],
                ports=[m.ContainerPort(port=8080, protocol="tcp")],
                resources=m.ResourceRequirements(
                    requests=m.ResourceRequests(cpu=1.0, memory_in_gb=1.5),
                    limits=m.ResourceLimits(cpu=2.0, memory_in_gb=3.0),
                ),
            )
        ],
        image_registry_credentials=[
            m.ImageRegistryCredential(server="example.azurecr.io", identity=IDENTITY)
        ],
        ip_address=m.IpAddress(type="Public", ports=[m.Port(port=8080, protocol="TCP")], dns_name_label=name),
        os_type="Linux",
        restart_policy="Never",
        priority="Regular",
        sku="Standard",
    )
    created = client.container_groups.begin_create_or_update(aci["resource_group"], name, group).result()
    try:
        main = created.containers[0]
        assert created.zones == ["1"]
        assert main.ports[0].port == 8080 and main.ports[0].protocol == "TCP"  # Azure's casing
        assert main.resources.limits.cpu == 2.0 and main.resources.limits.memory_in_gb == 3.0
        assert created.image_registry_credentials[0].identity == IDENTITY
        assert created.ip_address.ports[0].port == 8080
        assert created.ip_address.fqdn == f"{name}.westeurope.azurecontainer.io"
        wait_for(
            lambda: client.container_groups.get(aci["resource_group"], name).instance_view.state == "Running",
            what="the group to run",
        )
    finally:
        client.container_groups.begin_delete(aci["resource_group"], name).result()


def test_a_group_with_a_customer_managed_key_runs_and_reads_it_back(
    client: ContainerInstanceManagementClient, aci: dict[str, Any]
) -> None:
    name = f"cmk-{uuid.uuid4().hex[:8]}"
    key = m.EncryptionProperties(
        vault_base_url=VAULT, key_name="group-key", key_version="0a1b2c", identity=IDENTITY
    )
    group = m.ContainerGroup(
        location="westeurope",
        identity=m.ContainerGroupIdentity(
            type="UserAssigned", user_assigned_identities={IDENTITY: m.UserAssignedIdentities()}
        ),
        containers=[
            m.Container(
                name="main",
                image="busybox",
                command=["/bin/sh", "-c", "echo encrypted at rest only; sleep 30"],
                resources=m.ResourceRequirements(requests=m.ResourceRequests(cpu=1.0, memory_in_gb=1.0)),
            )
        ],
        os_type="Linux",
        restart_policy="Never",
        encryption_properties=key,
    )
    created = client.container_groups.begin_create_or_update(aci["resource_group"], name, group).result()
    try:
        expected = {"vault_base_url": f"{VAULT}/", "key_name": "group-key", "key_version": "0a1b2c",
                    "identity": IDENTITY}  # fmt: skip
        assert created.encryption_properties.as_dict() == expected  # the vault URL as Azure answers it
        assert created.sku == "Standard" and created.init_containers == []
        wait_for(
            lambda: client.container_groups.get(aci["resource_group"], name).instance_view.state == "Running",
            what="the group to run",
        )
        wait_for(
            lambda: (
                "encrypted at rest only"
                in (client.containers.list_logs(aci["resource_group"], name, "main").content or "")
            ),
            what="the container's output",
        )
        read = client.container_groups.get(aci["resource_group"], name)
        assert read.encryption_properties.as_dict() == expected
        assert read.identity.tenant_id and IDENTITY in read.identity.user_assigned_identities
    finally:
        client.container_groups.begin_delete(aci["resource_group"], name).result()


def test_a_refusal_reaches_the_sdk_as_an_error_naming_the_property(
    client: ContainerInstanceManagementClient, aci: dict[str, Any]
) -> None:
    group = m.ContainerGroup(
        location="westeurope",
        containers=[
            m.Container(
                name="main",
                image="busybox",
                command=["true"],
                resources=m.ResourceRequirements(requests=m.ResourceRequests(cpu=1.0, memory_in_gb=1.0)),
            )
        ],
        os_type="Linux",
        priority="Spot",
    )
    with pytest.raises(HttpResponseError) as caught:
        client.container_groups.begin_create_or_update(aci["resource_group"], "spot-group", group).result()
    assert caught.value.status_code == 400 and "properties.priority" in str(caught.value)
