"""Validation of ACI probes and of the container group properties without local effect."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_azure_compute.emulator.aci.errors import CloudError
from airflow_azure_compute.emulator.aci.probes import ProbeSpec, parse_probe
from airflow_azure_compute.emulator.aci.properties import (
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
