"""The value of a `SecretRef`, from its connection.

Shared by the operators (sync connection lookups on the worker) and the triggers (async lookups in the
triggerer): both fetch the connections, then call `secret_value`, which does no I/O.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow_azure_compute.connections import ServiceSettings
from airflow_azure_compute.hooks.aci_groups import SecretRef, connection_value


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


__all__ = ["secret_value"]
