"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Connection form fields are declared here (``conn-fields``), not through hook methods; sensitive fields
carry ``"format": "password"`` so the UI masks them and Airflow redacts them.
"""

from __future__ import annotations

from typing import Any

from airflow_azure_compute import __version__

_STR = {"type": ["string", "null"]}
_SECRET = {"type": ["string", "null"], "format": "password"}


def _field(label: str, description: str, *, secret: bool = False, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {**(_SECRET if secret else _STR), **schema}}


#: Auth modes offered in the form, with the label the dropdown shows; empty (null) = inferred.
_AUTH_MODES: dict[str, str] = {
    "shared_key": "Shared key (account name + key)",
    "sas": "SAS token",
    "connection_string": "Storage connection string",
    "function_key": "Function key (Durable Functions)",
    "service_principal": "Service principal (secret or certificate)",
    "managed_identity": "Managed identity",
    "workload_identity": "Workload identity",
    "default": "DefaultAzureCredential",
    "token": "Bearer token",
}

#: The clouds offered in the form (names as ``az cloud list`` gives them); empty (null) = from the endpoints.
_CLOUDS: dict[str, str] = {
    "AzureCloud": "Azure (public)",
    "AzureChinaCloud": "Azure China (21Vianet)",
    "AzureUSGovernment": "Azure US Government",
}

#: Entra ID and TLS fields every connection type accepts.
_ENTRA_FIELDS: dict[str, Any] = {
    "auth_mode": _field(
        "Auth mode",
        "How to authenticate; leave empty to infer it from the fields you fill in.",
        enum=[None, *_AUTH_MODES],
        values_display={"null": "Inferred from the fields you fill in", **_AUTH_MODES},
    ),
    "tenant_id": _field("Tenant ID", "Entra ID tenant (service principal, workload identity)."),
    "client_id": _field(
        "Client ID", "Application (client) id of the service principal or user-assigned managed identity."
    ),
    "client_secret": _field("Client secret", "Service principal secret.", secret=True),
    "certificate_path": _field("Certificate path", "PEM or PKCS12 file of a certificate service principal."),
    "certificate_password": _field("Certificate password", "Password of the certificate file.", secret=True),
    "federated_token_file": _field(
        "Federated token file", "Workload identity token file (default: $AZURE_FEDERATED_TOKEN_FILE)."
    ),
    "cloud": _field(
        "Azure cloud",
        "The cloud of the resources; leave empty to decide it from the endpoints. Sets the portal of the "
        "links, the Entra ID token scopes, and the default authority (and ARM endpoint) of a sovereign cloud.",
        enum=[None, *_CLOUDS],
        values_display={"null": "Decided from the endpoints", **_CLOUDS},
    ),
    "authority_host": _field(
        "Authority host", "Entra ID authority for sovereign clouds, e.g. https://login.microsoftonline.us."
    ),
    "token": _field("Bearer token", "A ready-made access token (token auth mode).", secret=True),
    "ca_bundle": _field("CA bundle", "Path to a PEM CA bundle to trust for TLS (private CAs, emulators)."),
    "allow_http": {
        "label": "Allow plain http",
        "description": "Accept an http endpoint on a non-loopback host (e.g. a compose network).",
        "schema": {"type": ["boolean", "null"], "default": False},
    },
}


def _connection_type(
    conn_type: str, hook: str, name: str, fields: dict[str, Any], behaviour: dict[str, Any]
) -> dict[str, Any]:
    return {
        "connection-type": conn_type,
        "hook-class-name": f"airflow_azure_compute.hooks.{hook}",
        "hook-name": name,
        "conn-fields": {**fields, **_ENTRA_FIELDS},
        "ui-field-behaviour": behaviour,
    }


def _account_form(host_example: str) -> dict[str, Any]:
    """The form of an account reached by URL, account name and shared key (Batch, Blob Storage)."""
    return {
        "hidden-fields": ["schema", "port", "extra"],
        "relabeling": {"host": "Account URL", "login": "Account name", "password": "Account key"},
        "placeholders": {"host": host_example, "login": "myaccount"},
    }


#: Optional ARM scope of a Batch account or function app: only the portal links use it.
_PORTAL_FIELDS: dict[str, Any] = {
    "subscription_id": _field("Subscription ID", "Subscription of the account (for portal links)."),
    "resource_group": _field("Resource group", "Resource group of the account (for portal links)."),
}

CONNECTION_TYPES: list[dict[str, Any]] = [
    _connection_type(
        "azure_compute_batch",
        "batch.BatchHook",
        "Azure Batch (azure-compute)",
        dict(_PORTAL_FIELDS),
        _account_form("https://myaccount.westeurope.batch.azure.com"),
    ),
    _connection_type(
        "azure_compute_blob",
        "blob.BlobHook",
        "Azure Blob Storage (azure-compute)",
        {
            "connection_string": _field("Connection string", "Storage connection string.", secret=True),
            "sas_token": _field("SAS token", "Account or container SAS token.", secret=True),
            "queue_url": _field(
                "Queue URL", "Storage queue endpoint (worker pools), default derived from the Blob endpoint."
            ),
        },
        _account_form("https://myaccount.blob.core.windows.net"),
    ),
    _connection_type(
        "azure_compute_aci",
        "container_instances.ContainerInstancesHook",
        "Azure Container Instances (azure-compute)",
        {
            "subscription_id": _field("Subscription ID", "Azure subscription of the container groups."),
            "resource_group": _field("Resource group", "Resource group of the container groups."),
            "region": _field("Default region", "Region for new container groups, e.g. westeurope."),
            "arm_endpoint": _field(
                "ARM endpoint", "Resource Manager endpoint override (sovereign clouds, emulators)."
            ),
        },
        {
            "hidden-fields": ["schema", "port", "extra", "host", "login", "password"],
            "relabeling": {},
            "placeholders": {},
        },
    ),
    _connection_type(
        "azure_compute_durable",
        "durable.DurableHook",
        "Azure Durable Functions (azure-compute)",
        {
            "task_hub": _field("Task hub", "Task hub name (default: the app's)."),
            "storage_connection": _field(
                "Storage connection name", "App setting naming the task hub's storage."
            ),
            "app_auth_scope": _field(
                "App Service auth scope",
                "Entra ID scope when the app sits behind App Service authentication.",
            ),
            **_PORTAL_FIELDS,
            "function_app_name": _field(
                "Function app name",
                "The app's resource name (for portal links); default the first label of an "
                "*.azurewebsites.net host. Set it for a custom domain.",
            ),
        },
        {
            "hidden-fields": ["schema", "port", "extra", "login"],
            "relabeling": {
                "host": "Function app URL",
                "password": "System key (durabletask_extension) or function key",
            },
            "placeholders": {"host": "https://myapp.azurewebsites.net"},
        },
    ),
]


def get_provider_info() -> dict[str, Any]:
    """Return the provider info dict (validated by Airflow against provider_info.schema.json)."""
    return {
        "package-name": "airflow-azure-compute",
        "name": "Azure Compute (Batch, Blob, Container Instances, Durable Functions)",
        "description": "Large parallel work on Azure from Airflow 3: Blob split/merge, Batch fan-out, "
        "Container Instances and Durable Functions, deferrable by default.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Azure Batch (azure-compute)",
                "external-doc-url": "https://learn.microsoft.com/azure/batch/",
                "tags": ["azure"],
            },
            {
                "integration-name": "Azure Blob Storage (azure-compute)",
                "external-doc-url": "https://learn.microsoft.com/azure/storage/blobs/",
                "tags": ["azure"],
            },
            {
                "integration-name": "Azure Container Instances (azure-compute)",
                "external-doc-url": "https://learn.microsoft.com/azure/container-instances/",
                "tags": ["azure"],
            },
            {
                "integration-name": "Azure Durable Functions (azure-compute)",
                "external-doc-url": "https://learn.microsoft.com/azure/azure-functions/durable/",
                "tags": ["azure"],
            },
        ],
        "hooks": [
            {
                "integration-name": "Azure Batch (azure-compute)",
                "python-modules": ["airflow_azure_compute.hooks.batch"],
            },
            {
                "integration-name": "Azure Blob Storage (azure-compute)",
                "python-modules": ["airflow_azure_compute.hooks.blob"],
            },
            {
                "integration-name": "Azure Container Instances (azure-compute)",
                "python-modules": ["airflow_azure_compute.hooks.container_instances"],
            },
            {
                "integration-name": "Azure Durable Functions (azure-compute)",
                "python-modules": ["airflow_azure_compute.hooks.durable"],
            },
        ],
        "operators": [
            {
                "integration-name": "Azure Batch (azure-compute)",
                "python-modules": [
                    "airflow_azure_compute.operators.batch_pool",
                    "airflow_azure_compute.operators.batch_job",
                    "airflow_azure_compute.operators.batch_fanout",
                    "airflow_azure_compute.operators.batch_cleanup",
                    "airflow_azure_compute.operators.batch_mpi",
                    "airflow_azure_compute.operators.batch_pool_resize",
                    "airflow_azure_compute.operators.batch_python",
                ],
            },
            {
                "integration-name": "Azure Blob Storage (azure-compute)",
                "python-modules": [
                    "airflow_azure_compute.operators.blob_split",
                    "airflow_azure_compute.operators.blob_upload",
                    "airflow_azure_compute.operators.blob_merge",
                    "airflow_azure_compute.operators.blob_cleanup",
                ],
            },
            {
                "integration-name": "Azure Container Instances (azure-compute)",
                "python-modules": ["airflow_azure_compute.operators.container_instances"],
            },
            {
                "integration-name": "Azure Durable Functions (azure-compute)",
                "python-modules": ["airflow_azure_compute.operators.durable"],
            },
        ],
        "sensors": [
            {
                "integration-name": "Azure Batch (azure-compute)",
                "python-modules": ["airflow_azure_compute.sensors.batch"],
            },
            {
                "integration-name": "Azure Container Instances (azure-compute)",
                "python-modules": ["airflow_azure_compute.sensors.container_instances"],
            },
            {
                "integration-name": "Azure Durable Functions (azure-compute)",
                "python-modules": ["airflow_azure_compute.sensors.durable"],
            },
        ],
        "triggers": [
            {
                "integration-name": "Azure Batch (azure-compute)",
                "python-modules": [
                    "airflow_azure_compute.triggers.batch",
                    "airflow_azure_compute.triggers.batch_pool",
                ],
            },
            {
                "integration-name": "Azure Container Instances (azure-compute)",
                "python-modules": ["airflow_azure_compute.triggers.container_instances"],
            },
            {
                "integration-name": "Azure Durable Functions (azure-compute)",
                "python-modules": ["airflow_azure_compute.triggers.durable"],
            },
        ],
        "task-decorators": [
            {"name": "azure_batch", "class-name": "airflow_azure_compute.decorators.batch.azure_batch_task"},
        ],
        "connection-types": CONNECTION_TYPES,
        "asset-uris": [
            {
                "schemes": ["wasbs"],
                "handler": "airflow_azure_compute.assets.sanitize_uri",
                "factory": "airflow_azure_compute.assets.create_asset",
                "to_openlineage_converter": "airflow_azure_compute.assets.convert_asset_to_openlineage",
            }
        ],
        "extra-links": [
            "airflow_azure_compute.links.BatchPoolLink",
            "airflow_azure_compute.links.BatchJobLink",
            "airflow_azure_compute.links.ContainerGroupLink",
            "airflow_azure_compute.links.ContainerWorkersLink",
            "airflow_azure_compute.links.DurableInstanceLink",
        ],
    }
