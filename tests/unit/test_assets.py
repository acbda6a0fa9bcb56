"""Blob Assets: URIs, the scheme Airflow registers from the provider info, and emission to outlets."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from airflow.sdk import Asset, AssetAlias

from airflow_azure_compute.assets import (
    blob_uri,
    create_asset,
    emit_blob_assets,
    openlineage_name,
    outputs_alias,
    sanitize_uri,
)


def test_blob_uri_and_openlineage_name() -> None:
    uri = blob_uri("acct", "data", "runs/1/merged.csv")
    assert uri == "wasbs://data@acct/runs/1/merged.csv"
    assert openlineage_name(uri) == ("wasbs://data@acct", "runs/1/merged.csv")
    assert openlineage_name(blob_uri("acct", "data")) == ("wasbs://data@acct", "/")


def test_sanitize_uri_requires_container_and_account() -> None:
    assert sanitize_uri(urlsplit("wasbs://Data@Acct/x")).geturl() == "wasbs://data@acct/x"
    with pytest.raises(ValueError, match="wasbs://<container>@<account>"):
        sanitize_uri(urlsplit("wasbs://data/x"))


def test_airflow_normalises_the_scheme_through_the_provider_info() -> None:
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    assert "wasbs" in ProvidersManagerTaskRuntime().asset_uri_handlers
    assert create_asset(account="acct", container="data", path="a.txt").uri == "wasbs://data@acct/a.txt"


def test_openlineage_converter() -> None:
    pytest.importorskip("airflow.providers.openlineage")
    from airflow_azure_compute.assets import convert_asset_to_openlineage

    dataset = convert_asset_to_openlineage(Asset("wasbs://data@acct/a.txt"))
    assert (dataset.namespace, dataset.name) == ("wasbs://data@acct", "a.txt")


class _Accessor:
    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}
        self.added: list[tuple[str, dict[str, Any]]] = []

    def add(self, asset: Asset, extra: dict[str, Any] | None = None) -> None:
        self.added.append((asset.uri, dict(extra or {})))


class _Events(dict):  # type: ignore[type-arg]
    def __missing__(self, key: Any) -> _Accessor:
        self[key] = _Accessor()
        return self[key]


def test_emit_reports_through_aliases_and_declared_assets() -> None:
    alias = outputs_alias("dag", "merge")
    declared = Asset("wasbs://out@acct/merged.txt")
    other = Asset("wasbs://out@acct/other.txt")
    events = _Events()

    uris = emit_blob_assets(
        {"outlet_events": events}, [alias, declared, other], "acct", "out", ["merged.txt"], extra={"size": 3}
    )

    assert uris == ["wasbs://out@acct/merged.txt"]
    assert events[alias].added == [("wasbs://out@acct/merged.txt", {"size": 3})]
    assert events[declared].extra == {"size": 3}
    assert events[other].extra == {}
    assert alias == AssetAlias(name="azure-compute-outputs/dag/merge")


def test_emit_without_an_account_names_nothing() -> None:
    events = _Events()
    assert emit_blob_assets({"outlet_events": events}, [outputs_alias("d", "t")], None, "c", ["x"]) == []
    assert not events
