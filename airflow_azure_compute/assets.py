"""Airflow Assets for the blobs this provider writes, named as Airflow's Azure integrations name them.

A blob is ``wasbs://<container>@<account>/<path>``: the URI the OpenLineage naming spec gives Azure Blob
Storage and the form the official Microsoft Azure provider reports (``wasbs://<container>@<account>``
as namespace, the blob path as name). A path ending in ``/`` stands for every blob under that prefix
(the chunks of a split, the outputs of a fan-out).

Every operator that writes blobs ends with one call, `emit_blob_assets`, which

- attaches the written URIs (and their size) to each ``AssetAlias`` among the task's outlets, so a
  DAG scheduled on that alias runs after each write, whatever per-run container the output went to;
- fills in the extra of each declared ``Asset`` whose URI is one of the written ones.

Operators that know their DAG at construction declare `outputs_alias` ``(dag_id, task_id)``
as an outlet when the DAG author gives none, so a downstream DAG can use
``schedule=outputs_alias("producer", "merge")`` without touching the producer.

The scheme is registered with Airflow through the provider info (``asset-uris``): `sanitize_uri`
validates and normalises it, `convert_asset_to_openlineage` turns an Asset into an OpenLineage
dataset.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    from airflow.sdk import Asset, AssetAlias

SCHEME = "wasbs"
#: Prefix of the aliases this provider declares by default.
ALIAS_PREFIX = "azure-compute-outputs"


def blob_uri(account: str, container: str, path: str = "") -> str:
    """``wasbs://<container>@<account>/<path>`` (``path`` ending in ``/`` for a prefix)."""
    return f"{SCHEME}://{container}@{account}/{path.lstrip('/')}"


def create_asset(
    *, account: str, container: str, path: str = "", extra: dict[str, Any] | None = None
) -> Asset:
    """The Asset of one blob (or prefix); Airflow's ``asset-uris`` factory for ``wasbs``."""
    from airflow.sdk import Asset

    return Asset(uri=blob_uri(account, container, path), extra=extra or {})


def outputs_alias(dag_id: str, task_id: str) -> AssetAlias:
    """The alias through which a task of this provider reports the blobs it wrote by default."""
    from airflow.sdk import AssetAlias

    return AssetAlias(name=f"{ALIAS_PREFIX}/{dag_id}/{task_id}")


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's ``asset-uris`` handler: a ``wasbs`` URI must name a container and an account."""
    container, at, account = uri.netloc.partition("@")
    if not at or not container or not account:
        raise ValueError(f"{uri.geturl()!r} is not a blob URI: write wasbs://<container>@<account>/<path>")
    return uri._replace(netloc=f"{container.lower()}@{account.lower()}")


def convert_asset_to_openlineage(asset: Any, lineage_context: Any = None) -> Any:
    """An OpenLineage dataset (namespace ``wasbs://<container>@<account>``, name = the path)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    namespace, name = openlineage_name(asset.uri)
    return Dataset(namespace=namespace, name=name)


def openlineage_name(uri: str) -> tuple[str, str]:
    """``(namespace, name)`` of a ``wasbs`` URI as OpenLineage names it (``/`` for the whole container)."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/") or "/"


def emit_blob_assets(
    context: Mapping[str, Any],
    outlets: Iterable[Any],
    account: str | None,
    container: str,
    paths: Iterable[str],
    *,
    extra: Mapping[str, Any] | None = None,
) -> list[str]:
    """Report ``paths`` in ``container`` as written by the running task; return their URIs.

    :param context: the task's context (its ``outlet_events`` receive the events).
    :param outlets: the task's outlets; ``AssetAlias`` entries get one Asset per path, declared
        ``Asset`` entries with a written URI get ``extra``.
    :param account: the storage account name; without one, nothing can be named and nothing is emitted.
    :param container: the container written to.
    :param paths: blob names, or prefixes ending in ``/``.
    :param extra: JSON-safe details attached to every event (e.g. sizes, counts).
    """
    if not account:
        return []
    from airflow.sdk import Asset, AssetAlias

    uris = [blob_uri(account, container, p) for p in dict.fromkeys(paths)]
    details = dict(extra or {})
    events = context.get("outlet_events")
    if events is None or not uris:
        return uris
    for outlet in outlets:
        if isinstance(outlet, AssetAlias):
            for uri in uris:
                events[outlet].add(Asset(uri=uri), extra=details)
        elif isinstance(outlet, Asset) and outlet.uri in uris:
            events[outlet].extra.update(details)
    return uris


__all__ = [
    "ALIAS_PREFIX",
    "SCHEME",
    "blob_uri",
    "convert_asset_to_openlineage",
    "create_asset",
    "emit_blob_assets",
    "openlineage_name",
    "outputs_alias",
    "sanitize_uri",
]
