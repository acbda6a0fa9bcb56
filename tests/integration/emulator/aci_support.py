"""Helpers of the ACI emulator integration tests: plain HTTPS calls trusting the emulator's CA."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from typing import Any


def admin(aci: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    """The JSON answer of the ACI admin API at ``{admin_url}{path}`` (error answers too)."""
    return raw(aci, method, aci["admin_url"] + path, body)[1]


def raw(
    aci: dict[str, Any], method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    """A plain HTTPS request trusting the emulator CA: (status, JSON body or None, headers)."""
    context = ssl.create_default_context(cafile=aci["ca_path"])
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None, dict(response.headers)
    except urllib.error.HTTPError as err:
        text = err.read()
        return err.code, json.loads(text) if text else None, dict(err.headers)


class EmulatorCredential:
    """The bearer token the emulator issued (it refuses any other, as ARM does)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)
