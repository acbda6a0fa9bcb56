"""Keyword arguments every Azure SDK client of the provider gets, sync or async.

* TLS trust: the connection's ``ca_bundle``, if any (`ServiceSettings.client_kwargs`).
* An HTTP transport that reads the environment once. By default both ``requests`` and ``aiohttp``
  (``trust_env``) look up proxy variables and ``~/.netrc`` on every request; ``aiohttp`` even does it
  in two thread-pool round trips per request. Against Azurite that cost about 0.85 ms of CPU per
  request and capped 1 MiB downloads at two thirds of the rate without it. When the environment
  configures no proxy and no netrc file there is nothing to look up, so the transport is told not to
  (``use_env_settings=False``) and the only other thing ``requests`` takes from the environment, a
  CA bundle, is passed explicitly. With a proxy or netrc configured, the libraries keep their own
  per-request lookups, unchanged.
* Token scopes in the connection's cloud (`ServiceSettings.token_scope`), for Entra ID sign-in only:
  ``credential_scopes`` for azure-batch and the management clients (whose defaults are the public
  cloud's), ``audience`` for azure-storage-blob and azure-storage-queue (which append ``/.default``).
  Shared key and SAS clients get neither.
* azure-core's per-request INFO logging is turned down: thousands of chunk requests would flood the
  task log (operators log progress instead).
"""

from __future__ import annotations

import logging
import os
import urllib.request
from typing import Any

from airflow_azure_compute.connections import ServiceSettings


def quiet_http_logging() -> None:
    """azure-core logs every request and response at INFO: keep task logs for what matters."""
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)


def environment_free_transport(*, aio: bool) -> dict[str, Any]:
    """Transport kwargs that do what the environment says, read now instead of on every request.

    ``{}`` (leave the library to read the environment) when a proxy or a netrc file is configured.
    """
    netrc = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    if urllib.request.getproxies() or os.path.exists(netrc):
        return {}
    kwargs: dict[str, Any] = {"use_env_settings": False}
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and not aio:  # requests' order; aiohttp never reads these variables
        kwargs["connection_verify"] = bundle
    return kwargs


def sdk_client_kwargs(settings: ServiceSettings, *, aio: bool) -> dict[str, Any]:
    """The transport and TLS keyword arguments of an SDK client for ``settings`` (a connection's own
    CA bundle wins over the environment's)."""
    quiet_http_logging()
    return {**environment_free_transport(aio=aio), **settings.client_kwargs()}


def credential_scopes(settings: ServiceSettings) -> dict[str, Any]:
    """``credential_scopes`` of an azure-batch or azure-mgmt client signing in with Entra ID (else
    nothing: a shared key needs no scope)."""
    return {"credential_scopes": settings.token_scopes} if settings.token_scopes else {}


def storage_audience(settings: ServiceSettings) -> dict[str, Any]:
    """``audience`` of an azure-storage client signing in with Entra ID: the scope's resource, as the
    SDK appends ``/.default`` itself (else nothing: keys and SAS need no audience)."""
    scopes = settings.token_scopes
    return {"audience": scopes[0].removesuffix("/.default")} if scopes else {}


__all__ = [
    "credential_scopes",
    "environment_free_transport",
    "quiet_http_logging",
    "sdk_client_kwargs",
    "storage_audience",
]
