"""SharedKey verification, recomputing the string the azure-batch SDK signs (EMULATOR_SPEC A.0)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qs

from airflow_azure_compute.emulator.batch.wire import BatchError

SIGNED_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


def string_to_sign(
    method: str, headers: Mapping[str, str], account: str, raw_path: str, raw_query: str
) -> str:
    """The SharedKey string to sign: verb, standard headers, ``ocp-*`` headers, resource, query."""
    lowered = {k.lower(): v for k, v in headers.items() if v}
    if method not in ("GET", "HEAD"):
        lowered.setdefault("content-length", "0")
    out = method + "\n" + "".join(f"{lowered.get(name, '')}\n" for name in SIGNED_HEADERS)
    for name, value in sorted((k, v) for k, v in lowered.items() if "ocp-" in k):
        out += f"{name}:{value}\n"
    out += f"/{account}{raw_path}"
    query = parse_qs(raw_query)
    for name in sorted(query):
        value = query[name][0]
        if value:
            out += f"\n{name}:{value}"
    return out


def sign(key: str, text: str) -> str:
    digest = hmac.new(base64.b64decode(key), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(
    method: str,
    headers: Mapping[str, str],
    account: str,
    key: str,
    raw_path: str,
    raw_query: str,
) -> None:
    """Raise `BatchError` unless ``Authorization`` is a valid SharedKey for ``account``.

    Missing header: 401 ``MissingRequiredHeader``-style ``AuthenticationFailed``; malformed:
    400 ``InvalidAuthenticationInfo``; wrong account or signature: 403 ``AuthenticationFailed``.
    """
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not auth:
        raise BatchError(
            401,
            "AuthenticationFailed",
            "Server failed to authenticate the request: missing Authorization header.",
        )
    scheme, _, credential = auth.partition(" ")
    name, _, signature = credential.partition(":")
    if scheme != "SharedKey" or not name or not signature:
        raise BatchError(
            400, "InvalidAuthenticationInfo", "The Authorization header is not a SharedKey header."
        )
    if name != account:
        raise BatchError(403, "AuthenticationFailed", f"Unknown account {name!r}.")
    candidates = [string_to_sign(method, headers, account, raw_path, raw_query)]
    if method in ("GET", "HEAD"):  # a transport may add Content-Length: 0 after the SDK signed
        stripped = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        candidates.append(string_to_sign(method, stripped, account, raw_path, raw_query))
    for text in candidates:
        if hmac.compare_digest(sign(key, text), signature):
            return
    raise BatchError(
        403,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
        "correctly including the signature.",
    )
