"""Connection parsing: every auth mode, and a table of malformed connections with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_azure_compute.connections import (
    AsyncStaticTokenCredential,
    AuthMode,
    ServiceKind,
    ServiceSettings,
    StaticTokenCredential,
)
from airflow_azure_compute.exceptions import AzureComputeConfigError, ConnectionConfigError

KEY = "c2VjcmV0LWtleS12YWx1ZS0xMjM0NTY3ODkwYWJjZGVm"  # base64
SAS = "sv=2024-01-01&ss=b&sp=rl&se=2030-01-01&sig=SECRETSIGNATURE"
SUB = "00000000-0000-0000-0000-000000000001"
TENANT = "11111111-1111-1111-1111-111111111111"
CLIENT = "22222222-2222-2222-2222-222222222222"
SECRETS = (KEY, "SECRETSIGNATURE", "sp-secret-value", "fn-key-value", "bearer-token-value", "cert-pass-value")


def conn(conn_type: str, extra: Any = None, **parts: Any) -> Connection:
    if extra is not None and not isinstance(extra, str):
        extra = json.dumps(extra)
    return Connection(conn_id="my_conn", conn_type=conn_type, extra=extra, **parts)


# ---------------------------------------------------------------------------------- good cases


def test_batch_shared_key() -> None:
    s = ServiceSettings.from_connection(
        conn(
            "azure_compute_batch", host="https://acct.westeurope.batch.azure.com/", login="acct", password=KEY
        )
    )
    assert (s.kind, s.auth_mode, s.endpoint) == (
        ServiceKind.BATCH, AuthMode.SHARED_KEY, "https://acct.westeurope.batch.azure.com",
    )  # fmt: skip
    from azure.core.credentials import AzureNamedKeyCredential

    cred = s.credential()
    assert isinstance(cred, AzureNamedKeyCredential) and cred.named_key.name == "acct"
    assert s.token_scope == "https://batch.core.windows.net//.default"
    assert KEY not in repr(s)


def test_blob_connection_string_yields_endpoint_and_key() -> None:
    cs = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};EndpointSuffix=core.windows.net"
    s = ServiceSettings.from_connection(conn("azure_compute_blob", {"connection_string": cs}))
    assert s.auth_mode is AuthMode.CONNECTION_STRING
    assert s.endpoint == "https://acct.blob.core.windows.net"
    assert (s.account_name, s.account_key) == ("acct", KEY)


def test_blob_azurite_style_connection_string() -> None:
    cs = f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    s = ServiceSettings.from_connection(conn("azure_compute_blob", {"connection_string": cs}))
    assert s.endpoint == "http://127.0.0.1:10000/devstoreaccount1"
    assert s.account_name == "devstoreaccount1"


def test_blob_sas_token_strips_question_mark() -> None:
    s = ServiceSettings.from_connection(
        conn("azure_compute_blob", {"sas_token": "?" + SAS}, host="https://acct.blob.core.windows.net")
    )
    from azure.core.credentials import AzureSasCredential

    assert s.auth_mode is AuthMode.SAS and s.sas_token == SAS
    assert isinstance(s.credential(), AzureSasCredential)
    assert s.account_name == "acct"


def test_ui_prefixed_extra_keys_are_accepted() -> None:
    s = ServiceSettings.from_connection(
        conn(
            "azure_compute_blob",
            {
                "extra__azure_compute_blob__account_url": "https://a.blob.core.windows.net",
                "extra__azure_compute_blob__sas_token": SAS,
            },
        )
    )
    assert s.endpoint == "https://a.blob.core.windows.net" and s.auth_mode is AuthMode.SAS


@pytest.mark.parametrize("aio", [False, True])
def test_service_principal_secret(aio: bool) -> None:
    s = ServiceSettings.from_connection(
        conn(
            "azure_compute_aci",
            {
                "subscription_id": SUB,
                "resource_group": "rg",
                "tenant_id": TENANT,
                "client_id": CLIENT,
                "client_secret": "sp-secret-value",
            },
        )
    )
    assert s.auth_mode is AuthMode.SERVICE_PRINCIPAL
    cred = s.async_credential() if aio else s.credential()
    assert type(cred).__name__ == "ClientSecretCredential"
    assert type(cred).__module__.startswith("azure.identity.aio" if aio else "azure.identity")
    assert s.token_scope == "https://management.azure.com/.default"


def test_service_principal_certificate(tmp_path: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sp")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))  # fmt: skip
    pem = tmp_path / "sp.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    s = ServiceSettings.from_connection(
        conn(
            "azure_compute_batch",
            {"tenant_id": TENANT, "client_id": CLIENT, "certificate_path": str(pem)},
            host="https://acct.westeurope.batch.azure.com",
        )
    )
    assert type(s.credential()).__name__ == "CertificateCredential"
    assert type(s.async_credential()).__name__ == "CertificateCredential"


def test_managed_identity_workload_identity_and_default(tmp_path: Path) -> None:
    base = {"subscription_id": SUB, "resource_group": "rg"}
    mi = ServiceSettings.from_connection(
        conn("azure_compute_aci", {**base, "auth_mode": "managed_identity", "client_id": CLIENT})
    )
    assert type(mi.credential()).__name__ == "ManagedIdentityCredential"
    token_file = tmp_path / "token"
    token_file.write_text("jwt")
    wi = ServiceSettings.from_connection(conn("azure_compute_aci", {**base, "tenant_id": TENANT, "client_id": CLIENT,
                                                                    "federated_token_file": str(token_file)}))  # fmt: skip
    assert wi.auth_mode is AuthMode.WORKLOAD_IDENTITY
    assert type(wi.async_credential()).__name__ == "WorkloadIdentityCredential"
    default = ServiceSettings.from_connection(conn("azure_compute_aci", base))
    assert default.auth_mode is AuthMode.DEFAULT
    assert type(default.credential()).__name__ == "DefaultAzureCredential"


async def test_token_mode_and_ca_bundle(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    s = ServiceSettings.from_connection(
        conn(
            "azure_compute_aci",
            {
                "subscription_id": SUB,
                "resource_group": "rg",
                "token": "bearer-token-value",
                "arm_endpoint": "https://127.0.0.1:8443",
                "ca_bundle": str(ca),
            },
        )
    )
    assert s.auth_mode is AuthMode.TOKEN and s.endpoint == "https://127.0.0.1:8443"
    assert s.client_kwargs() == {"connection_verify": str(ca)}
    sync = s.credential()
    assert isinstance(sync, StaticTokenCredential) and sync.get_token("x").token == "bearer-token-value"
    aio = s.async_credential()
    assert (
        isinstance(aio, AsyncStaticTokenCredential)
        and (await aio.get_token("x")).token == "bearer-token-value"
    )
    assert "bearer-token-value" not in repr(sync)


def test_durable_function_key() -> None:
    s = ServiceSettings.from_connection(
        conn(
            "azure_compute_durable",
            {"task_hub": "hub"},
            host="https://app.azurewebsites.net",
            password="fn-key-value",
        )
    )
    assert s.auth_mode is AuthMode.FUNCTION_KEY and s.function_key == "fn-key-value"
    assert s.credential() is None and s.task_hub == "hub"
    assert "fn-key-value" not in repr(s) and s.redacted()["function_key"] == "***"


def test_durable_app_service_auth_adds_a_token_credential() -> None:
    s = ServiceSettings.from_connection(
        conn(
            "azure_compute_durable",
            {"app_auth_scope": "api://app/.default", "client_id": CLIENT},
            host="https://app.azurewebsites.net",
            password="fn-key-value",
        )
    )
    assert s.token_scope == "api://app/.default"
    assert type(s.credential()).__name__ == "ManagedIdentityCredential"


def test_loopback_http_is_allowed_and_allow_http_opens_others() -> None:
    assert ServiceSettings.from_connection(
        conn("azure_compute_batch", host="http://127.0.0.1:9000", login="a", password=KEY)
    )
    assert ServiceSettings.from_connection(
        conn("azure_compute_batch", host="http://localhost:9000", login="a", password=KEY)
    )
    s = ServiceSettings.from_connection(
        conn(
            "azure_compute_batch", {"allow_http": True}, host="http://emulator:9000", login="a", password=KEY
        )
    )
    assert s.endpoint == "http://emulator:9000"


# ---------------------------------------------------------------------------- the bad-input table

BAD: list[tuple[str, Connection, str, str]] = [
    # (case, connection, field named in the error, words the message must contain)
    ("unknown connection type", conn("azure_data_lake", host="https://x"), "conn_type", "neither one of"),
    ("batch without URL", conn("azure_compute_batch", login="a", password=KEY), "account_url", "missing"),
    ("blob without URL or connection string", conn("azure_compute_blob", login="a", password=KEY), "account_url", "missing"),
    ("durable without URL", conn("azure_compute_durable", password="fn-key-value"), "function_app_url", "missing"),
    ("endpoint without scheme", conn("azure_compute_batch", host="acct.batch.azure.com", login="a", password=KEY), "account_url", "not an http(s) URL"),
    ("http to a remote host", conn("azure_compute_batch", host="http://acct.batch.azure.com", login="a", password=KEY), "account_url", "unencrypted"),
    ("extra is not JSON", conn("azure_compute_batch", "{not json", host="https://x.y"), "extra", "not valid JSON"),
    ("extra is a list", conn("azure_compute_batch", "[1, 2]", host="https://x.y"), "extra", "JSON object"),
    ("unknown auth mode", conn("azure_compute_batch", {"auth_mode": "magic"}, host="https://x.y"), "auth_mode", "unknown auth mode"),
    ("auth mode not valid for the service", conn("azure_compute_aci", {"auth_mode": "shared_key", "subscription_id": SUB, "resource_group": "rg"}), "auth_mode", "does not apply"),
    ("key without account name", conn("azure_compute_batch", host="https://x.y", password=KEY), "login", "account name"),
    ("key that is not base64", conn("azure_compute_batch", host="https://x.y", login="a", password="not*base64!"), "password", "base64"),
    ("shared key mode without key", conn("azure_compute_batch", {"auth_mode": "shared_key"}, host="https://x.y", login="a"), "password", "account key"),
    ("key and SAS both given", conn("azure_compute_blob", {"sas_token": SAS}, host="https://a.blob.core.windows.net", login="a", password=KEY), "sas_token", "choose one"),
    ("connection string plus a key", conn("azure_compute_blob", {"connection_string": f"AccountName=a;AccountKey={KEY}"}, password=KEY), "account_key/sas_token", "already carries"),
    ("connection string that is not Key=Value", conn("azure_compute_blob", {"connection_string": "garbage"}), "connection_string", "malformed"),
    ("connection string without account", conn("azure_compute_blob", {"connection_string": f"AccountKey={KEY}"}), "connection_string", "neither AccountName"),
    ("connection string without credential", conn("azure_compute_blob", {"connection_string": "AccountName=a;EndpointSuffix=core.windows.net"}), "connection_string", "neither AccountKey"),
    ("SAS without signature", conn("azure_compute_blob", {"sas_token": "sv=2024&sp=r"}, host="https://a.blob.core.windows.net"), "sas_token", "signature"),
    ("service principal without tenant", conn("azure_compute_batch", {"client_id": CLIENT, "client_secret": "sp-secret-value"}, host="https://x.y"), "tenant_id", "needs tenant_id"),
    ("service principal with secret and certificate", conn("azure_compute_batch", {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "sp-secret-value", "certificate_path": "/x.pem", "certificate_password": "cert-pass-value"}, host="https://x.y"), "client_secret", "exactly one"),
    ("service principal with neither", conn("azure_compute_batch", {"auth_mode": "service_principal", "tenant_id": TENANT, "client_id": CLIENT}, host="https://x.y"), "client_secret", "exactly one"),
    ("certificate path that does not exist", conn("azure_compute_batch", {"tenant_id": TENANT, "client_id": CLIENT, "certificate_path": "/nonexistent/sp.pem", "certificate_password": "cert-pass-value"}, host="https://x.y"), "certificate_path", "does not exist"),
    ("CA bundle that does not exist", conn("azure_compute_batch", {"ca_bundle": "/nonexistent/ca.pem"}, host="https://x.y", login="a", password=KEY), "ca_bundle", "does not exist"),
    ("client id that is not a GUID", conn("azure_compute_batch", {"auth_mode": "managed_identity", "client_id": "my-app"}, host="https://x.y"), "client_id", "not a GUID"),
    ("workload identity without token file", conn("azure_compute_aci", {"auth_mode": "workload_identity", "tenant_id": TENANT, "client_id": CLIENT, "subscription_id": SUB, "resource_group": "rg"}), "federated_token_file", "token file"),
    ("token mode without token", conn("azure_compute_aci", {"auth_mode": "token", "subscription_id": SUB, "resource_group": "rg"}), "token", "bearer token"),
    ("ACI without subscription", conn("azure_compute_aci", {"resource_group": "rg"}), "subscription_id", "subscription id"),
    ("ACI subscription not a GUID", conn("azure_compute_aci", {"subscription_id": "my-sub", "resource_group": "rg"}), "subscription_id", "GUID"),
    ("ACI without resource group", conn("azure_compute_aci", {"subscription_id": SUB}), "resource_group", "resource group"),
    ("durable without key or scope", conn("azure_compute_durable", host="https://app.azurewebsites.net"), "function_key", "system key"),
    ("typo in an extra key", conn("azure_compute_batch", {"acount_url": "https://x.y"}, login="a", password=KEY), "acount_url", "did you mean 'account_url'"),
    ("extra value of the wrong type", conn("azure_compute_aci", {"subscription_id": 42, "resource_group": "rg"}), "subscription_id", "expected a string"),
    ("allow_http that is not a boolean", conn("azure_compute_batch", {"allow_http": "perhaps"}, host="http://h.example", login="a", password=KEY), "allow_http", "true or false"),
]  # fmt: skip


def test_the_table_is_large_enough() -> None:
    assert len(BAD) >= 20


@pytest.mark.parametrize(("case", "connection", "field", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_connections_fail_clearly(case: str, connection: Connection, field: str, words: str) -> None:
    with pytest.raises(ConnectionConfigError) as info:
        ServiceSettings.from_connection(connection)
    err = info.value
    message = str(err)
    assert isinstance(err, AzureComputeConfigError)  # fails fast: no Airflow retry
    assert "my_conn" in message, message
    assert field in message, message
    assert words in message, message
    for secret in SECRETS:
        assert secret not in message, (case, message)
