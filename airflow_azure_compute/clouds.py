"""The Azure clouds a connection can talk to, and how to tell which one it does.

Clouds carry the names ``az cloud list`` prints (the ``name`` of azure-cli's and msrestazure's
``Cloud`` objects): ``AzureCloud``, ``AzureChinaCloud`` (operated by 21Vianet) and
``AzureUSGovernment``. Azure Germany closed on 29 October 2021 and is not one of them.

Each cloud has its own Azure portal (<https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud>,
"Azure portal endpoint"), Resource Manager endpoint and Entra ID authority (azure-cli's
``AZURE_PUBLIC_CLOUD``, ``AZURE_CHINA_CLOUD``, ``AZURE_US_GOV_CLOUD``: ``resource_manager`` and
``active_directory``; azure-identity's ``AzureAuthorityHosts``), and its own DNS zones: the storage
suffix (``core.windows.net``, ``core.chinacloudapi.cn``, ``core.usgovcloudapi.net``), Batch account
URLs (``batch.azure.com``, ``batch.chinacloudapi.cn``, ``batch.usgovcloudapi.net``), function apps
(``azurewebsites.net``, ``chinacloudsites.cn``, ``azurewebsites.us``).

Each cloud also has its own Entra ID token scopes (the audience of a bearer token plus ``/.default``):

- Batch: the Batch resource id ``https://batch.core.windows.net/``, ``https://batch.chinacloudapi.cn/``,
  ``https://batch.core.usgovcloudapi.net/`` (azure-cli's ``batch_resource_id``; go-autorest's
  ``ResourceIdentifiers.Batch``; "Authenticate Azure Batch services with Microsoft Entra ID" on
  learn.microsoft.com and docs.azure.cn), with ``/.default`` appended as azure-cli's
  ``resource_to_scopes`` and azure-batch's own default (``https://batch.core.windows.net//.default``) do.
- Storage: ``https://storage.azure.com/`` in all three (go-autorest's ``ResourceIdentifiers.Storage``;
  azure-storage-blob's default ``STORAGE_OAUTH_SCOPE``; Entra ID authorization of Blob Storage is
  available "in all public regions and national clouds").
- Resource Manager: the cloud's ARM endpoint plus ``/.default`` (Microsoft Learn, "Multicloud: Connect
  to all regions with the Azure libraries for Python"; go-autorest's ``TokenAudience``).

`decide_cloud` picks the cloud from a connection's explicit ``cloud`` extra, else from the first
URL of a known zone (the service endpoint, then the authority); a host of no known zone (an emulator
on 127.0.0.1 or localhost, a custom domain) says nothing, and with no signal at all the cloud is the
public one. Pure logic: nothing here imports an SDK or Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from airflow_azure_compute.enums import StrEnum


class AzureCloud(StrEnum):
    """An Azure cloud, by the name ``az cloud list`` gives it."""

    PUBLIC = "AzureCloud"
    CHINA = "AzureChinaCloud"
    US_GOVERNMENT = "AzureUSGovernment"

    @classmethod
    def parse(cls, value: object, *, field: str) -> AzureCloud:  # type: ignore[override]
        """The cloud named ``value`` (see `parse_cloud`); a config error naming ``field`` otherwise.
        (The names are mixed-case, so `StrEnum.parse`, which lower-cases, would find none.)"""
        from airflow_azure_compute.exceptions import AzureComputeConfigError

        try:
            return parse_cloud(str(value))
        except ValueError as err:
            raise AzureComputeConfigError(str(err), field=field) from None


@dataclass(frozen=True, slots=True)
class CloudEndpoints:
    """Where a cloud's portal, Resource Manager and Entra ID authority are, its DNS zones and storage
    suffix, and the Entra ID token scopes of its services."""

    portal: str
    resource_manager: str
    active_directory: str
    #: DNS zones whose hosts belong to this cloud (a host is the zone or ends with ``.<zone>``).
    zones: tuple[str, ...]
    #: Storage account hosts are ``<account>.<service>.<storage_suffix>``.
    storage_suffix: str
    #: Entra ID token scopes of the services (see the module docstring for their sources).
    batch_scope: str
    storage_scope: str
    arm_scope: str


ENDPOINTS: Mapping[AzureCloud, CloudEndpoints] = {
    AzureCloud.PUBLIC: CloudEndpoints(
        portal="https://portal.azure.com",
        resource_manager="https://management.azure.com",
        active_directory="https://login.microsoftonline.com",
        zones=("azure.com", "windows.net", "azurewebsites.net", "microsoftonline.com"),
        storage_suffix="core.windows.net",
        batch_scope="https://batch.core.windows.net//.default",
        storage_scope="https://storage.azure.com/.default",
        arm_scope="https://management.azure.com/.default",
    ),
    AzureCloud.CHINA: CloudEndpoints(
        portal="https://portal.azure.cn",
        resource_manager="https://management.chinacloudapi.cn",
        active_directory="https://login.chinacloudapi.cn",
        zones=("chinacloudapi.cn", "chinacloudsites.cn", "azure.cn", "microsoftonline.cn"),
        storage_suffix="core.chinacloudapi.cn",
        batch_scope="https://batch.chinacloudapi.cn//.default",
        storage_scope="https://storage.azure.com/.default",
        arm_scope="https://management.chinacloudapi.cn/.default",
    ),
    AzureCloud.US_GOVERNMENT: CloudEndpoints(
        portal="https://portal.azure.us",
        resource_manager="https://management.usgovcloudapi.net",
        active_directory="https://login.microsoftonline.us",
        zones=("usgovcloudapi.net", "azurewebsites.us", "azure.us", "microsoftonline.us"),
        storage_suffix="core.usgovcloudapi.net",
        batch_scope="https://batch.core.usgovcloudapi.net//.default",
        storage_scope="https://storage.azure.com/.default",
        arm_scope="https://management.usgovcloudapi.net/.default",
    ),
}

#: Other spellings of the same clouds, lower-cased: the official Airflow provider's
#: ``cloud_environment`` value ``AzurePublicCloud`` and azure-core's ``AzureClouds`` member names.
_ALIASES: Mapping[str, AzureCloud] = {
    "azurepubliccloud": AzureCloud.PUBLIC,
    "azure_public_cloud": AzureCloud.PUBLIC,
    "azure_china_cloud": AzureCloud.CHINA,
    "azure_us_government": AzureCloud.US_GOVERNMENT,
}


def parse_cloud(value: str) -> AzureCloud:
    """The cloud named ``value`` (any case, or an alias); `ValueError` listing the names otherwise."""
    name = value.strip().lower()
    for cloud in AzureCloud:
        if cloud.value.lower() == name:
            return cloud
    if name in _ALIASES:
        return _ALIASES[name]
    raise ValueError(f"unknown cloud {value!r}; use one of: " + ", ".join(c.value for c in AzureCloud))


def url_host(url: str | None) -> str:
    """The host of a URL, or of a bare host name (an authority may be given without a scheme);
    empty for None or an empty string."""
    value = url or ""
    return urlsplit(value if "://" in value else f"https://{value}").hostname or ""


def cloud_of_url(url: str | None) -> AzureCloud | None:
    """The cloud whose DNS zone holds the host of ``url`` (a URL, or a bare host as an authority may
    be given); None for an empty value, an IP address, localhost or a host of no known zone."""
    host = url_host(url).rstrip(".")
    for cloud, endpoints in ENDPOINTS.items():
        if any(host == zone or host.endswith(f".{zone}") for zone in endpoints.zones):
            return cloud
    return None


def cloud_signals(urls: Mapping[str, str | None]) -> list[tuple[str, AzureCloud]]:
    """``(field, cloud)`` for each URL (keyed by the connection field it came from) whose host lies in
    a known cloud, in the mapping's order."""
    found = ((name, cloud_of_url(url)) for name, url in urls.items())
    return [(name, cloud) for name, cloud in found if cloud is not None]


def decide_cloud(explicit: AzureCloud | None, urls: Mapping[str, str | None]) -> AzureCloud:
    """The cloud a connection talks to: ``explicit`` when given, else the cloud of the first URL in a
    known zone, else the public cloud (emulators, custom domains)."""
    if explicit is not None:
        return explicit
    signals = cloud_signals(urls)
    return signals[0][1] if signals else AzureCloud.PUBLIC


def portal_url(cloud: object) -> str:
    """The portal of a cloud given by name; the public portal for None (link data persisted before
    clouds were recorded); empty for a name that is not a cloud."""
    if cloud is None:
        return ENDPOINTS[AzureCloud.PUBLIC].portal
    try:
        return ENDPOINTS[AzureCloud(str(cloud))].portal
    except ValueError:
        return ""


__all__ = [
    "ENDPOINTS",
    "AzureCloud",
    "CloudEndpoints",
    "cloud_of_url",
    "cloud_signals",
    "decide_cloud",
    "parse_cloud",
    "portal_url",
    "url_host",
]
