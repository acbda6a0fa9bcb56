"""No secret comes back from an emulator: every kind of credential a Batch pool, job or task, a
container group or a Durable status can hold is sent with a distinctive random value through the real
SDKs, then every read (get, list, the OData ``$select``/``$expand`` variants, the bodies of writes)
is scanned as raw JSON text for any of those values, wherever it might appear."""

from __future__ import annotations

import base64
import secrets
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conformance.clients import BatchWire, wait_for
from tests.conformance.durable_scenarios import DurableWorld
from tests.integration.emulator.batch_support import batch_client, cleanup, pool_options, uid
from tests.integration.emulator.conftest import aci, aci_sdk  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


class Vault:
    """Distinctive secret values, one per named kind, and the raw answers to scan for them."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.bodies: list[tuple[str, str]] = []

    def new(self, kind: str) -> str:
        # hex: valid where a base64 key is expected (length a multiple of 4), never escaped in JSON
        value = secrets.token_hex(24)
        self.values[kind] = value
        return value

    def hook(self, what: str) -> Callable[[Any], None]:
        """An azure-core ``raw_response_hook`` keeping the answer's text under ``what``."""

        def keep(pipeline_response: Any) -> None:
            self.bodies.append((what, pipeline_response.http_response.text()))

        return keep

    def keep(self, what: str, text: str) -> None:
        self.bodies.append((what, text))

    def assert_shown(self, text: str, answers: list[str]) -> None:
        """The named answers hold ``text`` (a property beside a secret): they were read, not empty."""
        for what in answers:
            assert any(w == what and text in body for w, body in self.bodies), f"{text!r} not in {what}"

    def assert_no_leak(self) -> None:
        """Fail naming each secret kind found and the answers that carried it."""
        found: dict[str, list[str]] = {}
        for what, text in self.bodies:
            for kind, value in self.values.items():
                if value in text:
                    found.setdefault(kind, []).append(what)
        assert not found, "secrets in answers:\n" + "\n".join(
            f"{kind}: {', '.join(whats)}" for kind, whats in sorted(found.items())
        )


def _container_settings(vault: Vault, kind: str) -> dict[str, Any]:
    return {
        "imageName": "registry.example.com/tools:1",
        "registry": {"registryServer": "registry.example.com", "username": "u", "password": vault.new(kind)},
    }


def _container_configuration(vault: Vault, kind: str) -> dict[str, Any]:
    return {
        "type": "dockerCompatible",
        "containerImageNames": ["registry.example.com/tools:1"],
        "containerRegistries": [
            {"registryServer": "registry.example.com", "username": "u", "password": vault.new(kind)}
        ],
    }


def _secret_pool_body(vault: Vault, where: str) -> dict[str, Any]:
    """Pool properties holding every kind of pool secret (``where`` names them)."""
    return {
        "mountConfiguration": [
            {
                "azureBlobFileSystemConfiguration": {
                    "accountName": "devstoreaccount1",
                    "containerName": "never-synced",
                    "relativeMountPath": "sas",
                    "sasKey": f"sv=2025-01-05&sp=rl&sig={vault.new(where + ' blob sasKey')}",
                }
            },
            {
                "azureBlobFileSystemConfiguration": {
                    "accountName": "devstoreaccount1",
                    "containerName": "never-synced",
                    "relativeMountPath": "key",
                    "accountKey": vault.new(where + " blob accountKey"),
                }
            },
            {
                "azureFileShareConfiguration": {
                    "accountName": "files",
                    "azureFileUrl": "https://files.file.core.windows.net/share",
                    "accountKey": vault.new(where + " file share accountKey"),
                    "relativeMountPath": "share",
                }
            },
            {
                "cifsMountConfiguration": {
                    "source": "//server/share",
                    "relativeMountPath": "cifs",
                    "username": "u",
                    "password": vault.new(where + " cifs password"),
                }
            },
        ],
        "userAccounts": [
            {
                "name": "worker",
                "password": vault.new(where + " user password"),
                "linuxUserConfiguration": {"sshPrivateKey": vault.new(where + " user sshPrivateKey")},
            }
        ],
        "startTask": {
            "commandLine": "/bin/true",
            "containerSettings": _container_settings(vault, where + " start task registry password"),
        },
    }


@pytest.fixture(scope="module")
def batch_secrets(emulator: dict[str, Any]) -> Iterator[tuple[Vault, dict[str, str]]]:
    """A pool (one node) and an auto-pool job carrying every Batch secret, a job on the pool whose
    manager, preparation and release tasks and one task carry registry passwords; yields the vault
    and the ids."""
    from azure.batch import models

    client = batch_client(emulator)
    vault = Vault()
    ids = {"pool": uid("secrets"), "job": uid("secrets"), "auto_job": uid("secrets"), "task": "t1"}
    body = pool_options(ids["pool"], dedicated=1).as_dict()
    body["virtualMachineConfiguration"]["containerConfiguration"] = _container_configuration(
        vault, "pool containerRegistries password"
    )
    client.create_pool(models.BatchPoolCreateOptions({**body, **_secret_pool_body(vault, "pool")}))
    job: dict[str, Any] = {"id": ids["job"], "poolInfo": {"poolId": ids["pool"]}}
    for name in ("jobManagerTask", "jobPreparationTask", "jobReleaseTask"):
        job[name] = {
            "commandLine": "/bin/true",
            "containerSettings": _container_settings(vault, f"{name} registry password"),
        }
    job["jobManagerTask"]["id"] = "manager"
    client.create_job(models.BatchJobCreateOptions(job))
    client.create_task(
        ids["job"],
        models.BatchTaskCreateOptions(
            {
                "id": ids["task"],
                "commandLine": "/bin/true",
                "containerSettings": _container_settings(vault, "task registry password"),
            }
        ),
    )
    auto = pool_options("unused", dedicated=0).as_dict()
    auto.pop("id")
    auto["virtualMachineConfiguration"]["containerConfiguration"] = _container_configuration(
        vault, "auto pool containerRegistries password"
    )
    auto.update(_secret_pool_body(vault, "auto pool"))
    client.create_job(
        models.BatchJobCreateOptions(
            {
                "id": ids["auto_job"],
                "poolInfo": {"autoPoolSpecification": {"poolLifetimeOption": "job", "pool": auto}},
            }
        )
    )
    wait_for(lambda: list(client.list_nodes(ids["pool"])), what="the pool's node")
    yield vault, ids
    cleanup(client, job_id=ids["auto_job"])
    cleanup(client, pool_id=ids["pool"], job_id=ids["job"])
    client.close()


#: ``$select`` lists naming every property that can hold a secret, and nested paths into them.
_POOL_SELECT = [
    "id,mountConfiguration,userAccounts,startTask,virtualMachineConfiguration",
    "mountConfiguration/azureBlobFileSystemConfiguration,startTask/containerSettings",
]
_JOB_SELECT = ["id,jobManagerTask,jobPreparationTask,jobReleaseTask,poolInfo"]
_TASK_SELECT = ["id,containerSettings", "containerSettings/registry"]


def test_batch_answers_hold_no_secret(
    emulator: dict[str, Any], batch_secrets: tuple[Vault, dict[str, str]]
) -> None:
    """Pools (with mounts, registries, users, a start task), nodes, jobs (manager, preparation and
    release tasks, an auto pool) and tasks: no read echoes a secret, with or without OData options."""
    vault, ids = batch_secrets
    client = batch_client(emulator)
    try:
        pool, job, task = ids["pool"], ids["job"], ids["task"]
        client.get_pool(pool, raw_response_hook=vault.hook("get pool"))
        client.get_pool(pool, expand=["stats"], raw_response_hook=vault.hook("get pool $expand"))
        list(client.list_pools(raw_response_hook=vault.hook("list pools")))
        list(client.list_nodes(pool, raw_response_hook=vault.hook("list nodes")))
        node = next(iter(client.list_nodes(pool)))
        client.get_node(pool, node.id, raw_response_hook=vault.hook("get node"))
        client.get_job(job, raw_response_hook=vault.hook("get job"))
        client.get_job(ids["auto_job"], raw_response_hook=vault.hook("get auto pool job"))
        list(client.list_jobs(raw_response_hook=vault.hook("list jobs")))
        client.get_task(job, task, raw_response_hook=vault.hook("get task"))
        client.get_task(job, "manager", raw_response_hook=vault.hook("get job manager task"))
        list(client.list_tasks(job, raw_response_hook=vault.hook("list tasks")))
        list(
            client.list_job_preparation_and_release_task_status(
                job, raw_response_hook=vault.hook("list preparation and release status")
            )
        )
    finally:
        client.close()
    wire = BatchWire(emulator)
    try:
        reads: list[tuple[str, dict[str, str]]] = [
            ("/pools", {"$expand": "stats"}),
            ("/pools", {"$filter": f"id eq '{pool}'"}),
            *((f"/pools/{pool}", {"$select": s, "$expand": "stats"}) for s in _POOL_SELECT),
            *(("/pools", {"$select": s}) for s in _POOL_SELECT),
            *(("/jobs", {"$select": s, "$expand": "stats"}) for s in _JOB_SELECT),
            *((f"/jobs/{ids['auto_job']}", {"$select": s}) for s in _JOB_SELECT),
            *((f"/jobs/{job}/tasks", {"$select": s}) for s in _TASK_SELECT),
            *((f"/jobs/{job}/tasks/{task}", {"$select": s, "$expand": "stats"}) for s in _TASK_SELECT),
            (f"/pools/{pool}/nodes", {"$select": "id,startTask"}),
        ]
        for path, query in reads:
            reply = wire.send("GET", path, query=query)
            assert reply.status == 200, (path, query, reply.body)
            vault.keep(f"GET {path} {query}", reply.raw.decode())
    finally:
        wire.close()
    assert len(vault.bodies) >= 25
    vault.assert_shown(
        "registry.example.com", ["get pool", "list pools", "get job", "get auto pool job", "get task"]
    )
    vault.assert_shown("never-synced", ["get pool", "list pools", "get auto pool job"])
    vault.assert_no_leak()


def test_container_group_answers_hold_no_secret(aci: dict[str, Any], aci_sdk: Any) -> None:  # noqa: F811
    """Registry passwords, ``secureValue``s (containers and init containers), Azure Files keys and
    secret volume contents: neither the create, get, list nor update answers carry them."""
    vault = Vault()
    volume_secret = vault.new("secret volume content")
    vault.values["secret volume content (base64)"] = base64.b64encode(volume_secret.encode()).decode()
    command = [sys.executable, "-c", "import time; time.sleep(0.2)"]
    resources = {"requests": {"cpu": 1, "memoryInGB": 1}}
    body = {
        "location": aci["region"],
        "properties": {
            "osType": "Linux",
            "restartPolicy": "Never",
            "imageRegistryCredentials": [
                {
                    "server": "registry.example.com",
                    "username": "u",
                    "password": vault.new("registry password"),
                }
            ],
            "initContainers": [
                {
                    "name": "init",
                    "properties": {
                        "image": "registry.example.com/tools:1",
                        "command": command,
                        "environmentVariables": [
                            {"name": "INIT_SECRET", "secureValue": vault.new("init secureValue")}
                        ],
                    },
                }
            ],
            "containers": [
                {
                    "name": "main",
                    "properties": {
                        "image": "registry.example.com/tools:1",
                        "command": command,
                        "resources": resources,
                        "environmentVariables": [
                            {"name": "PLAIN", "value": "visible"},
                            {"name": "SECRET", "secureValue": vault.new("container secureValue")},
                        ],
                        "volumeMounts": [
                            {"name": "files", "mountPath": "/mnt/files"},
                            {"name": "tokens", "mountPath": "/mnt/tokens"},
                        ],
                    },
                }
            ],
            "volumes": [
                {
                    "name": "files",
                    "azureFile": {
                        "shareName": "share",
                        "storageAccountName": "files",
                        "storageAccountKey": vault.new("Azure Files storageAccountKey"),
                    },
                },
                {"name": "tokens", "secret": {"token": vault.values["secret volume content (base64)"]}},
            ],
        },
    }
    name = f"secrets-{secrets.token_hex(4)}"
    rg = aci["resource_group"]
    try:
        poller = aci_sdk.container_groups.begin_create_or_update(
            rg, name, body, raw_response_hook=vault.hook("create")
        )
        group = poller.result()
        aci_sdk.container_groups.get(rg, name, raw_response_hook=vault.hook("get"))
        list(
            aci_sdk.container_groups.list_by_resource_group(rg, raw_response_hook=vault.hook("list in group"))
        )
        list(aci_sdk.container_groups.list(raw_response_hook=vault.hook("list in subscription")))
        aci_sdk.container_groups.update(
            rg, name, {"tags": {"scanned": "yes"}}, raw_response_hook=vault.hook("update tags")
        )
        assert [v.name for v in group.containers[0].environment_variables] == ["PLAIN", "SECRET"]
    finally:
        aci_sdk.container_groups.begin_delete(rg, name, raw_response_hook=vault.hook("delete")).result()
    vault.assert_shown("registry.example.com", ["create", "get", "list in group", "list in subscription"])
    vault.assert_shown("INIT_SECRET", ["get", "list in group"])
    vault.assert_no_leak()


def test_durable_status_bodies_hold_no_key(emulator: dict[str, Any]) -> None:
    """Status and list answers never carry the system key or the task hub's connection string (the
    check-status payload's management URLs carry the key by design, as Azure's do)."""
    durable = emulator["durable"]
    world = DurableWorld(emulator)
    instance_id = world.completed("chain_orchestrator", ["a", "b"])
    vault = Vault()
    vault.values["system key"] = durable["key"]
    query = {"showInput": "true", "showHistory": "true", "showHistoryOutput": "true"}
    for path, extra in ((f"/instances/{instance_id}", query), ("/instances", {"showInput": "true"})):
        reply = world.wire.send("GET", path, query=extra)
        assert reply.status == 200, reply.body
        vault.keep(f"GET {path}", reply.raw.decode())
    assert all("AccountKey=" not in text for _, text in vault.bodies)
    vault.assert_no_leak()
