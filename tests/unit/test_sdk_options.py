"""The SDK clients read proxy, netrc and CA-bundle settings from the environment once, or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow.sdk import Connection

from airflow_azure_compute.connections import ServiceSettings
from airflow_azure_compute.hooks.sdk_options import environment_free_transport, sdk_client_kwargs

_PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "NETRC")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in (*_PROXY_VARS, "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    return monkeypatch


def test_no_proxy_no_netrc_turns_per_request_lookups_off(clean_env: pytest.MonkeyPatch) -> None:
    assert environment_free_transport(aio=True) == {"use_env_settings": False}
    assert environment_free_transport(aio=False) == {"use_env_settings": False}


def test_the_ca_bundle_variable_is_passed_to_sync_clients_only(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REQUESTS_CA_BUNDLE", "/etc/ca.pem")
    assert environment_free_transport(aio=False) == {
        "use_env_settings": False,
        "connection_verify": "/etc/ca.pem",
    }
    assert environment_free_transport(aio=True) == {"use_env_settings": False}


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_proxy_leaves_the_sdk_defaults(clean_env: pytest.MonkeyPatch, variable: str) -> None:
    clean_env.setenv(variable, "http://proxy.internal:3128")
    assert environment_free_transport(aio=True) == {}
    assert environment_free_transport(aio=False) == {}


def test_a_netrc_file_leaves_the_sdk_defaults(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".netrc").write_text("machine example login u password p\n")
    assert environment_free_transport(aio=True) == {}
    clean_env.setenv("NETRC", str(tmp_path / "elsewhere"))
    assert environment_free_transport(aio=True) == {"use_env_settings": False}


def test_the_connections_ca_bundle_wins(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("REQUESTS_CA_BUNDLE", "/etc/ca.pem")
    ca = tmp_path / "private-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = ServiceSettings.from_connection(
        Connection(
            conn_id="batch",
            conn_type="azure_compute_batch",
            host="https://acct.westeurope.batch.azure.com",
            login="acct",
            password="c2VjcmV0LWtleQ==",
            extra=json.dumps({"ca_bundle": str(ca)}),
        )
    )
    assert sdk_client_kwargs(settings, aio=False)["connection_verify"] == str(ca)
