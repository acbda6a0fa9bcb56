"""The secret-path rules behind every emulator answer: what is dropped or replaced, and what is kept."""

from __future__ import annotations

import copy
from typing import Any

from airflow_azure_compute.emulator.aci.model import SECRETS as ACI_SECRETS
from airflow_azure_compute.emulator.batch.secret_fields import without_secrets
from airflow_azure_compute.emulator.redaction import DROP, SecretFields


def test_rules_match_the_end_of_a_path_through_lists_and_leave_the_input_alone() -> None:
    fields = SecretFields({("registry", "password"): DROP, ("volumes", "secret"): {}})
    body = {
        "password": "top-level is not a registry password",
        "tasks": [{"registry": {"server": "r", "password": "p1"}}, {"registry": {"password": "p2"}}],
        "nested": {"deeper": {"registry": {"password": "p3", "username": "u"}}},
        "volumes": [{"name": "v", "secret": {"k": "c2VjcmV0"}}, {"name": "w", "emptyDir": {}}],
        "secret": "not under volumes",
    }
    before = copy.deepcopy(body)
    out = fields.scrub(body)
    assert body == before
    assert out == {
        "password": "top-level is not a registry password",
        "tasks": [{"registry": {"server": "r"}}, {"registry": {}}],
        "nested": {"deeper": {"registry": {"username": "u"}}},
        "volumes": [{"name": "v", "secret": {}}, {"name": "w", "emptyDir": {}}],
        "secret": "not under volumes",
    }
    out["volumes"][0]["secret"]["x"] = 1  # the replacement is a fresh value each time
    assert fields.scrub(body)["volumes"][0]["secret"] == {}


def _pool_with_every_secret() -> dict[str, Any]:
    task_like = {
        "commandLine": "c",
        "containerSettings": {
            "imageName": "i",
            "registry": {"registryServer": "r", "username": "u", "password": "S1"},
        },
    }
    return {
        "id": "p",
        "virtualMachineConfiguration": {
            "containerConfiguration": {
                "containerRegistries": [{"registryServer": "r", "username": "u", "password": "S2"}]
            }
        },
        "mountConfiguration": [
            {"azureBlobFileSystemConfiguration": {"accountName": "a", "containerName": "c", "sasKey": "S3"}},
            {
                "azureBlobFileSystemConfiguration": {
                    "accountName": "a",
                    "containerName": "c",
                    "accountKey": "S4",
                }
            },
            {"azureFileShareConfiguration": {"accountName": "a", "azureFileUrl": "u", "accountKey": "S5"}},
            {"cifsMountConfiguration": {"source": "s", "username": "u", "password": "S6"}},
            {"nfsMountConfiguration": {"source": "s", "relativeMountPath": "n"}},
        ],
        "userAccounts": [
            {"name": "w", "password": "S7", "linuxUserConfiguration": {"uid": 5, "sshPrivateKey": "S8"}}
        ],
        "startTask": task_like,
    }


def test_batch_answers_keep_everything_but_the_secrets() -> None:
    job = {
        "id": "j",
        "jobManagerTask": {"id": "m", **_pool_with_every_secret()["startTask"]},
        "poolInfo": {"autoPoolSpecification": {"pool": _pool_with_every_secret()}},
    }
    for body in (_pool_with_every_secret(), job):
        text = repr(without_secrets(body))
        assert not [s for s in ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8") if f"'{s}'" in text], text
    pool = without_secrets(_pool_with_every_secret())
    assert pool["mountConfiguration"][0] == {
        "azureBlobFileSystemConfiguration": {"accountName": "a", "containerName": "c"}
    }
    assert pool["mountConfiguration"][3] == {"cifsMountConfiguration": {"source": "s", "username": "u"}}
    assert pool["mountConfiguration"][4] == {
        "nfsMountConfiguration": {"source": "s", "relativeMountPath": "n"}
    }
    assert pool["userAccounts"] == [{"name": "w", "linuxUserConfiguration": {"uid": 5}}]
    assert pool["startTask"]["containerSettings"]["registry"] == {"registryServer": "r", "username": "u"}


def test_aci_answers_show_secrets_as_azure_does() -> None:
    env = [{"name": "A", "value": "v"}, {"name": "B", "secureValue": "S1"}]
    body = {
        "properties": {
            "containers": [{"name": "c", "properties": {"environmentVariables": env}}],
            "initContainers": [{"name": "i", "properties": {"environmentVariables": env}}],
            "imageRegistryCredentials": [{"server": "r", "username": "u", "password": "S2"}],
            "volumes": [
                {"name": "f", "azureFile": {"shareName": "s", "storageAccountKey": "S3"}},
                {"name": "t", "secret": {"k": "UzQ="}},
            ],
            "diagnostics": {"logAnalytics": {"workspaceId": "w", "workspaceKey": "S5"}},
        }
    }
    props = ACI_SECRETS.scrub(body)["properties"]
    for kind in ("containers", "initContainers"):
        assert props[kind][0]["properties"]["environmentVariables"] == [
            {"name": "A", "value": "v"},
            {"name": "B"},
        ]
    assert props["imageRegistryCredentials"] == [{"server": "r", "username": "u"}]
    assert props["volumes"] == [{"name": "f", "azureFile": {"shareName": "s"}}, {"name": "t", "secret": {}}]
    assert props["diagnostics"]["logAnalytics"] == {"workspaceId": "w", "workspaceKey": ""}
