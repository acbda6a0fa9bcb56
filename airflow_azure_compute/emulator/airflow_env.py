"""Turn the emulator's endpoints file and Azurite's endpoints into Airflow connections.

``connection_env(endpoints, azurite)`` returns ``AIRFLOW_CONN_*`` variables (JSON form) for the four
connection types under their default conn ids, for tests, ``make demo``, ``make airflow`` and users
who point a local Airflow at the emulators.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_azure_compute.testing.stack import AzuriteEndpoints

#: The ARM scope given to the emulated Batch account and function app (portal links only; nothing
#: calls ARM for them).
PORTAL_SUBSCRIPTION = "00000000-0000-0000-0000-0000000000b1"
PORTAL_RESOURCE_GROUP = "emulator-rg"
#: The resource name given to the emulated function app (portal links only).
PORTAL_FUNCTION_APP = "emulator-functions"


def connections(endpoints: Mapping[str, Any], azurite: AzuriteEndpoints) -> dict[str, dict[str, Any]]:
    """Connection dicts keyed by conn id; services missing from ``endpoints`` are left out.

    Blob traffic goes through the storage fault proxy when the emulator runs one (``storage.blob_url``).
    """
    conns: dict[str, dict[str, Any]] = {
        "azure_compute_blob_default": {
            "conn_type": "azure_compute_blob",
            "host": (endpoints.get("storage") or {}).get("blob_url") or azurite.blob_url,
            "login": azurite.account_name,
            "password": azurite.account_key,
            "extra": {"queue_url": azurite.queue_url},
        }
    }
    if batch := endpoints.get("batch"):
        conns["azure_compute_batch_default"] = {
            "conn_type": "azure_compute_batch",
            "host": batch["url"],
            "login": batch["account_name"],
            "password": batch["account_key"],
            # The ARM scope of the account: only the portal links use it.
            "extra": {"subscription_id": PORTAL_SUBSCRIPTION, "resource_group": PORTAL_RESOURCE_GROUP},
        }
    if aci := endpoints.get("aci"):
        conns["azure_compute_aci_default"] = {
            "conn_type": "azure_compute_aci",
            "extra": {
                "arm_endpoint": aci["url"],
                "subscription_id": aci["subscription_id"],
                "resource_group": aci["resource_group"],
                "region": aci.get("region", "westeurope"),
                "auth_mode": "token",
                "token": aci["token"],  # issued by the emulator, which accepts no other
                "ca_bundle": aci["ca_path"],
            },
        }
    if durable := endpoints.get("durable"):
        conns["azure_compute_durable_default"] = {
            "conn_type": "azure_compute_durable",
            "host": durable["url"],
            "password": durable["key"],
            "extra": {
                "task_hub": durable.get("task_hub") or "",
                # The ARM scope and resource name of the app: only the portal links use them.
                "subscription_id": PORTAL_SUBSCRIPTION,
                "resource_group": PORTAL_RESOURCE_GROUP,
                "function_app_name": PORTAL_FUNCTION_APP,
            },
        }
    return conns


def env_name(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def connection_env(endpoints: Mapping[str, Any], azurite: AzuriteEndpoints) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` environment variables (JSON) for every available service."""
    return {env_name(cid): json.dumps(conn) for cid, conn in connections(endpoints, azurite).items()}


__all__ = ["connection_env", "connections", "env_name"]
