"""Every hook's ``test_connection`` makes one real call and reports what the service said."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_azure_compute.emulator.airflow_env import connections, env_name
from airflow_azure_compute.emulator.stack import AzuriteEndpoints
from airflow_azure_compute.hooks.batch import BatchHook
from airflow_azure_compute.hooks.blob import BlobHook
from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook
from airflow_azure_compute.hooks.durable import DurableHook

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
    assert WRONG_KEY not in message


def test_an_unreachable_arm_endpoint_fails(
    emulator: dict[str, Any], azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connections(emulator, azurite)["azure_compute_aci_default"]
    conn["extra"] = {**conn["extra"], "arm_endpoint": "https://127.0.0.1:9"}
    _use(monkeypatch, "azure_compute_aci_default", conn)
    ok, message = ContainerInstancesHook().test_connection()
    assert not ok
    assert conn["extra"]["token"] not in message
