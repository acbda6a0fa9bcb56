"""Container-name and prefix rules, and the SAS signing choices (pure, no service)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import pytest

from airflow_azure_compute.blob_paths import check_container_name, normalize_prefix
from airflow_azure_compute.connections import ServiceSettings
from airflow_azure_compute.exceptions import AzureComputeConfigError
from airflow_azure_compute.hooks.blob import sas_window, sign_sas

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.mark.parametrize("name", ["abc", "a-b-c", "run-2026-11-22", "a" * 63, "0ab"])
def test_valid_container_names(name: str) -> None:
    assert check_container_name(name) == name


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("ab", "3 to 63"),
        ("a" * 64, "3 to 63"),
        ("Abc", "uppercase"),
        ("a--b", "single hyphens"),
        ("-ab", "start and end"),
        ("ab-", "start and end"),
        ("a_b", "a-z, 0-9"),
        ("", "required"),
    ],
)
def test_invalid_container_names_say_why(name: str, words: str) -> None:
    with pytest.raises(AzureComputeConfigError, match=words) as info:
        check_container_name(name, field="output_container")
    assert info.value.field == "output_container"


@pytest.mark.parametrize(("prefix", "out"), [("", ""), ("a", "a/"), ("a/b/", "a/b/"), (None, "")])
def test_prefix_normalized(prefix: str | None, out: str) -> None:
    assert normalize_prefix(prefix) == out


@pytest.mark.parametrize("prefix", ["../x", "a/../b", "a/./b", "/abs", "a\\b"])
def test_prefix_escapes_rejected(prefix: str) -> None:
    with pytest.raises(AzureComputeConfigError) as info:
        normalize_prefix(prefix)
    assert info.value.field == "prefix"


def _settings(extra: dict[str, str]) -> ServiceSettings:
    return ServiceSettings.from_fields(
        "azure_compute_blob",
        host="http://127.0.0.1:10000/devstoreaccount1",
        login="devstoreaccount1",
        extra=extra,
    )


def test_account_key_sas_is_least_privilege() -> None:
    settings = ServiceSettings.from_fields(
        "azure_compute_blob",
        host="http://127.0.0.1:10000/devstoreaccount1",
        login="devstoreaccount1",
        password=KEY,
    )
    start, end = sas_window(timedelta(hours=1))
    read = parse_qs(sign_sas(settings, "c1", access="read", start=start, expiry=end))
    write = parse_qs(sign_sas(settings, "c1", access="write", start=start, expiry=end))
    blob = parse_qs(sign_sas(settings, "c1", access="read", start=start, expiry=end, blob_name="a/b.txt"))
    assert (read["sp"], read["sr"]) == (["rl"], ["c"])
    assert (write["sp"], write["sr"]) == (["cw"], ["c"])
    assert (blob["sp"], blob["sr"]) == (["r"], ["b"])
    assert "skoid" not in read


def test_user_delegation_sas_uses_the_key() -> None:
    from azure.storage.blob import UserDelegationKey

    key = UserDelegationKey()
    key.signed_oid, key.signed_tid = (
        "00000000-0000-0000-0000-000000000001",
        "00000000-0000-0000-0000-000000000002",
    )
    key.signed_start, key.signed_expiry = "2026-11-22T00:00:00Z", "2026-11-22T02:00:00Z"
    key.signed_service, key.signed_version, key.value = "b", "2020-02-10", KEY
    settings = _settings({"auth_mode": "default"})
    start, end = sas_window(datetime.now(timezone.utc) + timedelta(minutes=30))
    token = parse_qs(
        sign_sas(settings, "c1", access="read", start=start, expiry=end, user_delegation_key=key)
    )
    assert token["skoid"] == [key.signed_oid] and token["sp"] == ["rl"]
    with pytest.raises(AzureComputeConfigError, match="cannot sign a SAS"):
        sign_sas(settings, "c1", access="read", start=start, expiry=end)
