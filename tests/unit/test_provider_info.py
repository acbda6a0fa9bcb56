"""Provider registration: the metadata Airflow's ProvidersManager and the UI read."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest

from airflow_azure_compute.connections import ServiceKind
from airflow_azure_compute.get_provider_info import get_provider_info

#: Connection types owned by the official apache-airflow-providers-microsoft-azure (15.x).
OFFICIAL_AZURE_CONN_TYPES = {
    "azure", "azure_batch", "azure_compute", "azure_container_instance", "azure_container_registry",
    "azure_container_volume", "azure_cosmos", "azure_data_explorer", "azure_data_factory",
    "azure_data_lake", "azure_fileshare", "azure_service_bus", "azure_synapse", "azure_synapse_pipeline",
    "adls", "msgraph", "powerbi", "wasb", "azure_datalake_storage", "azure_file_share",
}  # fmt: skip


def test_provider_info_matches_the_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_package_name_is_the_distribution_name() -> None:
    (ep,) = [
        e
        for e in entry_points(group="apache_airflow_provider")
        if e.value.startswith("airflow_azure_compute")
    ]
    assert ep.dist is not None
    assert get_provider_info()["package-name"] == ep.dist.name == "airflow-azure-compute"


def test_connection_types_do_not_clash_with_the_official_provider() -> None:
    ours = {ct["connection-type"] for ct in get_provider_info()["connection-types"]}
    assert ours == {k.value for k in ServiceKind}
    assert not ours & OFFICIAL_AZURE_CONN_TYPES, ours & OFFICIAL_AZURE_CONN_TYPES


def test_every_listed_module_and_class_imports() -> None:
    info = get_provider_info()
    modules = [m for group in ("hooks", "operators", "sensors", "triggers")
               for entry in info.get(group, []) for m in entry.get("python-modules", [])]  # fmt: skip
    classes = [ct["hook-class-name"] for ct in info["connection-types"]] + info.get("extra-links", [])
    for module in modules:
        importlib.import_module(module)
    for path in classes:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path


def _json_array(text: str) -> list[dict[str, str]]:
    """The JSON array the CLI prints, skipping any log lines around it."""
    start = re.search(r"^\[\s*(\{|\])", text, re.MULTILINE)
    assert start, text[-2000:]
    value, _ = json.JSONDecoder().raw_decode(text[start.start() :])
    return list(value)


@pytest.mark.integration
def test_airflow_providers_list_shows_the_package(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True, text=True, env=env, check=True, timeout=120,
    )  # fmt: skip
    listed = {p["package_name"] for p in _json_array(out.stdout)}
    assert "airflow-azure-compute" in listed
    hooks = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "hooks", "--output", "json"],
        capture_output=True, text=True, env=env, check=True, timeout=120,
    )  # fmt: skip
    for kind in ServiceKind:
        assert kind.value in hooks.stdout


def test_ui_hook_metadata_has_every_field() -> None:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    meta = {m.connection_type: m for m in HookMetaService.hook_meta_data()}
    for ct in get_provider_info()["connection-types"]:
        entry = meta[ct["connection-type"]]
        assert entry.hook_name == ct["hook-name"]
        extra = entry.extra_fields or {}
        for name, spec in ct["conn-fields"].items():
            assert name in extra, (ct["connection-type"], name)
            assert extra[name]["schema"]["title"] == spec["label"]
            assert extra[name]["schema"].get("format") == spec["schema"].get("format"), name
        hidden = set(ct["ui-field-behaviour"]["hidden-fields"])
        assert entry.standard_fields is not None
        for std in ("host", "login", "password", "port"):
            field = getattr(entry.standard_fields, std)
            assert field.hidden == (std in hidden), (ct["connection-type"], std)


def test_secret_fields_are_registered_as_sensitive() -> None:
    from airflow.providers_manager import ProvidersManager

    widgets = ProvidersManager().connection_form_widgets
    for kind in ServiceKind:
        for name in ("client_secret", "certificate_password", "token"):
            assert widgets[f"extra__{kind.value}__{name}"].is_sensitive, (kind, name)
    assert widgets["extra__azure_compute_blob__sas_token"].is_sensitive
    assert widgets["extra__azure_compute_blob__connection_string"].is_sensitive


def test_secret_fields_are_masked() -> None:
    secrets = {
        name
        for ct in get_provider_info()["connection-types"]
        for name, spec in ct["conn-fields"].items()
        if spec["schema"].get("format") == "password"
    }
    assert {
        "client_secret",
        "certificate_password",
        "sas_token",
        "connection_string",
        "token",
    } <= secrets


def test_the_form_shows_each_field_once() -> None:
    """An extra field never duplicates a standard field the form shows (Host, Login, Password)."""
    duplicates = {
        "host": {"account_url", "function_app_url", "arm_endpoint"},
        "login": {"account_name"},
        "password": {"account_key", "function_key"},
    }
    for ct in get_provider_info()["connection-types"]:
        shown = {"host", "login", "password"} - set(ct["ui-field-behaviour"]["hidden-fields"])
        for std in shown:
            assert not duplicates[std] & set(ct["conn-fields"]), (ct["connection-type"], std)
        labels = [f["label"] for f in ct["conn-fields"].values()]
        labels += [ct["ui-field-behaviour"]["relabeling"].get(std, std) for std in shown]
        assert len(labels) == len(set(labels)), (ct["connection-type"], labels)


def test_auth_mode_lists_every_mode_and_labels_the_empty_choice() -> None:
    from airflow_azure_compute.connections import AuthMode

    for ct in get_provider_info()["connection-types"]:
        schema = ct["conn-fields"]["auth_mode"]["schema"]
        assert schema["enum"] == [None, *(m.value for m in AuthMode)]
        assert set(schema["values_display"]) == {"null", *(m.value for m in AuthMode)}
        assert "null" not in schema["values_display"].values()
        assert "default" not in schema  # an empty form stores null: inferred from the other fields


def test_cloud_lists_the_clouds_and_labels_the_empty_choice() -> None:
    from airflow_azure_compute.clouds import AzureCloud

    for ct in get_provider_info()["connection-types"]:
        schema = ct["conn-fields"]["cloud"]["schema"]
        assert schema["enum"] == [None, *(c.value for c in AzureCloud)]
        assert set(schema["values_display"]) == {"null", *(c.value for c in AzureCloud)}
        assert "default" not in schema  # an empty form stores null: decided from the endpoints


#: A working connection of each type: its standard fields and the extra fields a user fills in.
_FILLED_IN: dict[str, dict[str, Any]] = {
    "azure_compute_batch": {"host": "https://acct.westeurope.batch.azure.com", "login": "acct",
                            "password": "c2VjcmV0", "extra": {"resource_group": "rg"}},
    "azure_compute_blob": {"host": "https://acct.blob.core.windows.net", "login": "acct", "password": "c2VjcmV0"},
    "azure_compute_aci": {"extra": {"subscription_id": "00000000-0000-0000-0000-000000000001",
                                    "resource_group": "rg", "region": "westeurope"}},
    "azure_compute_durable": {"host": "https://app.azurewebsites.net", "password": "key"},
}  # fmt: skip


def _form_extra(conn_type: str, filled_in: dict[str, Any]) -> dict[str, Any]:
    """The extra Airflow 3.3's form posts on Save: every field the hook metadata lists, with its
    served value (the schema default, null without one) unless the user filled it in."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == conn_type]
    return {name: spec["value"] for name, spec in (meta.extra_fields or {}).items()} | filled_in


def test_the_form_serves_null_for_every_field_without_a_default() -> None:
    """What the form stores for a field left empty is the value the hook metadata serves: null for
    every field but the one boolean, which has a default."""
    for kind in ServiceKind:
        served = _form_extra(kind.value, {})
        assert {name for name, value in served.items() if value is not None} == {"allow_http"}, kind
        assert served["allow_http"] is False


@pytest.mark.parametrize("conn_type", sorted(_FILLED_IN))
def test_a_connection_saved_by_the_form_parses_as_without_the_empty_fields(conn_type: str) -> None:
    """The parser reads the extra the form stores (null for every empty field), the one the
    api-server middleware leaves (empty fields dropped) and one with empty strings the same way."""
    from airflow.sdk import Connection

    from airflow_azure_compute.connections import ServiceSettings
    from airflow_azure_compute.plugins.connection_form import compact_extra_body

    parts = dict(_FILLED_IN[conn_type])
    filled_in = parts.pop("extra", {})
    as_posted = _form_extra(conn_type, filled_in)
    body = json.dumps({"connection_id": "c", "conn_type": conn_type, "extra": json.dumps(as_posted)})
    compacted = compact_extra_body(body.encode())
    assert compacted is not None
    as_stored = json.loads(json.loads(compacted)["extra"])
    assert as_stored == {"allow_http": False, **filled_in}
    blank = {name: "" if value is None else value for name, value in as_posted.items()}

    def parsed(extra: dict[str, Any]) -> dict[str, Any]:
        conn = Connection(conn_id="c", conn_type=conn_type, port=None, extra=json.dumps(extra), **parts)
        return ServiceSettings.from_connection(conn).redacted()

    assert parsed(as_posted) == parsed(as_stored) == parsed(blank) == parsed(filled_in)
