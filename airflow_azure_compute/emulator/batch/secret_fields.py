"""The Batch properties that hold a secret, and the answer body of a stored entity without them.

Every entity's wire JSON (pool, node, job, task) ends in `without_secrets`; the stored create bodies
keep the values for the emulator's own use (a blob mount syncs with the Storage emulator through its
``sasKey`` or ``accountKey``). Azure's own answers leave out each of these properties: the blob mount
key and the user password are seen missing in recorded Azure traffic, the others are left out on the
project's rule that no emulator answer carries a secret (docs page ``emulator/batch.md``).
"""

from __future__ import annotations

from typing import Any

from airflow_azure_compute.emulator.redaction import DROP, SecretFields

#: Matched at the end of a property's path anywhere in a body (a pool's start task, a job's auto pool).
SECRETS = SecretFields(
    {
        ("azureBlobFileSystemConfiguration", "accountKey"): DROP,
        ("azureBlobFileSystemConfiguration", "sasKey"): DROP,
        ("azureFileShareConfiguration", "accountKey"): DROP,
        ("cifsMountConfiguration", "password"): DROP,
        ("containerConfiguration", "containerRegistries", "password"): DROP,
        ("containerSettings", "registry", "password"): DROP,
        ("userAccounts", "password"): DROP,
        ("userAccounts", "linuxUserConfiguration", "sshPrivateKey"): DROP,
    }
)


def without_secrets(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of an entity's wire JSON without any secret property (``body`` is left unchanged)."""
    out: dict[str, Any] = SECRETS.scrub(body)
    return out


__all__ = ["SECRETS", "without_secrets"]
