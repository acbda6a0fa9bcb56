"""Validation of ACI probes and of the container group properties without local effect."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_azure_compute.emulator.aci.errors import CloudError
from airflow_azure_compute.emulator.aci.model import parse_group
from airflow_azure_compute.emulator.aci.probes import ProbeSpec, parse_probe
from airflow_azure_compute.emulator.aci.properties import (
    check_encryption,
    check_ip_address,
    check_registry_credentials,
    refuse_unknown_properties,
)

WHERE = "properties.containers[0].properties.livenessProbe"


def test_an_exec_probe_takes_the_aci_defaults() -> None:
    probe = parse_probe({"exec": {"command": ["true"]}}, WHERE, liveness=True)
    assert probe == ProbeSpec(command=("true",), period_s=10, failure_threshold=3, timeout_s=1)


def test_an_http_probe_keeps_its_path_scheme_and_headers() -> None:
    raw = {
        "httpGet": {
            "port": 8080,
            "path": "healthz",
            "scheme": "HTTPS",
            "httpHeaders": [{"name": "X", "value": "1"}],
        },
        "periodSeconds": 2,
    }
    probe = parse_probe(raw, WHERE, liveness=False)
    assert probe is not None
    assert (probe.port, probe.path, probe.scheme, dict(probe.headers), probe.period_s) == (
        8080, "/healthz", "https", {"X": "1"}, 2
    )  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "target"),
    [
        ({}, WHERE),
        ({"exec": {"command": ["true"]}, "httpGet": {"port": 80}}, WHERE),
        ({"exec": {"command": []}}, f"{WHERE}.exec.command"),
        ({"httpGet": {"port": 0}}, f"{WHERE}.httpGet.port"),
        ({"httpGet": {"port": 80, "scheme": "ftp"}}, f"{WHERE}.httpGet.scheme"),
        ({"exec": {"command": ["true"]}, "periodSeconds": 0}, f"{WHERE}.periodSeconds"),
        ({"exec": {"command": ["true"]}, "successThreshold": 2}, f"{WHERE}.successThreshold"),
        ({"exec": {"command": ["true"]}, "grpc": {"port": 1}}, f"{WHERE}.grpc"),
    ],
)
def test_invalid_probes_name_the_field(raw: dict[str, Any], target: str) -> None:
    with pytest.raises(CloudError) as info:
        parse_probe(raw, WHERE, liveness=True)
    assert (info.value.status, info.value.target) == (400, target)


def test_ports_and_the_ip_type_are_answered_in_azure_casing() -> None:
    props: dict[str, Any] = {"ipAddress": {"type": "public", "ports": [{"port": 80, "protocol": "udp"}]}}
    check_ip_address(props)
    assert props["ipAddress"] == {"type": "Public", "ports": [{"port": 80, "protocol": "UDP"}]}


def test_a_registry_identity_must_be_one_of_the_group() -> None:
    uai = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pull"
    props = {"imageRegistryCredentials": [{"server": "r.io", "identity": uai.upper()}]}
    check_registry_credentials(props, {"type": "UserAssigned", "userAssignedIdentities": {uai: {}}})
    with pytest.raises(CloudError) as info:
        check_registry_credentials(props, None)
    assert info.value.code == "InvalidImageRegistryCredentialIdentity"


def test_read_only_properties_of_an_answer_are_not_unknown() -> None:
    answer = {
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/g",
        "name": "g",
        "type": "Microsoft.ContainerInstance/containerGroups",
        "location": "westeurope",
        "properties": {
            "provisioningState": "Succeeded",
            "instanceView": {"state": "Running"},
            "ipAddress": {"type": "Public", "ports": [{"port": 80}], "ip": "1.2.3.4", "fqdn": "x"},
            "containers": [{"name": "c", "properties": {"image": "i", "instanceView": {}, "resources": {}}}],
        },
    }
    refuse_unknown_properties(answer)


KEY_IDENTITY = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/key-reader"
)
GROUP_IDENTITY = {"type": "UserAssigned", "userAssignedIdentities": {KEY_IDENTITY: {}}}
ENCRYPTION = "properties.encryptionProperties"


def _encryption(**changes: Any) -> dict[str, Any]:
    key = {
        "vaultBaseUrl": "https://vault.vault.azure.net",
        "keyName": "k",
        "keyVersion": "0123456789abcdef0123456789abcdef",
        "identity": KEY_IDENTITY,
    }
    key.update(changes)
    return {key_: value for key_, value in key.items() if value is not None}


def test_a_customer_managed_key_is_kept_with_the_vault_url_azure_answers() -> None:
    props = {"encryptionProperties": _encryption(identity=KEY_IDENTITY.upper())}
    check_encryption(props, GROUP_IDENTITY)  # resource ids compare without case
    assert props["encryptionProperties"]["vaultBaseUrl"] == "https://vault.vault.azure.net/"


def test_a_key_without_identity_is_reached_by_the_service_principal() -> None:
    props = {
        "encryptionProperties": _encryption(identity=None, vaultBaseUrl="https://vault.vault.azure.net/")
    }
    check_encryption(props, None)
    assert props["encryptionProperties"]["vaultBaseUrl"] == "https://vault.vault.azure.net/"


@pytest.mark.parametrize(
    ("raw", "identity", "target"),
    [
        ("https://vault.vault.azure.net", GROUP_IDENTITY, ENCRYPTION),
        (_encryption(vaultBaseUrl=None), GROUP_IDENTITY, f"{ENCRYPTION}.vaultBaseUrl"),
        (_encryption(vaultBaseUrl=""), GROUP_IDENTITY, f"{ENCRYPTION}.vaultBaseUrl"),
        (_encryption(vaultBaseUrl="http://vault.vault.azure.net"), GROUP_IDENTITY, f"{ENCRYPTION}.vaultBaseUrl"),
        (_encryption(vaultBaseUrl="vault.vault.azure.net"), GROUP_IDENTITY, f"{ENCRYPTION}.vaultBaseUrl"),
        (_encryption(vaultBaseUrl="https://vault.vault.azure.net/keys/k"), GROUP_IDENTITY, f"{ENCRYPTION}.vaultBaseUrl"),
        (_encryption(keyName=None), GROUP_IDENTITY, f"{ENCRYPTION}.keyName"),
        (_encryption(keyName=7), GROUP_IDENTITY, f"{ENCRYPTION}.keyName"),
        (_encryption(keyVersion=None), GROUP_IDENTITY, f"{ENCRYPTION}.keyVersion"),
        (_encryption(keyVersion=" "), GROUP_IDENTITY, f"{ENCRYPTION}.keyVersion"),
        (_encryption(), None, f"{ENCRYPTION}.identity"),
        (_encryption(identity=KEY_IDENTITY + "-other"), GROUP_IDENTITY, f"{ENCRYPTION}.identity"),
    ],
)  # fmt: skip
def test_a_malformed_customer_managed_key_names_the_field(raw: Any, identity: Any, target: str) -> None:
    with pytest.raises(CloudError) as info:
        check_encryption({"encryptionProperties": raw}, identity)
    assert (info.value.status, info.value.code, info.value.target) == (400, "InvalidRequestContent", target)
    assert target in info.value.message


def test_a_misspelt_encryption_property_is_refused() -> None:
    body = {"location": "l", "properties": {"encryptionProperties": _encryption(keyVerison="1")}}
    with pytest.raises(CloudError) as info:
        refuse_unknown_properties(body)
    assert info.value.target == f"{ENCRYPTION}.keyVerison"


def _group(**props: Any) -> dict[str, Any]:
    container = {
        "name": "main",
        "properties": {"image": "x", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}},
    }
    return {"location": "westeurope", "properties": {"containers": [container], "osType": "Linux", **props}}


@pytest.mark.parametrize(
    ("props", "target"),
    [
        ({"sku": "Confidential"}, "properties.sku"),
        ({"sku": "confidential", "confidentialComputeProperties": {"ccePolicy": "e30="}}, "properties.sku"),
        (
            {"confidentialComputeProperties": {"ccePolicy": "e30="}},
            "properties.confidentialComputeProperties",
        ),
    ],
)
def test_a_confidential_group_is_refused_for_what_its_containers_would_see(
    props: dict[str, Any], target: str
) -> None:
    with pytest.raises(CloudError) as info:
        parse_group(_group(**props), "g")
    assert (info.value.status, info.value.code, info.value.target) == (400, "FeatureNotEmulated", target)
    assert "enforcement policy" in info.value.message and "attestation" in info.value.message
