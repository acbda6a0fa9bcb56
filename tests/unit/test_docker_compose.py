"""docker-compose.yaml is checked by parsing it: no container engine runs on our machines."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = REPO_ROOT / "docker-compose.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"

AIRFLOW_COMPONENTS = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler", "--skip-serve-logs"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer", "--skip-serve-logs"],
}
CONNECTIONS = {
    "AIRFLOW_CONN_AZURE_COMPUTE_BLOB_DEFAULT": "azure_compute_blob",
    "AIRFLOW_CONN_AZURE_COMPUTE_BATCH_DEFAULT": "azure_compute_batch",
    "AIRFLOW_CONN_AZURE_COMPUTE_ACI_DEFAULT": "azure_compute_aci",
    "AIRFLOW_CONN_AZURE_COMPUTE_DURABLE_DEFAULT": "azure_compute_durable",
}
_DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")


def interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with every variable unset; ``$$`` is a literal ``$``."""
    assert not re.search(r"\$\{\w+\}", value), f"variable without a default in {value!r}"
    return _DEFAULTED.sub(lambda m: m[2], value).replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return dict(compose["services"])


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command", [])
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def test_services_are_the_airflow_components_storage_and_emulator(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "azurite", "emulator", "airflow-init", *AIRFLOW_COMPONENTS}


def test_images(services: dict[str, Any]) -> None:
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["azurite"]["image"].startswith("mcr.microsoft.com/azure-storage/azurite")
    ours = {name for name, svc in services.items() if svc.get("build") == "."}
    assert ours == {"emulator", "airflow-init", *AIRFLOW_COMPONENTS}
    assert {services[name]["image"] for name in ours} == {"airflow-azure-compute:local"}


def test_dockerfile_installs_this_provider_on_airflow_3() -> None:
    text = DOCKERFILE.read_text()
    version = re.search(r"^ARG AIRFLOW_VERSION=(\S+)$", text, re.M)
    assert version and version[1].startswith("3.")
    assert re.search(r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}", text, re.M)
    assert re.search(r"pip install .*/opt/airflow-azure-compute\[emulator,examples\]", text)
    assert "COPY --chown=airflow:root airflow_azure_compute " in text


def test_airflow_components_run_as_separate_services(services: dict[str, Any]) -> None:
    for name, expected in AIRFLOW_COMPONENTS.items():
        assert command(services[name])[: len(expected)] == expected, name
    init = " ".join(command(services["airflow-init"]))
    assert "airflow db migrate" in init
    # The components run as 50000:0; init (root) hands them the volumes they write to.
    assert {services[name]["user"] for name in AIRFLOW_COMPONENTS} == {"50000:0"}
    assert "chown -R 50000:0 /opt/airflow/auth /opt/airflow/logs" in init
    assert {"airflow-auth:/opt/airflow/auth", "airflow-logs:/opt/airflow/logs"} <= set(
        services["airflow-init"]["volumes"]
    )


def test_airflow_environment(services: dict[str, Any]) -> None:
    for name in AIRFLOW_COMPONENTS:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
        assert set(CONNECTIONS) <= set(env)


@pytest.mark.parametrize(("variable", "conn_type"), sorted(CONNECTIONS.items()))
def test_connections_parse_and_point_inside_the_network(
    services: dict[str, Any], variable: str, conn_type: str, tmp_path: Path
) -> None:
    from airflow_azure_compute.connections import ServiceSettings

    env = services["airflow-scheduler"]["environment"]
    raw = json.loads(interpolate(env[variable]))
    if ca_bundle := raw.get("extra", {}).get("ca_bundle"):
        # The CA exists only in the emulator-state volume; parse against a stand-in file.
        assert ca_bundle.startswith("/emulator-state/")
        raw["extra"]["ca_bundle"] = str(tmp_path / "ca.pem")
        (tmp_path / "ca.pem").write_text("stand-in")
    assert raw["conn_type"] == conn_type
    url = raw.get("host") or raw["extra"]["arm_endpoint"]
    parts = urlsplit(url)
    assert parts.hostname in services, url
    if parts.hostname == "emulator":
        emulator_cmd = command(services["emulator"])
        service = conn_type.removeprefix("azure_compute_")
        assert str(parts.port) == emulator_cmd[emulator_cmd.index(f"--{service}-port") + 1]

    class Conn:  # the attributes ServiceSettings.from_connection reads
        conn_id = variable.removeprefix("AIRFLOW_CONN_").lower()
        host = raw.get("host")
        login = raw.get("login")
        password = raw.get("password")
        extra = json.dumps(raw.get("extra", {}))

    Conn.conn_type = conn_type  # type: ignore[attr-defined]
    settings = ServiceSettings.from_connection(Conn())
    assert settings.endpoint


def test_emulator_command_is_accepted_by_its_parser(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_azure_compute.emulator.core import build_parser
    from airflow_azure_compute.emulator.registry import SERVICES

    emulator = services["emulator"]
    for name, value in emulator["environment"].items():
        monkeypatch.setenv(name, interpolate(value))
    cmd = command(emulator)
    assert not any("key" in arg.lower() for arg in cmd), "secrets go through the environment"
    args = build_parser(SERVICES).parse_args(cmd)
    # Binds the container's own address under the name in its TLS certificate, never 0.0.0.0.
    assert args.host == emulator["hostname"] == "emulator"
    assert str(args.endpoints_file).startswith("/emulator-state/")
    env = services["airflow-scheduler"]["environment"]
    batch = json.loads(interpolate(env["AIRFLOW_CONN_AZURE_COMPUTE_BATCH_DEFAULT"]))
    assert (batch["login"], batch["password"]) == (args.batch_account_name, args.batch_account_key)
    durable = json.loads(interpolate(env["AIRFLOW_CONN_AZURE_COMPUTE_DURABLE_DEFAULT"]))
    assert durable["password"] == os.environ["DURABLE_EMULATOR_KEY"]
    # Function apps come from the example_dags mount and exist in the repository.
    assert "./example_dags:/opt/airflow/dags:ro" in emulator["volumes"]
    assert args.function_apps, "the durable example's function app is not loaded"
    for app in args.function_apps:
        assert (REPO_ROOT / "example_dags" / Path(app).relative_to("/opt/airflow/dags")).is_file(), app
    worker = json.loads(interpolate(env["AIRFLOW_CONN_DURABLE_ACI_WORKER"]))
    assert worker["password"] == os.environ["DURABLE_EMULATOR_KEY"]
    assert "extra" not in worker  # the workers reach Storage through the SAS URLs of their pool
    blob = json.loads(interpolate(env["AIRFLOW_CONN_AZURE_COMPUTE_BLOB_DEFAULT"]))
    assert blob["extra"]["queue_url"] == "http://azurite:10001/devstoreaccount1"
    aci = json.loads(
        interpolate(services["airflow-scheduler"]["environment"]["AIRFLOW_CONN_AZURE_COMPUTE_ACI_DEFAULT"])
    )
    assert aci["extra"]["ca_bundle"] == f"{args.workdir}/emulator-ca.pem"
    assert aci["extra"]["token"] == args.aci_token  # the one token the ACI emulator accepts unsigned


def test_published_ports_bind_loopback_only(services: dict[str, Any]) -> None:
    published = {name: svc.get("ports", []) for name, svc in services.items()}
    assert published["airflow-apiserver"] == ["127.0.0.1:8080:8080"]
    assert {p.split(":")[1] for p in published["azurite"]} == {"10000", "10001", "10002"}
    assert published["postgres"] == []
    for name, ports in published.items():
        for port in ports:
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)


def test_long_running_services_have_health_checks(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        if name == "airflow-init":
            continue
        assert svc.get("healthcheck", {}).get("test"), name
    for name in ("airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        test = " ".join(services[name]["healthcheck"]["test"])
        assert "airflow jobs check" in test, name


def test_airflow_waits_for_its_dependencies(services: dict[str, Any]) -> None:
    for name in AIRFLOW_COMPONENTS:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["azurite"]["condition"] == "service_healthy"
        assert deps["emulator"]["condition"] == "service_healthy"
        assert deps["airflow-init"]["condition"] == "service_completed_successfully"


def test_azurite_is_the_version_make_test_uses(services: dict[str, Any]) -> None:
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/azurite"]["version"]
    assert services["azurite"]["image"] == f"mcr.microsoft.com/azure-storage/azurite:{version}"


def test_fernet_key_is_generated_once_and_read_by_every_component(services: dict[str, Any]) -> None:
    init = "\n".join(command(services["airflow-init"]))
    generate = init.index("Fernet.generate_key()")
    assert "test -s /opt/airflow/auth/fernet.key ||" in init
    assert generate < init.index("airflow db migrate")
    assert init.index("umask 077") < generate
    for name in ["airflow-init", *AIRFLOW_COMPONENTS]:
        env = services[name]["environment"]
        assert "AIRFLOW__CORE__FERNET_KEY" not in env
        assert env["AIRFLOW__CORE__FERNET_KEY_CMD"] == "cat /opt/airflow/auth/fernet.key"
        assert "airflow-auth:/opt/airflow/auth" in services[name]["volumes"]


def test_test_connection_and_deferrable_waits_are_on(services: dict[str, Any]) -> None:
    for name in AIRFLOW_COMPONENTS:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__TEST_CONNECTION"] == "Enabled"
        assert env["AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"] == "True"
