"""Base classes of every hook: the connection is parsed once into `ServiceSettings`.

Sync hooks read ``self.settings``; async hooks ``await self.aget_settings()`` (connection lookup through
the Task SDK's async path, so it works inside the triggerer). Both come from the same parser. The sync
hooks, the ones registered for the connection types, also answer the connection form's Test button
(`AzureComputeSyncHook.test_connection`), through the one cheap call each must provide (``probe``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property
from typing import Any, ClassVar

from airflow_azure_compute.connections import ServiceKind, ServiceSettings
from airflow_azure_compute.deprecations import renamed_argument
from airflow_azure_compute.exceptions import AzureComputeConfigError

try:
    from airflow.sdk import BaseHook
except ImportError:  # pragma: no cover - Airflow 3.0 before the Task SDK exported it
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined]


class AzureComputeBaseHook(BaseHook):  # type: ignore[misc]
    """Shared base of the sync and async hooks: the connection, parsed once.

    :param azure_conn_id: Airflow connection id; defaults to ``<connection type>_default``. The
        former keyword ``conn_id`` still works, with a deprecation warning.
    """

    service: ClassVar[ServiceKind]
    conn_name_attr: ClassVar[str] = "azure_conn_id"
    conn_type: ClassVar[str]
    default_conn_name: ClassVar[str]

    def __init__(self, azure_conn_id: str | None = None, **kwargs: Any) -> None:
        azure_conn_id = renamed_argument(kwargs, "conn_id", "azure_conn_id", azure_conn_id, owner=type(self))
        super().__init__(**kwargs)
        self.azure_conn_id: str = azure_conn_id or self.default_conn_name

    @property
    def conn_id(self) -> str:
        """The connection id (same as `azure_conn_id`)."""
        return self.azure_conn_id

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        service = cls.__dict__.get("service")
        if service is not None:
            cls.conn_type = service.value
            cls.default_conn_name = f"{service.value}_default"

    @cached_property
    def settings(self) -> ServiceSettings:
        """The parsed, validated connection."""
        return self._check_kind(ServiceSettings.from_connection(self.get_connection(self.azure_conn_id)))

    async def aget_settings(self) -> ServiceSettings:
        """Async lookup of the same settings (usable in triggers)."""
        cached: ServiceSettings | None = self.__dict__.get("settings")
        if cached is None:
            conn = await self.aget_connection(self.azure_conn_id)
            cached = self.__dict__["settings"] = self._check_kind(ServiceSettings.from_connection(conn))
        return cached

    def _check_kind(self, settings: ServiceSettings) -> ServiceSettings:
        if settings.kind is not self.service:
            raise AzureComputeConfigError(
                f"connection {self.azure_conn_id!r} is of type {settings.kind.value!r}, but {type(self).__name__} "
                f"needs a {self.service.value!r} connection",
                field="azure_conn_id",
            )
        return settings


class AzureComputeSyncHook(AzureComputeBaseHook, ABC):
    """Base of the sync hooks: a connection test through one cheap real call, ``probe``, that each provides."""

    def test_connection(self) -> tuple[bool, str]:
        """Make one cheap real call (`probe`) and say what failed, naming the connection and field."""
        try:
            return True, self.probe()
        except Exception as err:  # the UI shows the message; never raise from here
            return False, self.describe_failure(err)

    def describe_failure(self, err: BaseException) -> str:
        """A connection test's failure in the user's terms: unreachable endpoint, refused credentials,
        bad configuration; otherwise the service's own words."""
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

        if isinstance(err, AzureComputeConfigError):
            return str(err)
        where = f"connection {self.azure_conn_id!r}"
        endpoint = self.__dict__["settings"].endpoint if "settings" in self.__dict__ else "its endpoint"
        current: BaseException | None = err
        while current is not None:
            if isinstance(current, ServiceRequestError | ConnectionError):
                reason = str(getattr(current, "message", None) or current).splitlines()[0][:200]
                return (
                    f"{where}: could not reach {endpoint} ({reason}); check the Host / endpoint field "
                    "and that the service is up"
                )
            status = getattr(current, "status_code", None)
            if isinstance(current, ClientAuthenticationError) or status in (401, 403):
                code = getattr(getattr(current, "error", None), "code", None) or getattr(
                    current, "error_code", None
                )
                said = str(getattr(current, "message", None) or current).strip().splitlines()
                return (
                    f"{where}: {endpoint} refused the credentials (HTTP {status}"
                    + (f", {getattr(code, 'value', code)}" if code else "")
                    + (f": {said[0][:200]}" if said else "")
                    + "); check the Password (account key / function key), SAS token or Entra ID fields"
                )
            if isinstance(current, HttpResponseError):
                break
            current = current.__cause__
        return f"{where}: {type(err).__name__}: {getattr(err, 'message', None) or err}"

    @abstractmethod
    def probe(self) -> str:
        """One cheap real call to the service; returns a short description of what it saw."""


__all__ = ["AzureComputeBaseHook", "AzureComputeSyncHook"]
