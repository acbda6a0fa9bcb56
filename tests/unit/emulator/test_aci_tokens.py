"""The ACI emulator's bearer tokens: what it issues verifies; nothing else does."""

from __future__ import annotations

import pytest

from airflow_azure_compute.emulator.aci.errors import CloudError
from airflow_azure_compute.emulator.aci.tokens import TokenIssuer


def _code(issuer: TokenIssuer, header: str | None) -> str:
    with pytest.raises(CloudError) as caught:
        issuer.verify(header)
    assert caught.value.status == 401 and "invalid_token" in caught.value.headers.get(
        "WWW-Authenticate", "invalid_token"
    )
    return caught.value.code


def test_issued_tokens_verify_and_others_are_refused_with_arm_codes() -> None:
    issuer = TokenIssuer(audiences=("https://127.0.0.1:1234",))
    assert issuer.verify(f"Bearer {issuer.issue()}")["aud"] == "https://management.azure.com/"
    assert (
        issuer.verify(f"bearer {issuer.issue('https://127.0.0.1:1234')}")["aud"] == "https://127.0.0.1:1234"
    )
    assert _code(issuer, None) == "AuthenticationFailed"
    assert _code(issuer, "Basic abc") == "InvalidAuthenticationToken"
    assert _code(issuer, "Bearer emulator-token") == "InvalidAuthenticationToken"
    assert _code(issuer, f"Bearer {TokenIssuer().issue()}") == "InvalidAuthenticationToken"  # another key
    assert (
        _code(issuer, f"Bearer {issuer.issue('https://vault.azure.net')}")
        == "InvalidAuthenticationTokenAudience"
    )
    assert _code(issuer, f"Bearer {issuer.issue(lifetime_s=-1)}") == "ExpiredAuthenticationToken"


def test_a_configured_static_token_is_accepted_and_only_it() -> None:
    issuer = TokenIssuer(static_tokens=("compose-token",))
    assert issuer.verify("Bearer compose-token")["sub"] == "configured-token"
    assert _code(issuer, "Bearer compose-token2") == "InvalidAuthenticationToken"
