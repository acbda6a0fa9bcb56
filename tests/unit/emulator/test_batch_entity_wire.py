"""Read-only fields the Batch emulator adds to nodes and pools, as Batch returns them."""

from __future__ import annotations

from pathlib import Path

from airflow_azure_compute.emulator.batch.model import Node, Pool

IMAGE = {
    "imageReference": {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-focal", "sku": "20_04-lts"},
    "nodeAgentSKUId": "batch.node.ubuntu 20.04",
}
UAI = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"


def _node() -> Node:
    return Node(id="tvmps_abc0003_d", pool_id="p", is_dedicated=True, root=Path("/nowhere"), slots=1)


def test_a_node_without_nat_pools_has_the_default_ssh_endpoint_and_no_ipv6_address() -> None:
    wire = _node().wire("https://acct/pools/p", "standard_d2s_v3", None, IMAGE)
    (endpoint,) = wire["endpointConfiguration"]["inboundEndpoints"]
    assert endpoint["name"] == "SSHRule.3" and endpoint["backendPort"] == 22
    assert endpoint["frontendPort"] == 50002  # one port per node from the start of the range
    assert "ipv6Address" not in wire
    assert wire["virtualMachineInfo"]["imageReference"]["exactVersion"] == "latest"


def test_a_dual_stack_node_has_an_ipv6_address_and_an_endpoint_per_nat_pool_and_family() -> None:
    network = {
        "publicIPAddressConfiguration": {"ipFamilies": ["IPv4", "IPv6"]},
        "endpointConfiguration": {
            "inboundNATPools": [
                {"name": "sshpool", "protocol": "TCP", "backendPort": 22, "frontendPortRangeStart": 40000}
            ]
        },
    }
    wire = _node().wire("https://acct/pools/p", "standard_d2s_v3", None, IMAGE, network)
    assert wire["ipv6Address"]
    endpoints = wire["endpointConfiguration"]["inboundEndpoints"]
    assert [e["name"] for e in endpoints] == ["sshpool.3", "sshpool-ipv6.3"]
    assert {e["frontendPort"] for e in endpoints} == {40002} and {e["protocol"] for e in endpoints} == {"tcp"}


def test_a_pool_reports_its_node_communication_mode_and_its_identities_ids() -> None:
    spec = {
        "id": "p",
        "vmSize": "standard_d2s_v3",
        "virtualMachineConfiguration": IMAGE,
        "identity": {"type": "UserAssigned", "userAssignedIdentities": [{"resourceId": UAI}]},
    }
    wire = Pool(id="p", spec=spec, base_url="https://acct").wire()
    assert wire["currentNodeCommunicationMode"] == "classic"
    (identity,) = wire["identity"]["userAssignedIdentities"]
    assert identity["resourceId"] == UAI and identity["principalId"] and identity["clientId"]
    again = Pool(id="p", spec=spec, base_url="https://acct").wire()["identity"]["userAssignedIdentities"][0]
    assert again == identity  # stable across reads
    simplified = Pool(
        id="q", spec={**spec, "targetNodeCommunicationMode": "simplified"}, base_url="https://acct"
    )
    assert simplified.wire()["currentNodeCommunicationMode"] == "simplified"
