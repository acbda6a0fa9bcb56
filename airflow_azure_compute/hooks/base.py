"""Base classes of every hook: the connection is parsed once into `ServiceSettings`.

Sync hooks read ``self.settings``; async hooks ``await self.aget_settings()`` (connection lookup through
the Task SDK's async path, so it works inside the triggerer). Both come from the same parser.
"""

from __future__ import annotations

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
    """Shared base of the sync hooks.

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

    def test_connection(self) -> tuple[bool, str]:
        """Make one cheap real call (`probe`) and report the service's own message."""
        try:
            return True, self.probe()
        except Exception as err:  # the UI shows the message; never raise from here
            return False, f"{type(err).__name__}: {getattr(err, 'message', None) or err}"

    def probe(self) -> str:
        """One cheap real call to the service; returns a short description of what it saw."""
        raise NotImplementedError(f"{type(self).__name__} must implement probe()")


__all__ = ["AzureComputeBaseHook"]
