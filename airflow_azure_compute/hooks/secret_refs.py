"""The secrets of a `GroupPlan`, read from their connections.

Shared by the operators (sync connection lookups on the worker, `resolve_secrets`) and the triggers
(async lookups in the triggerer, `aresolve_secrets`): both fetch the connections, then call
`complete_plan`, which does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from airflow_azure_compute.connections import ServiceSettings
from airflow_azure_compute.exceptions import AzureComputeConfigError
from airflow_azure_compute.hooks.aci_groups import GroupPlan, RegistryCredential, SecretRef, connection_value


def secret_value(ref: SecretRef, conn: Any) -> str | None:
    """A connection field, or a SAS URL signed with the connection's Storage account key."""
    if ref.source == "connection":
        return connection_value(conn, ref.key)
    from airflow_azure_compute.hooks.blob import SasAccess, sas_window, sign_sas
    from airflow_azure_compute.hooks.storage_queue import queue_sas_token

    settings = ServiceSettings.from_connection(conn)
    expiry = timedelta(seconds=ref.expiry_s)
    if ref.source == "queue_sas":
        return f"{settings.queue_url}/{ref.key}?{queue_sas_token(settings, ref.key, expiry=expiry)}"
    access = {"container_read": SasAccess.READ, "container_write": SasAccess.WRITE}[ref.source]
    start, end = sas_window(expiry)
    token = sign_sas(settings, ref.key, access=access, start=start, expiry=end)
    return f"{settings.endpoint.rstrip('/')}/{ref.key}?{token}"


def complete_plan(plan: GroupPlan, conns: Mapping[str, Any]) -> dict[str, Any]:
    """The plan's body with its secrets read from ``conns`` (by connection id), each masked in logs."""
    values = {ref: secret_value(ref, conns[ref.conn_id]) for ref in plan.secrets}
    mask_secrets(v for v in values.values() if v)
    return plan.complete(values.__getitem__)


def resolve_secrets(plan: GroupPlan) -> dict[str, Any]:
    """`complete_plan` with the connections looked up on the worker."""
    from airflow.sdk import BaseHook

    return complete_plan(
        plan, {conn_id: BaseHook.get_connection(conn_id) for conn_id in plan.connection_ids()}
    )


async def aresolve_secrets(plan: GroupPlan) -> dict[str, Any]:
    """`complete_plan` with async connection lookups (triggerer-safe)."""
    from airflow.sdk import BaseHook

    conns = {conn_id: await BaseHook.aget_connection(conn_id) for conn_id in plan.connection_ids()}
    return complete_plan(plan, conns)


def mask_secrets(values: Iterable[str]) -> None:
    """Register values with Airflow's secrets masker (task and triggerer processes alike)."""
    from airflow.sdk.log import mask_secret

    for value in values:
        mask_secret(value)


def connection_password(conn_id: str, *, field: str) -> str:
    """The password of connection ``conn_id`` (a storage key, a user's password); a config error naming
    ``field`` when the connection does not exist or has none."""
    from airflow.sdk import BaseHook

    try:
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:  # pragma: no cover - Airflow 3.0
        from airflow.exceptions import AirflowNotFoundException  # type: ignore[no-redef,assignment]

    try:
        password = BaseHook.get_connection(conn_id).password
    except AirflowNotFoundException:
        raise AzureComputeConfigError(f"connection {conn_id!r} does not exist", field=field) from None
    if not password:
        raise AzureComputeConfigError(f"connection {conn_id!r} has no password", field=field)
    return str(password)


def registry_login(conn_id: str, *, field: str) -> tuple[str, str]:
    """``(user, password)`` of an image registry connection; a config error naming ``field`` without both."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if not (conn.login and conn.password):
        raise AzureComputeConfigError(f"connection {conn_id!r} needs a login and a password", field=field)
    return str(conn.login), str(conn.password)


def registries_from(registry_conn_id: str | None) -> list[RegistryCredential]:
    """The registry login's public part (server, user, identity); the password stays in the connection."""
    if not registry_conn_id:
        return []
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(registry_conn_id)
    if not conn.host:
        raise AzureComputeConfigError(
            f"connection {registry_conn_id!r} needs the registry server as host", field="registry_conn_id"
        )
    identity = connection_value(conn, "identity")
    password = None if identity or not conn.password else "<from registry_conn_id>"
    return [RegistryCredential(conn.host, conn.login, password, identity)]


__all__ = [
    "aresolve_secrets",
    "complete_plan",
    "connection_password",
    "mask_secrets",
    "registries_from",
    "registry_login",
    "resolve_secrets",
    "secret_value",
]
