"""Replay every published example against the emulators and check status, shape and headers.

The answer must have one of the example's status codes, every field the example shows (recursively)
with the same JSON type, enum values in Azure's casing, and the headers clients read.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance import aci_scenarios, batch_scenarios, durable_scenarios
from tests.conformance.aci_scenarios import AciWorld
from tests.conformance.batch_scenarios import BatchWorld
from tests.conformance.clients import Reply
from tests.conformance.compare import diff, header_diff
from tests.conformance.conftest import examples, load, record
from tests.conformance.durable_scenarios import DurableWorld

pytestmark = pytest.mark.integration

#: Headers Batch clients read, by operation kind (the spec's response headers).
BATCH_ENTITY_HEADERS = {"ETag": "", "Last-Modified": "", "DataServiceId": ""}
BATCH_HEADERS: dict[str, dict[str, str]] = {
    "Pools_CreatePool": BATCH_ENTITY_HEADERS,
    "Pools_ResizePool": BATCH_ENTITY_HEADERS,
    "Pools_StopPoolResize": BATCH_ENTITY_HEADERS,
    "Pools_EnablePoolAutoScale": BATCH_ENTITY_HEADERS,
    "Pools_RemoveNodes": BATCH_ENTITY_HEADERS,
    "Jobs_CreateJob": BATCH_ENTITY_HEADERS,
    "Jobs_UpdateJob": BATCH_ENTITY_HEADERS,
    "Jobs_TerminateJob": BATCH_ENTITY_HEADERS,
    "Tasks_CreateTask": BATCH_ENTITY_HEADERS,
    "Pools_UpdatePool": BATCH_ENTITY_HEADERS,
    "Pools_DisablePoolAutoScale": BATCH_ENTITY_HEADERS,
    "Pools_EvaluatePoolAutoScale": BATCH_ENTITY_HEADERS,
    "Jobs_DisableJob": BATCH_ENTITY_HEADERS,
    "Jobs_EnableJob": BATCH_ENTITY_HEADERS,
    "Jobs_ReplaceJob": BATCH_ENTITY_HEADERS,
    "Tasks_ReplaceTask": BATCH_ENTITY_HEADERS,
    "Tasks_TerminateTask": BATCH_ENTITY_HEADERS,
    "Tasks_ReactivateTask": BATCH_ENTITY_HEADERS,
    "Nodes_EnableNodeScheduling": BATCH_ENTITY_HEADERS,
    "Nodes_DisableNodeScheduling": BATCH_ENTITY_HEADERS,
    "Tasks_GetTask": {"ETag": "", "Last-Modified": ""},
    "Jobs_GetJobTaskCounts": {"ETag": "", "Last-Modified": ""},
    "Pools_GetPool": {"ETag": "", "Last-Modified": ""},
    "Jobs_GetJob": {"ETag": "", "Last-Modified": ""},
    "Pools_PoolExists": {"ETag": "", "Last-Modified": ""},
}
#: Fields Azure sends only for some items (documented as optional in the spec).
BATCH_OPTIONAL = {
    "Pools_ListSupportedImages": ("batchSupportEndOfLife", "capabilities"),
    # present only when another page follows (the emulated job has one node's status to list)
    "Jobs_ListJobPreparationAndReleaseTaskStatus": ("odata.nextLink",),
}
#: Durable fields whose content is the function app's own data (their shape is the app's choice).
DURABLE_USER_DATA = ("input", "output", "customStatus", "Result", "state")
#: Examples that use features the Batch emulator refuses by design (400 ``FeatureNotEmulated``): they count
#: as not matching, and the test checks the refusal.
BATCH_REFUSED = {
    "Pools_CreatePool_ConfidentialDiskEncryptionSet_ForUserSubscriptionAccounts": "attached data disks",
    "Pools_CreatePool_DiskEncryptionSet_ForUserSubscriptionAccounts": "attached data disks",
    "Pools_CreatePool_VirtualMachineConfigurationWithExtensions": "VM extensions",
    "Pools_GetPool_ConfidentialDiskEncryptionSet": "attached data disks",
    "Pools_GetPool_DiskEncryptionSet": "attached data disks",
    "Pools_GetPool_VirtualMachineConfigurationWithExtensions": "VM extensions",
}
#: Examples whose status contradicts their own operation's definition in the same spec (and the status
#: azure-batch accepts): replayed against the operation's status, and counted as not matching.
BATCH_STATUS_ERRATA = {
    "Pools_Update_CustomerManagedKey_ForBatchManagedAccounts": (
        "201",
        "200",
        "Pools_UpdatePool defines 200 only; azure-batch 15.1's update_pool raises on any other status",
    ),
}
#: Examples that use features the ACI emulator refuses by design (400 ``FeatureNotEmulated``, never a
#: success that ignores them): they count as not matching, and the test checks the refusal.
ACI_REFUSED = {
    "ContainerGroupCreateConfidential": "the Confidential SKU (an enforced confidential computing policy and "
    "SEV-SNP attestation) and container security contexts are not emulated",
    "ContainerGroupsCreateOrUpdate": "VNet (networkProfile), DNS config and Log Analytics are not emulated "
    "(its identity, GPU and volumes are)",
}


def secret_leaks(value: Any, path: str = "") -> list[str]:
    """Secrets a container group answer echoes: ``secureValue``, registry passwords, storage and
    workspace keys, secret volume contents (Azure never returns them)."""
    leaks: list[str] = []
    if isinstance(value, list):
        for item in value:
            leaks += secret_leaks(item, f"{path}[]")
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if (
                key in ("secureValue", "storageAccountKey")
                or (key == "password" and "imageRegistryCredentials" in path)
                or (key in ("workspaceKey", "secret") and item)
            ):
                leaks.append(f"secret echoed: {where}")
            else:
                leaks += secret_leaks(item, where)
    return leaks


def _strip(value: Any, names: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v, names) for k, v in value.items() if k not in names}
    if isinstance(value, list):
        return [_strip(v, names) for v in value]
    return value


def _replay(service: str, name: str, run: Any) -> Reply:
    """Run one scenario; a failure to build its prerequisites counts as a non-matching example."""
    try:
        return run()  # type: ignore[no-any-return]
    except Exception as exc:
        record(service, name, False, [f"replay failed: {exc!r}"[:300]])
        raise


def _user_data_blank(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (None if k in DURABLE_USER_DATA else _user_data_blank(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_user_data_blank(v) for v in value]
    return value


def _check(
    service: str, name: str, example: dict[str, Any], reply: Reply, extra_headers: dict[str, str]
) -> None:
    responses = example["responses"]
    status_ok = str(reply.status) in responses
    problems: list[str] = []
    if not status_ok:
        problems.append(f"status {reply.status} (example: {sorted(responses)}); body {reply.body}")
    else:
        expected = responses[str(reply.status)]
        body = expected.get("body")
        headers = dict(expected.get("headers") or {})
        if service == "batch":  # the Batch examples give headers at the top level of a response
            headers.update({k: v for k, v in expected.items() if k != "body"})
            if isinstance(body, str):  # file content, shown as a string in the example
                body = None
        if body is not None:
            problems += diff(body, reply.body)
        problems += header_diff({**headers, **extra_headers}, reply.headers)
    record(service, name, status_ok, problems)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", examples("batch"))
def test_batch_example(batch_world: BatchWorld, name: str) -> None:
    example = load("batch", name)
    reply = _replay("batch", name, lambda: batch_scenarios.SCENARIOS[name](batch_world, example))
    if name in BATCH_REFUSED:
        record("batch", name, False, [f"refused by design: {BATCH_REFUSED[name]} not emulated"])
        assert reply.status == 400 and reply.body["code"] == "FeatureNotEmulated", reply.body
        assert BATCH_REFUSED[name] in reply.body["message"]["value"], reply.body
        return
    errata = BATCH_STATUS_ERRATA.get(name)
    if errata:
        example["responses"] = {errata[1]: example["responses"].pop(errata[0])}
    operation = example["operationId"]
    for status in example["responses"].values():
        if isinstance(status.get("body"), dict):
            status["body"] = _strip(status["body"], BATCH_OPTIONAL.get(name, ()))
    headers = {"request-id": "", **BATCH_HEADERS.get(operation, {})}
    try:
        _check("batch", name, example, reply, headers)
    finally:
        if errata:  # counted as not matching whatever the rest of the answer shows
            record("batch", name, False, [f"the example answers {errata[0]}; {errata[2]}"])


@pytest.mark.parametrize("name", examples("aci"))
def test_aci_example(aci_world: AciWorld, name: str) -> None:
    example = load("aci", name)
    reply = _replay("aci", name, lambda: aci_scenarios.SCENARIOS[name](aci_world, example))
    if name in ACI_REFUSED:
        record("aci", name, False, [f"refused by design: {ACI_REFUSED[name]}"])
        assert reply.status == 400 and reply.body["error"]["code"] == "FeatureNotEmulated", reply.body
        return
    headers = {"x-ms-request-id": ""}
    if reply.status == 201 or (name == "ContainerGroupsDelete" and reply.status == 202):
        headers["Azure-AsyncOperation"] = ""
    leaks = secret_leaks(reply.body)
    if leaks:
        record("aci", name, str(reply.status) in example["responses"], leaks)
        pytest.fail("\n".join(leaks))
    _check("aci", name, example, reply, headers)


@pytest.mark.parametrize("name", examples("durable"))
def test_durable_example(durable_world: DurableWorld, name: str) -> None:
    example = load("durable", name)
    reply = _replay("durable", name, lambda: durable_scenarios.SCENARIOS[name](durable_world, example))
    example["responses"] = _user_data_blank(example["responses"])
    _check("durable", name, example, reply, {})


def test_every_example_has_a_replay() -> None:
    for service, table in (
        ("batch", batch_scenarios.SCENARIOS),
        ("aci", aci_scenarios.SCENARIOS),
        ("durable", durable_scenarios.SCENARIOS),
    ):
        assert set(examples(service)) == set(table), service
