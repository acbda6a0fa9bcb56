"""Every hook's ``test_connection`` makes one real call and reports what the service said."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from airflow_azure_compute.emulator.airflow_env import connections, env_name
from airflow_azure_compute.hooks.batch import BatchHook
from airflow_azure_compute.hooks.blob import BlobHook
from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook
from airflow_azure_compute.hooks.durable import DurableHook
from airflow_azure_compute.testing.stack import AzuriteEndpoints

pytestmark = pytest.mark.integration

WRONG_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmc="

HOOKS = {
    "azure_compute_batch_default": BatchHook,
    "azure_compute_blob_default": BlobHook,
    "azure_compute_aci_default": ContainerInstancesHook,
    "azure_compute_durable_default": DurableHook,
}


def _use(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict[str, Any]) -> None:
    monkeypatch.setenv(env_name(conn_id), json.dumps(conn))


@pytest.mark.parametrize("conn_id", sorted(HOOKS))
def test_test_connection_succeeds_against_the_live_service(
    conn_id: str, emulator: dict[str, Any], azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, conn_id, connections(emulator, azurite)[conn_id])
    ok, message = HOOKS[conn_id](azure_conn_id=conn_id).test_connection()
    assert ok, message
    assert message


@pytest.mark.parametrize(
    ("conn_id", "expected"),
    [
        ("azure_compute_batch_default", "AuthenticationFailed"),
        ("azure_compute_blob_default", "failed to authenticate"),
        ("azure_compute_durable_default", "401"),
    ],
)
def test_a_wrong_key_fails_with_the_services_message(
    conn_id: str,
    expected: str,
    emulator: dict[str, Any],
    azurite: AzuriteEndpoints,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = connections(emulator, azurite)[conn_id]
    conn["password"] = WRONG_KEY
    _use(monkeypatch, conn_id, conn)
    ok, message = HOOKS[conn_id](azure_conn_id=conn_id).test_connection()
    assert not ok
    assert expected in message, message
    assert f"connection {conn_id!r}" in message, message
    assert WRONG_KEY not in message


def test_an_unreachable_arm_endpoint_fails(
    emulator: dict[str, Any], azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connections(emulator, azurite)["azure_compute_aci_default"]
    conn["extra"] = {**conn["extra"], "arm_endpoint": "https://127.0.0.1:9"}
    _use(monkeypatch, "azure_compute_aci_default", conn)
    ok, message = ContainerInstancesHook().test_connection()
    assert not ok
    assert "could not reach https://127.0.0.1:9" in message and "check the Host" in message, message
    assert conn["extra"]["token"] not in message


# ---------------------------------------------- connections of the official Microsoft Azure provider
def _official(emulator: dict[str, Any], azurite: AzuriteEndpoints) -> dict[str, dict[str, Any]]:
    """Connections written as the official provider documents them, to the same live services."""
    batch, aci = emulator["batch"], emulator["aci"]
    return {
        "wasb_login_key": {
            "conn_type": "wasb", "host": azurite.blob_url, "login": azurite.account_name,
            "password": azurite.account_key,
        },
        "wasb_connection_string": {
            "conn_type": "wasb", "extra": {"connection_string": azurite.connection_string},
        },
        "wasb_shared_access_key": {
            "conn_type": "wasb", "host": azurite.blob_url,
            "extra": {"extra__wasb__shared_access_key": azurite.account_key},
        },
        "azure_batch_shared_key": {
            "conn_type": "azure_batch", "login": batch["account_name"], "password": batch["account_key"],
            "extra": {"account_url": batch["url"]},
        },
        # The official type authenticates with Entra ID only; the emulator takes a bearer token, given
        # with this provider's own extra keys, which are read on official types too.
        "azure_container_instances_token": {
            "conn_type": "azure_container_instances",
            "extra": {
                "subscriptionId": aci["subscription_id"], "resource_group": aci["resource_group"],
                "arm_endpoint": aci["url"], "auth_mode": "token", "token": aci["token"],
                "ca_bundle": aci["ca_path"],
            },
        },
    }  # fmt: skip


OFFICIAL_HOOKS = {
    "wasb_login_key": BlobHook,
    "wasb_connection_string": BlobHook,
    "wasb_shared_access_key": BlobHook,
    "azure_batch_shared_key": BatchHook,
    "azure_container_instances_token": ContainerInstancesHook,
}


@pytest.mark.parametrize("conn_id", sorted(OFFICIAL_HOOKS))
def test_official_connection_types_work_against_the_live_service(
    conn_id: str, emulator: dict[str, Any], azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, conn_id, _official(emulator, azurite)[conn_id])
    ok, message = OFFICIAL_HOOKS[conn_id](conn_id).test_connection()
    assert ok, message


def test_a_wasb_connection_moves_data(
    emulator: dict[str, Any], azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the probe: a blob written and read back through a ``wasb`` connection."""
    _use(monkeypatch, "wasb_rw", _official(emulator, azurite)["wasb_login_key"])
    hook = BlobHook("wasb_rw")
    container = f"wasb-{os.urandom(4).hex()}"
    client = hook.client.get_container_client(container)
    client.create_container()
    try:
        client.upload_blob("hello.txt", b"from a wasb connection")
        assert client.download_blob("hello.txt").readall() == b"from a wasb connection"
    finally:
        client.delete_container()
