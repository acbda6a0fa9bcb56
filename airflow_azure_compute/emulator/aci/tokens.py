"""Bearer tokens of the ACI emulator: it issues signed JWTs and accepts only those, as ARM does.

A token is an HS256 JWT signed with a key the emulator draws at start. ARM's checks are reproduced:
signature (401 ``InvalidAuthenticationToken``), audience (401 ``InvalidAuthenticationTokenAudience``)
and expiry (401 ``ExpiredAuthenticationToken``), each with ARM's message and ``WWW-Authenticate``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from airflow_azure_compute.emulator.aci.errors import CloudError

#: Audiences ARM accepts (the resource of a token for ``https://management.azure.com/.default``).
ARM_AUDIENCES = (
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
)
DEFAULT_LIFETIME_S = 24 * 3600
TENANT = "00000000-0000-0000-0000-0000000000e1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%m/%d/%Y %H:%M:%S")


class TokenIssuer:
    """Issues and verifies the emulator's bearer tokens.

    :param audiences: audiences accepted besides ARM's (the emulator's own URL, as the provider's
        token scope ``<arm_endpoint>/.default`` names it).
    :param static_tokens: fixed tokens accepted as they are (configured for deployments whose
        clients cannot read the issued token, such as docker compose).
    """

    def __init__(self, audiences: tuple[str, ...] = (), static_tokens: tuple[str, ...] = ()) -> None:
        self._key = secrets.token_bytes(32)
        self.audiences = (*ARM_AUDIENCES, *audiences)
        self.static_tokens = static_tokens

    def issue(self, audience: str = ARM_AUDIENCES[2], lifetime_s: float = DEFAULT_LIFETIME_S) -> str:
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{TENANT}/",
            "iat": now,
            "nbf": now,
            "exp": int(now + lifetime_s),
            "tid": TENANT,
            "oid": str(uuid.uuid4()),
            "sub": "aci-emulator-client",
        }
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims).encode())
        return f"{header}.{payload}.{self._sign(f'{header}.{payload}')}"

    def _sign(self, signed: str) -> str:
        return _b64(hmac.new(self._key, signed.encode(), hashlib.sha256).digest())

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The claims of a valid ``Authorization: Bearer`` header; raises `CloudError` 401."""
        if not authorization:
            raise unauthorized(
                "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized(
                "InvalidAuthenticationToken",
                "Authentication failed. The 'Authorization' header is not a bearer token.",
            )
        if any(hmac.compare_digest(token.strip(), fixed) for fixed in self.static_tokens):
            return {"aud": ARM_AUDIENCES[2], "sub": "configured-token"}
        claims = self._claims(token.strip())
        if claims.get("aud") not in self.audiences:
            allowed = ",".join(f"'{a}'" for a in self.audiences)
            raise unauthorized(
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{claims.get('aud')}'. "
                f"It should exactly match with one of the allowed audiences {allowed}.",
            )
        now = time.time()
        if float(claims.get("exp", 0)) <= now:
            raise unauthorized(
                "ExpiredAuthenticationToken",
                f"The access token expiry UTC time '{_utc(float(claims.get('exp', 0)))}' is earlier than "
                f"current UTC time '{_utc(now)}'.",
            )
        return claims

    def _claims(self, token: str) -> dict[str, Any]:
        parts = token.split(".")
        invalid = unauthorized("InvalidAuthenticationToken", "The access token is invalid.")
        if len(parts) != 3 or not hmac.compare_digest(self._sign(f"{parts[0]}.{parts[1]}"), parts[2]):
            raise invalid
        try:
            claims = json.loads(_unb64(parts[1]))
        except (binascii.Error, ValueError) as exc:
            raise invalid from exc
        if not isinstance(claims, dict):
            raise invalid
        return claims


def unauthorized(code: str, message: str) -> CloudError:
    error = CloudError(401, code, message)
    error.headers = {
        "WWW-Authenticate": (
            f'Bearer authorization_uri="https://login.microsoftonline.com/{TENANT}", '
            f'error="invalid_token", error_description="{message}"'
        )
    }
    return error
