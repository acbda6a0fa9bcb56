"""One parser for every connection type: Airflow Connection -> `ServiceSettings` -> credentials.

Each service has its own connection type (names chosen so this provider installs beside the official
Microsoft Azure provider):

- ``azure_compute_batch``: Batch account URL; shared key (login = account name, password = key) or
  Entra ID.
- ``azure_compute_blob``: account URL or connection string; shared key, SAS token, or Entra ID.
- ``azure_compute_aci``: subscription id, resource group, default region, ARM endpoint; Entra ID.
- ``azure_compute_durable``: function app URL; system key or function key; task hub; optional Entra
  ID scope.

Connections of the official provider's types ``wasb``, ``azure_batch`` and
``azure_container_instances`` are read too, with the fields that provider documents (translated by
``_from_official`` into the fields above, then parsed and validated the same way); this provider
never registers those types.

Entra ID modes shared by all: ``service_principal`` (secret or certificate), ``managed_identity``,
``workload_identity``, ``default`` (DefaultAzureCredential) and ``token`` (a bearer token given as is).
Every type accepts an endpoint override, a ``ca_bundle`` for TLS and a ``cloud`` (`AzureCloud`: the
cloud of the resources, else decided from the endpoints; see `ServiceSettings.azure_cloud`), which
also picks the Entra ID token scope of the service (`ServiceSettings.token_scope`).

The settings object is parsed and validated once; `ServiceSettings.credential` and
`ServiceSettings.async_credential` build the sync and async credential from one table, so the
auth branches exist once. Errors name the connection and the field and never echo a secret.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_azure_compute.clouds import (
    ENDPOINTS,
    AzureCloud,
    cloud_of_url,
    cloud_signals,
    decide_cloud,
    parse_cloud,
    url_host,
)
from airflow_azure_compute.enums import StrEnum
from airflow_azure_compute.exceptions import ConnectionConfigError

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken


class ServiceKind(StrEnum):
    """The connection types of this provider (``conn_type`` values)."""

    BATCH = "azure_compute_batch"
    BLOB = "azure_compute_blob"
    ACI = "azure_compute_aci"
    DURABLE = "azure_compute_durable"


class AuthMode(StrEnum):
    """How a connection authenticates."""

    SHARED_KEY = "shared_key"
    SAS = "sas"
    CONNECTION_STRING = "connection_string"
    FUNCTION_KEY = "function_key"
    SERVICE_PRINCIPAL = "service_principal"
    MANAGED_IDENTITY = "managed_identity"
    WORKLOAD_IDENTITY = "workload_identity"
    DEFAULT = "default"
    TOKEN = "token"


ENTRA_MODES = frozenset(
    {
        AuthMode.SERVICE_PRINCIPAL,
        AuthMode.MANAGED_IDENTITY,
        AuthMode.WORKLOAD_IDENTITY,
        AuthMode.DEFAULT,
        AuthMode.TOKEN,
    }
)

#: The auth modes each service accepts.
ALLOWED_MODES: Mapping[ServiceKind, frozenset[AuthMode]] = {
    ServiceKind.BATCH: ENTRA_MODES | {AuthMode.SHARED_KEY},
    ServiceKind.BLOB: ENTRA_MODES | {AuthMode.SHARED_KEY, AuthMode.SAS, AuthMode.CONNECTION_STRING},
    ServiceKind.ACI: ENTRA_MODES,
    ServiceKind.DURABLE: ENTRA_MODES | {AuthMode.FUNCTION_KEY},
}

#: Token scopes of the public cloud (every cloud's are in `airflow_azure_compute.clouds.ENDPOINTS`;
#: a connection's are `ServiceSettings.token_scope`).
BATCH_SCOPE = ENDPOINTS[AzureCloud.PUBLIC].batch_scope
STORAGE_SCOPE = ENDPOINTS[AzureCloud.PUBLIC].storage_scope
DEFAULT_ARM_ENDPOINT = ENDPOINTS[AzureCloud.PUBLIC].resource_manager

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

#: Optional on Batch and Durable connections: the account's / app's ARM scope, for portal links.
_PORTAL_SCOPE = ("subscription_id", "resource_group")

#: Extra keys understood by each connection type (beyond the shared Entra/TLS ones).
_SERVICE_EXTRAS: Mapping[ServiceKind, frozenset[str]] = {
    ServiceKind.BATCH: frozenset({"account_url", "account_name", "account_key", *_PORTAL_SCOPE}),
    ServiceKind.BLOB: frozenset(
        {"account_url", "account_name", "account_key", "connection_string", "sas_token", "queue_url"}
    ),
    ServiceKind.ACI: frozenset({"subscription_id", "resource_group", "region", "arm_endpoint"}),
    ServiceKind.DURABLE: frozenset(
        {
            "function_app_url",
            "function_key",
            "task_hub",
            "storage_connection",
            "app_auth_scope",
            "function_app_name",
            *_PORTAL_SCOPE,
        }
    ),
}
#: Entra ID and TLS extras every type accepts, copied as they are onto the settings.
_IDENTITY_EXTRAS = (
    "tenant_id",
    "client_id",
    "client_secret",
    "certificate_path",
    "certificate_password",
    "federated_token_file",
    "authority_host",
    "token",
    "ca_bundle",
)
_COMMON_EXTRAS = frozenset({*_IDENTITY_EXTRAS, "auth_mode", "allow_http", "cloud"})


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    import ipaddress  # lazy: DAG parsing imports this module

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """A validated connection: where the service is and how to authenticate to it.

    Build it with `from_connection` (or `from_fields` in tests); secrets are kept out of
    ``repr``.
    """

    kind: ServiceKind
    endpoint: str
    auth_mode: AuthMode
    conn_id: str | None = None
    account_name: str | None = None
    account_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)
    connection_string: str | None = field(default=None, repr=False)
    #: Storage queue endpoint of a Blob connection's account (worker pools); see `queue_url`.
    queue_endpoint: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    certificate_path: str | None = None
    certificate_password: str | None = field(default=None, repr=False)
    federated_token_file: str | None = None
    authority_host: str | None = None
    token: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    subscription_id: str | None = None
    resource_group: str | None = None
    region: str | None = None
    function_key: str | None = field(default=None, repr=False)
    task_hub: str | None = None
    storage_connection: str | None = None
    app_auth_scope: str | None = None
    function_app_name: str | None = None
    #: The ``cloud`` extra; None: decided from the endpoints (see `azure_cloud`).
    cloud: AzureCloud | None = None

    # ----------------------------------------------------------------------------------- parsing
    @classmethod
    def from_connection(cls, conn: Any) -> ServiceSettings:
        """Parse an Airflow ``Connection`` (any of the four types) and validate it."""
        conn_id = getattr(conn, "conn_id", None)
        conn_type = conn.conn_type
        if conn_type in OFFICIAL_CONN_TYPES:
            extra = _parse_extra(getattr(conn, "extra", None), conn_id)
            kind, parts = _from_official(conn_type, conn.host, conn.login, conn.password, extra, conn_id)
            return cls.from_fields(kind, conn_id=conn_id, **parts)
        try:
            kind = ServiceKind(conn_type)
        except ValueError:
            raise ConnectionConfigError(
                f"connection type {conn_type!r} is neither one of this provider's ("
                + ", ".join(k.value for k in ServiceKind)
                + ") nor an official Azure one it reads ("
                + ", ".join(OFFICIAL_CONN_TYPES)
                + ")",
                conn_id=conn_id,
                field="conn_type",
            ) from None
        extra = _parse_extra(getattr(conn, "extra", None), conn_id)
        return cls.from_fields(
            kind,
            conn_id=conn_id,
            host=conn.host,
            login=conn.login,
            password=conn.password,
            extra=extra,
        )

    @classmethod
    def from_fields(
        cls,
        kind: ServiceKind | str,
        *,
        conn_id: str | None = None,
        host: str | None = None,
        login: str | None = None,
        password: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> ServiceSettings:
        """Build settings from a connection's parts; ``extra`` keys as in the connection form."""
        kind = ServiceKind(kind)
        x = _Extra(dict(extra or {}), kind, conn_id)
        common: dict[str, Any] = {name: x.get(name) for name in _IDENTITY_EXTRAS}
        common["cloud"] = cloud = x.cloud()
        if cloud not in (None, AzureCloud.PUBLIC) and not common["authority_host"]:
            common["authority_host"] = ENDPOINTS[cloud].active_directory
        parse = _PARSERS[kind]
        settings = parse(x, conn_id=conn_id, host=host, login=login, password=password, common=common)
        settings._validate(allow_http=x.flag("allow_http"))
        return settings

    # ------------------------------------------------------------------------------- credentials
    @property
    def token_scope(self) -> str | None:
        """The Entra ID scope a bearer token for this service needs, in the connection's cloud
        (`azure_cloud`): Batch and Storage the cloud's (`CloudEndpoints`); Resource Manager the cloud's
        when the ARM endpoint is in the cloud's DNS zone, else ``<arm_endpoint>/.default`` (a custom ARM
        endpoint, such as an emulator's, is its own audience); Durable the ``app_auth_scope`` extra
        (the function app's own registration, the same in every cloud)."""
        if self.kind is ServiceKind.DURABLE:
            return self.app_auth_scope
        cloud = ENDPOINTS[self.azure_cloud]
        if self.kind is ServiceKind.BATCH:
            return cloud.batch_scope
        if self.kind is ServiceKind.BLOB:
            return cloud.storage_scope
        if cloud_of_url(self.endpoint) is None:
            return f"{self.endpoint.rstrip('/')}/.default"
        return cloud.arm_scope

    @property
    def token_scopes(self) -> list[str]:
        """``[token_scope]`` for a connection that signs in with Entra ID, else empty (shared key, SAS,
        function key): what the SDK clients are given as their credential scopes."""
        scope = self.token_scope
        return [scope] if scope and self.uses_entra else []

    @property
    def azure_cloud(self) -> AzureCloud:
        """The cloud this connection talks to: the ``cloud`` extra, else the cloud of the endpoint's
        (then the queue endpoint's, then the authority's) DNS zone, else the public cloud (emulators
        on loopback, custom domains). Portal links open this cloud's portal."""
        return decide_cloud(self.cloud, self._cloud_urls())

    def _cloud_urls(self) -> dict[str, str | None]:
        return {
            _ENDPOINT_FIELD[self.kind]: self.endpoint,
            "queue_url": self.queue_endpoint,
            "authority_host": self.authority_host,
        }

    @property
    def queue_url(self) -> str:
        """The account's Storage queue endpoint: extra ``queue_url``, a connection string's
        ``QueueEndpoint``, or the Blob endpoint with ``.blob.`` made ``.queue.``."""
        if self.queue_endpoint:
            return self.queue_endpoint.rstrip("/")
        url = urlsplit(self.endpoint)
        host = url.hostname or ""
        if ".blob." in host:
            return self.endpoint.replace(".blob.", ".queue.", 1).rstrip("/")
        raise ConnectionConfigError(
            f"cannot tell the queue endpoint from {self.endpoint!r}; set the extra queue_url "
            "(e.g. https://<account>.queue.core.windows.net)",
            conn_id=self.conn_id,
            field="queue_url",
        )

    @property
    def uses_entra(self) -> bool:
        return self.auth_mode in ENTRA_MODES or (
            self.kind is ServiceKind.DURABLE and self.app_auth_scope is not None
        )

    def credential(self) -> Any:
        """The sync SDK credential: a named key, a SAS, a token credential, or None (key in URL/query)."""
        return self._build_credential(aio=False)

    def async_credential(self) -> Any:
        """The async counterpart of `credential` (``azure.identity.aio`` for Entra ID)."""
        return self._build_credential(aio=True)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for SDK clients: TLS trust for a private CA bundle."""
        return {"connection_verify": self.ca_bundle} if self.ca_bundle else {}

    def redacted(self) -> dict[str, Any]:
        """A loggable view: every secret replaced by ``***``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = "***" if (value is not None and not f.repr) else value
        return out

    def _build_credential(self, *, aio: bool) -> Any:
        mode = self.auth_mode
        if self.kind is ServiceKind.DURABLE and mode is AuthMode.FUNCTION_KEY:
            if self.app_auth_scope is None:
                return None
            mode = AuthMode.DEFAULT if not self.client_id else AuthMode.MANAGED_IDENTITY
        if mode is AuthMode.SHARED_KEY or (mode is AuthMode.CONNECTION_STRING and self.account_key):
            from azure.core.credentials import AzureNamedKeyCredential

            return AzureNamedKeyCredential(self.account_name or "", self.account_key or "")
        if mode is AuthMode.SAS or mode is AuthMode.CONNECTION_STRING:
            from azure.core.credentials import AzureSasCredential

            return AzureSasCredential(self.sas_token or "")
        if mode is AuthMode.TOKEN:
            return (AsyncStaticTokenCredential if aio else StaticTokenCredential)(self.token or "")
        module = __import__("azure.identity.aio" if aio else "azure.identity", fromlist=["_"])
        class_name, kwargs = _ENTRA_FACTORIES[mode](self)
        if self.authority_host and mode is not AuthMode.MANAGED_IDENTITY:
            kwargs["authority"] = self.authority_host
        return getattr(module, class_name)(**kwargs)

    # -------------------------------------------------------------------------------- validation
    def _fail(self, message: str, field: str) -> ConnectionConfigError:
        return ConnectionConfigError(message, conn_id=self.conn_id, field=field)

    def _validate(self, *, allow_http: bool) -> None:
        if self.auth_mode not in ALLOWED_MODES[self.kind]:
            allowed = ", ".join(sorted(m.value for m in ALLOWED_MODES[self.kind]))
            raise self._fail(
                f"auth mode {self.auth_mode.value!r} does not apply to {self.kind.value}; use one of: {allowed}",
                "auth_mode",
            )
        url = urlsplit(self.endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise self._fail(
                f"{self.endpoint!r} is not an http(s) URL; give the full endpoint, e.g. https://name.example.net",
                _ENDPOINT_FIELD[self.kind],
            )
        if url.scheme == "http" and not allow_http and not _is_loopback(url.hostname):
            raise self._fail(
                f"plain http to {url.hostname!r} would send credentials unencrypted; use https "
                "(http is accepted only for loopback emulators, or set allow_http: true in the extra)",
                _ENDPOINT_FIELD[self.kind],
            )
        self._validate_cloud()
        if self.auth_mode in (AuthMode.SHARED_KEY, AuthMode.CONNECTION_STRING) and self.account_key:
            if not self.account_name:
                raise self._fail("a shared key needs the account name (the Login field)", "login")
            try:
                base64.b64decode(self.account_key, validate=True)
            except (binascii.Error, ValueError):
                raise self._fail(
                    "the account key is not valid base64; paste the key exactly as the portal shows it",
                    "password",
                ) from None
        if self.auth_mode is AuthMode.SHARED_KEY and not self.account_key:
            raise self._fail("shared key auth needs the account key (the Password field)", "password")
        if self.auth_mode is AuthMode.SAS and not self.sas_token:
            raise self._fail("SAS auth needs a SAS token", "sas_token")
        if self.sas_token is not None and "sig=" not in self.sas_token:
            raise self._fail("the SAS token has no signature (sig=...); copy the whole token", "sas_token")
        if self.auth_mode is AuthMode.SERVICE_PRINCIPAL:
            for name in ("tenant_id", "client_id"):
                if not getattr(self, name):
                    raise self._fail(f"a service principal needs {name}", name)
            if bool(self.client_secret) == bool(self.certificate_path):
                raise self._fail(
                    "give exactly one of client_secret and certificate_path for a service principal",
                    "client_secret",
                )
        if self.auth_mode is AuthMode.WORKLOAD_IDENTITY:
            for name in ("tenant_id", "client_id"):
                if not getattr(self, name):
                    raise self._fail(f"workload identity needs {name}", name)
            token_file = self.federated_token_file or os.environ.get("AZURE_FEDERATED_TOKEN_FILE")
            if not token_file:
                raise self._fail(
                    "workload identity needs a federated token file (or $AZURE_FEDERATED_TOKEN_FILE)",
                    "federated_token_file",
                )
            if not Path(token_file).is_file():
                raise self._fail(f"the file {token_file!r} does not exist", "federated_token_file")
        if self.auth_mode is AuthMode.TOKEN and not self.token:
            raise self._fail("token auth needs the bearer token", "token")
        for name in ("certificate_path", "ca_bundle"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise self._fail(f"the file {path!r} does not exist; give a readable path", name)
        for name in ("tenant_id", "client_id"):
            value = getattr(self, name)
            if value and not _GUID.match(value) and not (name == "tenant_id" and "." in value):
                raise self._fail(f"{value!r} is not a GUID; copy it from the Entra ID app overview", name)
        if self.subscription_id and not _GUID.match(self.subscription_id):
            raise self._fail(f"{self.subscription_id!r} is not a subscription GUID", "subscription_id")
        if self.kind is ServiceKind.ACI:
            if not self.subscription_id:
                raise self._fail("Container Instances needs the subscription id", "subscription_id")
            if not _GUID.match(self.subscription_id):
                raise self._fail(f"{self.subscription_id!r} is not a subscription GUID", "subscription_id")
            if not self.resource_group:
                raise self._fail("Container Instances needs the resource group", "resource_group")
        if self.kind is ServiceKind.DURABLE and not self.function_key and not self.app_auth_scope:
            raise self._fail(
                "the Durable HTTP API needs the system key (durabletask_extension) or a function key; "
                "or set app_auth_scope for App Service authentication",
                "function_key",
            )

    def _validate_cloud(self) -> None:
        """The ``cloud`` extra and the DNS zones of the connection's URLs all name one cloud. The
        error names hosts only: a URL's query may hold a key (``?code=``)."""
        urls = self._cloud_urls()
        said = [(name, f"{name} host {url_host(urls[name])!r} is in {cloud}", cloud)
                for name, cloud in cloud_signals(urls)]  # fmt: skip
        if self.cloud is not None:
            said.insert(0, ("cloud", f"cloud is {self.cloud}", self.cloud))
        for name, text, cloud in said[1:]:
            if cloud is not said[0][2]:
                raise self._fail(
                    f"{said[0][1]} but {text}; a connection talks to one Azure cloud: correct one of "
                    "them (cloud can be left out: it is decided from the endpoints)",
                    name,
                )


_ENDPOINT_FIELD = {
    ServiceKind.BATCH: "account_url",
    ServiceKind.BLOB: "account_url",
    ServiceKind.ACI: "arm_endpoint",
    ServiceKind.DURABLE: "function_app_url",
}

# ------------------------------------------------------------------------------------- helpers


def _parse_extra(raw: Any, conn_id: str | None) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw)
    except (TypeError, ValueError) as err:
        raise ConnectionConfigError(
            f"the extra is not valid JSON ({err.__class__.__name__} at position "
            f'{getattr(err, "pos", "?")}); write it as a JSON object, e.g. {{"account_url": "https://..."}}',
            conn_id=conn_id,
            field="extra",
        ) from None
    if not isinstance(value, dict):
        raise ConnectionConfigError(
            f"the extra must be a JSON object, not {type(value).__name__}", conn_id=conn_id, field="extra"
        )
    return value


class _Extra:
    """Reads extra fields, accepting both plain keys and the UI's ``extra__<type>__<name>`` keys."""

    def __init__(self, values: dict[str, Any], kind: ServiceKind, conn_id: str | None) -> None:
        prefix = f"extra__{kind.value}__"
        self.values = {k.removeprefix(prefix): v for k, v in values.items()}
        self.kind = kind
        self.conn_id = conn_id
        known = _SERVICE_EXTRAS[kind] | _COMMON_EXTRAS
        for key in self.values:
            if key in known:
                continue
            import difflib  # lazy: only needed for an unknown extra

            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8)
            hint = f"did you mean {close[0]!r}?" if close else "known fields: " + ", ".join(sorted(known))
            raise ConnectionConfigError(
                f"unknown extra field {key!r} for a {kind.value} connection; {hint}",
                conn_id=conn_id,
                field=key,
            )

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ConnectionConfigError(
                f"expected a string, got {type(value).__name__}", conn_id=self.conn_id, field=name
            )
        return value.strip()

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, bool) or value is None:
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConnectionConfigError("expected true or false", conn_id=self.conn_id, field=name)

    def cloud(self) -> AzureCloud | None:
        raw = self.get("cloud")
        if raw is None:
            return None
        try:
            return parse_cloud(raw)
        except ValueError as err:
            raise ConnectionConfigError(str(err), conn_id=self.conn_id, field="cloud") from None

    def auth_mode(self) -> AuthMode | None:
        raw = self.get("auth_mode")
        if raw is None:
            return None
        try:
            return AuthMode(raw.lower())
        except ValueError:
            raise ConnectionConfigError(
                f"unknown auth mode {raw!r}; use one of: " + ", ".join(m.value for m in AuthMode),
                conn_id=self.conn_id,
                field="auth_mode",
            ) from None


def _entra_mode(common: Mapping[str, Any]) -> AuthMode:
    if common.get("token"):
        return AuthMode.TOKEN
    if common.get("client_secret") or common.get("certificate_path"):
        return AuthMode.SERVICE_PRINCIPAL
    if common.get("federated_token_file"):
        return AuthMode.WORKLOAD_IDENTITY
    return AuthMode.DEFAULT


def _no_silent_default(conn_id: str | None, x: _Extra, login: str | None, mode: AuthMode) -> None:
    """A Login (account name) with no key and no chosen auth mode is a shared key with its Password
    missing, not a wish for DefaultAzureCredential: say so instead of failing later in azure-identity."""
    if login and mode is AuthMode.DEFAULT and x.auth_mode() is None:
        raise ConnectionConfigError(
            "the Login (account name) is set but the Password (account key) is empty: give the key for "
            "shared-key auth, or set auth_mode (e.g. 'default' or 'managed_identity') for Entra ID",
            conn_id=conn_id,
            field="password",
        )


def _no_conflict(conn_id: str | None, given: Mapping[str, Any], what: str) -> None:
    present = [name for name, value in given.items() if value]
    if len(present) > 1:
        raise ConnectionConfigError(
            f"{' and '.join(present)} are both given; {what}", conn_id=conn_id, field=present[1]
        )


def _parse_connection_string(value: str, conn_id: str | None) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in value.strip().strip(";").split(";"):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        if not sep:
            raise ConnectionConfigError(
                "the connection string is malformed: every part must be Key=Value, separated by ';'",
                conn_id=conn_id,
                field="connection_string",
            )
        parts[key.strip().lower()] = val.strip()
    endpoint = parts.get("blobendpoint")
    if not endpoint and parts.get("accountname"):
        protocol = parts.get("defaultendpointsprotocol", "https")
        endpoint = (
            f"{protocol}://{parts['accountname']}.blob.{parts.get('endpointsuffix', 'core.windows.net')}"
        )
    if not endpoint:
        raise ConnectionConfigError(
            "the connection string names neither AccountName nor BlobEndpoint; copy it whole from the portal",
            conn_id=conn_id,
            field="connection_string",
        )
    name = parts.get("accountname") or urlsplit(endpoint).path.strip("/") or None
    out = {"endpoint": endpoint}
    if name:
        out["account_name"] = name
    if parts.get("queueendpoint"):
        out["queue_endpoint"] = parts["queueendpoint"]
    if "accountkey" in parts:
        out["account_key"] = parts["accountkey"]
    if "sharedaccesssignature" in parts:
        out["sas_token"] = parts["sharedaccesssignature"]
    if "account_key" not in out and "sas_token" not in out:
        raise ConnectionConfigError(
            "the connection string has neither AccountKey nor SharedAccessSignature",
            conn_id=conn_id,
            field="connection_string",
        )
    return out


def _required(value: str | None, conn_id: str | None, field: str, what: str) -> str:
    if not value:
        raise ConnectionConfigError(what, conn_id=conn_id, field=field)
    return value.rstrip("/")


_Parser = Callable[..., ServiceSettings]


def _parse_batch(x: _Extra, *, conn_id: str | None, host: str | None, login: str | None,
                 password: str | None, common: dict[str, Any]) -> ServiceSettings:  # fmt: skip
    endpoint = _required(
        x.get("account_url") or host, conn_id, "account_url",
        "the Batch account URL is missing; set Host (or account_url) to https://<account>.<region>.batch.azure.com",
    )  # fmt: skip
    key = password or x.get("account_key")
    mode = x.auth_mode() or (AuthMode.SHARED_KEY if key else _entra_mode(common))
    _no_silent_default(conn_id, x, login, mode)
    return ServiceSettings(
        kind=ServiceKind.BATCH, endpoint=endpoint, auth_mode=mode, conn_id=conn_id,
        account_name=login or x.get("account_name"), account_key=key,
        subscription_id=x.get("subscription_id"), resource_group=x.get("resource_group"), **common,
    )  # fmt: skip


def _parse_blob(x: _Extra, *, conn_id: str | None, host: str | None, login: str | None,
                password: str | None, common: dict[str, Any]) -> ServiceSettings:  # fmt: skip
    conn_str = x.get("connection_string")
    key = password or x.get("account_key")
    sas = x.get("sas_token")
    _no_conflict(conn_id, {"account_key": key, "sas_token": sas},
                 "choose one: a shared key or a SAS token")  # fmt: skip
    _no_conflict(conn_id, {"connection_string": conn_str, "account_key/sas_token": key or sas},
                 "a connection string already carries its credential; remove the other")  # fmt: skip
    parsed = _parse_connection_string(conn_str, conn_id) if conn_str else {}
    endpoint = _required(
        parsed.get("endpoint") or x.get("account_url") or host, conn_id, "account_url",
        "the Blob account URL is missing; set Host (or account_url) to https://<account>.blob.core.windows.net, "
        "or give a connection_string",
    )  # fmt: skip
    if sas is not None:
        sas = sas.lstrip("?")
    mode = x.auth_mode() or (
        AuthMode.CONNECTION_STRING if conn_str
        else AuthMode.SAS if sas
        else AuthMode.SHARED_KEY if key
        else _entra_mode(common)
    )  # fmt: skip
    _no_silent_default(conn_id, x, login, mode)
    return ServiceSettings(
        kind=ServiceKind.BLOB, endpoint=endpoint, auth_mode=mode, conn_id=conn_id,
        account_name=parsed.get("account_name") or login or x.get("account_name") or _account_from_url(endpoint),
        account_key=parsed.get("account_key") or key,
        sas_token=parsed.get("sas_token") or sas,
        connection_string=conn_str, queue_endpoint=(x.get("queue_url") or parsed.get("queue_endpoint")),
        **common,
    )  # fmt: skip


def _account_from_url(endpoint: str) -> str | None:
    """``https://acct.blob.core.windows.net`` -> ``acct``; Azurite's ``http://127.0.0.1:p/acct`` -> ``acct``."""
    url = urlsplit(endpoint)
    if url.hostname and not _is_loopback(url.hostname) and "." in url.hostname:
        return url.hostname.split(".")[0]
    return url.path.strip("/").split("/")[0] or None


def _parse_aci(x: _Extra, *, conn_id: str | None, host: str | None, login: str | None,
               password: str | None, common: dict[str, Any]) -> ServiceSettings:  # fmt: skip
    default = ENDPOINTS[common.get("cloud") or AzureCloud.PUBLIC].resource_manager
    endpoint = (x.get("arm_endpoint") or host or default).rstrip("/")
    return ServiceSettings(
        kind=ServiceKind.ACI, endpoint=endpoint, auth_mode=x.auth_mode() or _entra_mode(common),
        conn_id=conn_id, subscription_id=x.get("subscription_id"), resource_group=x.get("resource_group"),
        region=x.get("region"), **common,
    )  # fmt: skip


def _parse_durable(x: _Extra, *, conn_id: str | None, host: str | None, login: str | None,
                   password: str | None, common: dict[str, Any]) -> ServiceSettings:  # fmt: skip
    endpoint = _required(
        x.get("function_app_url") or host, conn_id, "function_app_url",
        "the function app URL is missing; set Host (or function_app_url) to https://<app>.azurewebsites.net",
    )  # fmt: skip
    key = password or x.get("function_key")
    scope = x.get("app_auth_scope")
    mode = x.auth_mode() or (AuthMode.FUNCTION_KEY if key or not scope else _entra_mode(common))
    return ServiceSettings(
        kind=ServiceKind.DURABLE, endpoint=endpoint, auth_mode=mode, conn_id=conn_id,
        function_key=key, task_hub=x.get("task_hub"), storage_connection=x.get("storage_connection"),
        app_auth_scope=scope, subscription_id=x.get("subscription_id"), resource_group=x.get("resource_group"),
        function_app_name=x.get("function_app_name"), **common,
    )  # fmt: skip


# ------------------------------------------------------------- official Microsoft Azure provider

#: Connection types of ``apache-airflow-providers-microsoft-azure`` that this provider reads (never
#: registers), and the service each one addresses.
OFFICIAL_CONN_TYPES: Mapping[str, ServiceKind] = {
    "wasb": ServiceKind.BLOB,
    "azure_batch": ServiceKind.BATCH,
    "azure_container_instances": ServiceKind.ACI,
}


def _official_extra(extra: Mapping[str, Any], conn_type: str) -> dict[str, Any]:
    """Plain keys, the official provider's ``extra__<type>__`` prefixes removed, empty values dropped."""
    prefix = f"extra__{conn_type}__"
    out: dict[str, Any] = {}
    for key, value in extra.items():
        name = key.removeprefix(prefix)
        if value not in (None, "") and (name == key or name not in extra):
            out[name] = value
    return out


def _from_official(
    conn_type: str,
    host: str | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any],
    conn_id: str | None,
) -> tuple[ServiceKind, dict[str, Any]]:
    """Translate a ``wasb`` / ``azure_batch`` / ``azure_container_instances`` connection, with the
    fields the official provider documents, into this provider's fields (then parsed as usual).

    This provider's own extra keys are read too (``ca_bundle``, ``auth_mode``, ``resource_group``...).
    Extras the official hooks pass straight to the SDK client (proxies, ``client_secret_auth_config``,
    ...) have no equivalent here and are ignored.
    """
    x = _official_extra(extra, conn_type)
    kind = OFFICIAL_CONN_TYPES[conn_type]
    # This provider's own extra keys (ca_bundle, auth_mode, resource_group, ...) are read as well.
    ours: dict[str, Any] = {k: v for k, v in x.items() if k in _SERVICE_EXTRAS[kind] | _COMMON_EXTRAS}
    # DefaultAzureCredential hints shared by the three official hooks.
    if x.get("managed_identity_client_id"):
        ours["client_id"] = x["managed_identity_client_id"]
    if x.get("workload_identity_tenant_id"):
        ours["tenant_id"] = x["workload_identity_tenant_id"]
    if kind is ServiceKind.BLOB:
        return kind, _from_wasb(x, ours, host, login, password)
    if kind is ServiceKind.BATCH:
        # Official azure_batch: account_url in the extra; login/password = account name/key, else
        # DefaultAzureCredential.
        ours["account_url"] = x.get("account_url") or host
        return kind, {"login": login, "password": password, "extra": ours}
    # Official azure_container_instances: subscriptionId and tenantId in the extra, login/password =
    # service principal client id/secret; the resource group is an operator argument there, so it
    # comes from a ``resource_group`` extra here.
    for unsupported in ("key_path", "key_json"):
        if x.get(unsupported):
            raise ConnectionConfigError(
                f"{unsupported} (an Azure SDK auth file) is not supported; give tenantId with the client id "
                "as Login and the secret as Password, or use a managed identity",
                conn_id=conn_id,
                field=unsupported,
            )
    # cloud_environment (AzurePublicCloud, AzureChinaCloud, AzureUSGovernment) is this provider's
    # cloud extra, which also gives the ARM endpoint and the authority of the cloud.
    if x.get("cloud_environment"):
        try:
            ours["cloud"] = parse_cloud(str(x["cloud_environment"])).value
        except ValueError as err:
            raise ConnectionConfigError(str(err), conn_id=conn_id, field="cloud_environment") from None
    ours.update(
        subscription_id=x.get("subscriptionId") or x.get("subscription_id"),
        arm_endpoint=x.get("arm_endpoint"),
    )
    if x.get("tenantId") and login and password:
        ours.update(tenant_id=x["tenantId"], client_id=login, client_secret=password)
    return kind, {"extra": ours}


def _from_wasb(
    x: Mapping[str, Any], ours: dict[str, Any], host: str | None, login: str | None, password: str | None
) -> dict[str, Any]:
    """The official ``wasb`` connection, in the order its hook tries the credentials."""
    # The official hook takes the first credential it finds and ignores the rest; so does this.
    others = ("connection_string", "sas_token", "account_key")
    ours = {k: v for k, v in ours.items() if k not in others}
    if x.get("connection_string"):
        return {"extra": {**ours, "connection_string": x["connection_string"]}}
    url = host or (f"https://{login}.blob.{_storage_suffix(ours)}" if login else None)
    if url and "://" not in url:
        url = f"https://{url}"
    ours["account_url"] = url
    if x.get("tenant_id"):  # Entra ID service principal: login = client id, password = secret
        ours.update(tenant_id=x["tenant_id"], client_id=login, client_secret=password)
        return {"extra": ours}
    sas = x.get("sas_token")
    if x.get("shared_access_key"):
        return {"login": login, "password": x["shared_access_key"], "extra": ours}
    if sas:
        if str(sas).startswith("https"):  # a full SAS URL: account URL and token in one
            base, _, query = str(sas).partition("?")
            ours["account_url"] = base.rstrip("/")
            sas = query
        return {"extra": {**ours, "sas_token": sas}}
    key = password or x.get("account_key")
    return {"login": login, "password": key, "extra": ours}


def _storage_suffix(extra: Mapping[str, Any]) -> str:
    """The storage DNS suffix of the cloud a ``wasb`` connection with only an account name talks to:
    its ``cloud`` extra, else its authority's cloud, else the public cloud's ``core.windows.net``."""
    try:
        explicit = parse_cloud(str(extra["cloud"])) if extra.get("cloud") else None
    except ValueError:
        explicit = None  # refused, naming the connection and the field, by the parser that follows
    cloud = decide_cloud(explicit, {"authority_host": str(extra.get("authority_host") or "")})
    return ENDPOINTS[cloud].storage_suffix


_PARSERS: Mapping[ServiceKind, _Parser] = {
    ServiceKind.BATCH: _parse_batch,
    ServiceKind.BLOB: _parse_blob,
    ServiceKind.ACI: _parse_aci,
    ServiceKind.DURABLE: _parse_durable,
}

#: Entra ID credential class names (same in ``azure.identity`` and ``azure.identity.aio``) and kwargs.
_ENTRA_FACTORIES: Mapping[AuthMode, Callable[[ServiceSettings], tuple[str, dict[str, Any]]]] = {
    AuthMode.SERVICE_PRINCIPAL: lambda s: (
        (
            "ClientSecretCredential",
            {"tenant_id": s.tenant_id, "client_id": s.client_id, "client_secret": s.client_secret},
        )
        if s.client_secret
        else (
            "CertificateCredential",
            {
                "tenant_id": s.tenant_id,
                "client_id": s.client_id,
                "certificate_path": s.certificate_path,
                "password": s.certificate_password,
            },
        )
    ),
    AuthMode.MANAGED_IDENTITY: lambda s: ("ManagedIdentityCredential", {"client_id": s.client_id}),
    AuthMode.WORKLOAD_IDENTITY: lambda s: (
        "WorkloadIdentityCredential",
        {
            "tenant_id": s.tenant_id,
            "client_id": s.client_id,
            "token_file_path": s.federated_token_file or os.environ.get("AZURE_FEDERATED_TOKEN_FILE"),
        },
    ),
    AuthMode.DEFAULT: lambda s: (
        "DefaultAzureCredential",
        {"managed_identity_client_id": s.client_id} if s.client_id else {},
    ),
}


class StaticTokenCredential:
    """A bearer token given as is (``token`` auth mode): short-lived tokens, CI, emulators."""

    def __init__(self, token: str, *, lifetime_s: int = 3600) -> None:
        self._token = token
        self._lifetime_s = lifetime_s

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + self._lifetime_s)

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token=***)"


class AsyncStaticTokenCredential(StaticTokenCredential):
    """Async twin of `StaticTokenCredential`."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:  # type: ignore[override]
        return StaticTokenCredential.get_token(self, *scopes, **kwargs)

    async def close(self) -> None:  # type: ignore[override]
        """Nothing to release."""

    async def __aenter__(self) -> AsyncStaticTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def with_overrides(settings: ServiceSettings, **changes: Any) -> ServiceSettings:
    """A copy of ``settings`` with some fields changed (tests, per-call endpoint overrides)."""
    return replace(settings, **changes)


__all__ = [
    "ALLOWED_MODES",
    "OFFICIAL_CONN_TYPES",
    "AsyncStaticTokenCredential",
    "AuthMode",
    "ServiceKind",
    "ServiceSettings",
    "StaticTokenCredential",
    "StrEnum",
    "with_overrides",
]
