"""Pure parts of the real-Airflow harness: its settings and the DAG folder it builds."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_azure_compute.testing.airflow_stack import HOST, airflow_env, link_dags_folder

SETTING = re.compile(r"^AIRFLOW__([A-Z_]+?)__([A-Z_]+)$")


@cache
def airflow_options() -> dict[str, Any]:
    """Airflow's own option catalogue (config.yml of the installed version)."""
    import airflow.config_templates

    path = Path(airflow.config_templates.__file__).parent / "config.yml"
    return dict(yaml.safe_load(path.read_text()))


def unknown_settings(env: dict[str, Any]) -> list[str]:
    unknown = []
    for name in env:
        if match := SETTING.match(name):
            section, key = match[1].lower(), match[2].lower()
            key = key.removesuffix("_cmd")  # <option>_CMD: the value comes from a command (secrets)
            if key not in airflow_options().get(section, {}).get("options", {}):
                unknown.append(name)
    return unknown


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return airflow_env(tmp_path, tmp_path / "dags", 8123, tmp_path / "pw.json", "admin")


def test_every_setting_is_an_airflow_option(env: dict[str, str]) -> None:
    assert unknown_settings(env) == []


def test_compose_settings_are_airflow_options() -> None:
    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yaml").read_text())
    for name, service in compose["services"].items():
        assert unknown_settings(service.get("environment") or {}) == [], name


def test_servers_bind_loopback_and_components_share_secrets(env: dict[str, str], tmp_path: Path) -> None:
    assert env["AIRFLOW__API__HOST"] == HOST
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://{HOST}:8123/execution/"
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "False"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'airflow.db'}"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(tmp_path / "pw.json")
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 32
    assert env["AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"] == "True"


def test_dags_folder_parses_only_the_chosen_dags(tmp_path: Path) -> None:
    support = tmp_path / "example_dags"
    (support / "programs").mkdir(parents=True)
    for name in ("wanted.py", "other.py", "_helpers.py"):
        (support / name).write_text("# dag\n")
    (support / "__pycache__").mkdir()
    extra = tmp_path / "elsewhere" / "harness.py"
    extra.parent.mkdir()
    extra.write_text("# dag\n")

    folder = link_dags_folder(tmp_path / "dags", [support / "wanted.py", extra], support)

    linked = {p.name: p.resolve() for p in folder.iterdir() if p.is_symlink()}
    assert linked == {
        "wanted.py": support / "wanted.py",
        "harness.py": extra,
        "other.py": support / "other.py",
        "_helpers.py": support / "_helpers.py",
        "programs": support / "programs",
    }
    ignored = (folder / ".airflowignore").read_text().split()
    assert sorted(ignored) == ["_helpers.py", "other.py", "programs"]


def test_dags_folder_links_the_support_of_several_folders(tmp_path: Path) -> None:
    examples, harness = tmp_path / "example_dags", tmp_path / "harness"
    for folder, names in ((examples, ("wanted.py", "other.py")), (harness, ("race.py", "parts.py"))):
        folder.mkdir()
        for name in names:
            (folder / name).write_text("# dag\n")

    folder = link_dags_folder(
        tmp_path / "dags", [examples / "wanted.py", harness / "race.py"], [examples, harness]
    )

    linked = {p.name: p.resolve() for p in folder.iterdir() if p.is_symlink()}
    assert linked == {
        "wanted.py": examples / "wanted.py",
        "other.py": examples / "other.py",
        "race.py": harness / "race.py",
        "parts.py": harness / "parts.py",
    }
    assert sorted((folder / ".airflowignore").read_text().split()) == ["other.py", "parts.py"]
