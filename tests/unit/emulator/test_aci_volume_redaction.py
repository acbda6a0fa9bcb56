"""The ACI emulator never returns volume secrets (secret files, Azure Files account keys)."""

from __future__ import annotations

import json

from airflow_azure_compute.emulator.aci.model import redact


def test_volume_secrets_are_not_returned() -> None:
    body = {
        "properties": {
            "containers": [],
            "volumes": [
                {"name": "certs", "secret": {"ca.pem": "c2VjcmV0LWNvbnRlbnQ="}},
                {"name": "share", "azureFile": {"shareName": "s", "storageAccountName": "a",
                                                "storageAccountKey": "account-key-value"}},
                {"name": "scratch", "emptyDir": {}},
            ],
        }
    }  # fmt: skip
    out = json.dumps(redact(body))
    assert "c2VjcmV0LWNvbnRlbnQ=" not in out and "account-key-value" not in out
    volumes = redact(body)["properties"]["volumes"]
    assert volumes[1]["azureFile"] == {"shareName": "s", "storageAccountName": "a"}
    assert volumes[2] == {"name": "scratch", "emptyDir": {}}
    assert body["properties"]["volumes"][0]["secret"]  # the stored body is untouched
