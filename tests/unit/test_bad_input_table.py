"""A table of bad inputs: each one gets a clear error naming the connection or the field, before any I/O.

Connections, specs, command templates, manifests and fan-out plans, Blob names and paths, split and
merge inputs, ACI and Durable parameters, sensor settings. Remote errors (a wrong key, an unreachable
endpoint, a deleted job, a taken id) are in the integration tests: test_hook_test_connection.py,
test_batch_blocked_work.py and test_retry_reconcile.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_azure_compute.blob_paths import check_blob_path, check_container_name, normalize_prefix
from airflow_azure_compute.connections import ServiceSettings
from airflow_azure_compute.exceptions import AzureComputeConfigError, ConnectionConfigError
from airflow_azure_compute.hooks.aci_groups import ContainerSpec, build_group_body, validate_group_name
from airflow_azure_compute.hooks.durable_api import validate_instance_id
from airflow_azure_compute.merging import make_joiner
from airflow_azure_compute.operators.batch_fanout import build_tasks
from airflow_azure_compute.sensors.batch import BatchJobSensor
from airflow_azure_compute.sharding import SplitInputError, split_bytes, text_decoder, validate_plan
from airflow_azure_compute.specs import JobSpec, PoolSpec, TaskSpec, check_command_template

KEY = "c2VjcmV0LWtleS12YWx1ZS0xMjM0NTY3ODkwYWJjZGVm"
SUB = "00000000-0000-0000-0000-000000000001"
BATCH = {"host": "https://acct.westeurope.batch.azure.com", "login": "acct", "password": KEY}
BLOB = {"host": "https://acct.blob.core.windows.net", "login": "acct", "password": KEY}
ACI = {"extra": {"subscription_id": SUB, "resource_group": "rg", "region": "westeurope"}}
DURABLE = {"host": "https://app.azurewebsites.net", "password": "fn-key"}
POOL = {
    "pool_id": "p",
    "vm_size": "standard_d2s_v5",
    "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
    "node_agent_sku_id": "batch.node.ubuntu 22.04",
}


def conn_case(conn_type: str, base: dict[str, Any], **change: Any) -> Callable[[], Any]:
    parts = {**base, **change}
    extra = parts.pop("extra", None)
    if isinstance(extra, dict):
        extra = json.dumps(extra)

    def parse() -> Any:
        return ServiceSettings.from_connection(
            Connection(conn_id="my_conn", conn_type=conn_type, extra=extra, **parts)
        )

    return parse


def x(**extra: Any) -> dict[str, Any]:
    return {"extra": extra}


CONNECTIONS: list[tuple[str, Callable[[], Any], str]] = [
    ("unknown type", conn_case("azure_batch_typo", BATCH), "conn_type"),
    ("batch: no URL", conn_case("azure_compute_batch", BATCH, host=None), "account_url"),
    (
        "batch: plain http",
        conn_case("azure_compute_batch", BATCH, host="http://acct.batch.azure.com"),
        "account_url",
    ),
    ("batch: login, no key", conn_case("azure_compute_batch", BATCH, password=None), "password"),
    ("batch: key, no login", conn_case("azure_compute_batch", BATCH, login=None), "login"),
    ("batch: key not base64", conn_case("azure_compute_batch", BATCH, password="not base64!"), "password"),
    ("batch: unknown extra", conn_case("azure_compute_batch", BATCH, **x(colour="blue")), "colour"),
    (
        "batch: near-miss extra",
        conn_case("azure_compute_batch", BATCH, **x(acount_url="https://a")),
        "acount_url",
    ),
    ("batch: bad auth mode", conn_case("azure_compute_batch", BATCH, **x(auth_mode="magic")), "auth_mode"),
    ("batch: unknown cloud", conn_case("azure_compute_batch", BATCH, **x(cloud="AzureGermanCloud")), "cloud"),
    (
        "batch: cloud not the account's",
        conn_case("azure_compute_batch", BATCH, **x(cloud="AzureUSGovernment")),
        "account_url",
    ),
    (
        "batch: auth mode of another service",
        conn_case("azure_compute_batch", BATCH, **x(auth_mode="sas")),
        "auth_mode",
    ),
    ("batch: extra not JSON", conn_case("azure_compute_batch", BATCH, extra="{oops"), "extra"),
    ("batch: extra a list", conn_case("azure_compute_batch", BATCH, extra="[1, 2]"), "extra"),
    (
        "batch: tenant not a GUID",
        conn_case(
            "azure_compute_batch", BATCH, password=None, **x(tenant_id="t", client_id=SUB, client_secret="s")
        ),
        "tenant_id",
    ),
    (
        "batch: client not a GUID",
        conn_case(
            "azure_compute_batch", BATCH, password=None, **x(tenant_id=SUB, client_id="c", client_secret="s")
        ),
        "client_id",
    ),
    (
        "batch: missing CA bundle",
        conn_case("azure_compute_batch", BATCH, **x(ca_bundle="/nonexistent/ca.pem")),
        "ca_bundle",
    ),
    (
        "batch: missing certificate",
        conn_case(
            "azure_compute_batch",
            {**BATCH, "password": None, "login": None},
            **x(tenant_id=SUB, client_id=SUB, certificate_path="/nonexistent/c.pem"),
        ),
        "certificate_path",
    ),
    (
        "batch: token mode, no token",
        conn_case("azure_compute_batch", {**BATCH, "password": None, "login": None}, **x(auth_mode="token")),
        "token",
    ),
    (
        "batch: allow_http not a flag",
        conn_case("azure_compute_batch", BATCH, **x(allow_http="maybe")),
        "allow_http",
    ),
    (
        "batch: extra value not a string",
        conn_case("azure_compute_batch", BATCH, **x(account_url=5)),
        "account_url",
    ),
    (
        "batch: shared key mode, no key",
        conn_case("azure_compute_batch", {**BATCH, "password": None}, **x(auth_mode="shared_key")),
        "password",
    ),
    ("blob: no URL", conn_case("azure_compute_blob", BLOB, host=None), "account_url"),
    (
        "blob: plain http",
        conn_case("azure_compute_blob", BLOB, host="http://acct.blob.core.windows.net"),
        "account_url",
    ),
    ("blob: login, no key", conn_case("azure_compute_blob", BLOB, password=None), "password"),
    ("blob: key not base64", conn_case("azure_compute_blob", BLOB, password="###"), "password"),
    ("blob: key and SAS", conn_case("azure_compute_blob", BLOB, **x(sas_token="sv=1&sig=x")), "sas_token"),
    (
        "blob: malformed connection string",
        conn_case("azure_compute_blob", {}, **x(connection_string="AccountName")),
        "connection_string",
    ),
    (
        "blob: connection string and key",
        conn_case(
            "azure_compute_blob", {"password": KEY}, **x(connection_string="AccountName=a;AccountKey=" + KEY)
        ),
        "account_key/sas_token",
    ),
    ("blob: unknown extra", conn_case("azure_compute_blob", BLOB, **x(container="data")), "container"),
    (
        "blob: SAS mode, no SAS",
        conn_case("azure_compute_blob", {**BLOB, "password": None, "login": None}, **x(auth_mode="sas")),
        "sas_token",
    ),
    (
        "blob: workload identity, no token file",
        conn_case(
            "azure_compute_blob",
            {**BLOB, "password": None, "login": None},
            **x(
                auth_mode="workload_identity",
                tenant_id=SUB,
                client_id=SUB,
                federated_token_file="/nonexistent/t",
            ),
        ),
        "federated_token_file",
    ),
    ("aci: no subscription", conn_case("azure_compute_aci", {}, **x(resource_group="rg")), "subscription_id"),
    (
        "aci: subscription not a GUID",
        conn_case("azure_compute_aci", {}, **x(subscription_id="sub", resource_group="rg")),
        "subscription_id",
    ),
    (
        "aci: no resource group",
        conn_case("azure_compute_aci", {}, **x(subscription_id=SUB)),
        "resource_group",
    ),
    (
        "aci: unknown extra",
        conn_case("azure_compute_aci", ACI, **x(subscription_id=SUB, resource_group="rg", colour="x")),
        "colour",
    ),
    (
        "aci: shared key mode",
        conn_case(
            "azure_compute_aci", ACI, **x(subscription_id=SUB, resource_group="rg", auth_mode="shared_key")
        ),
        "auth_mode",
    ),
    ("durable: no URL", conn_case("azure_compute_durable", DURABLE, host=None), "function_app_url"),
    ("durable: unknown extra", conn_case("azure_compute_durable", DURABLE, **x(hub="h")), "hub"),
    (
        "durable: plain http",
        conn_case("azure_compute_durable", DURABLE, host="http://app.azurewebsites.net"),
        "function_app_url",
    ),
]


def field_of(err: AzureComputeConfigError) -> str:
    return str(getattr(err, "field", "") or "")


@pytest.mark.parametrize(("label", "call", "field"), CONNECTIONS, ids=[c[0] for c in CONNECTIONS])
def test_bad_connection(label: str, call: Callable[[], Any], field: str) -> None:
    with pytest.raises(ConnectionConfigError) as info:
        call()
    assert field_of(info.value) == field, str(info.value)
    assert "connection 'my_conn'" in str(info.value)
    assert KEY not in str(info.value) and "fn-key" not in str(info.value)


def fanout(**kwargs: Any) -> Callable[[], Any]:
    class Sas:
        def blob_url(self, container: str, blob: str, permission: str) -> str:
            return f"https://a/{container}/{blob}?sp={permission}"

        def container_url(self, container: str, permission: str) -> str:
            return f"https://a/{container}?sp={permission}"

        def prefix_blob_urls(self, container: str, prefix: str) -> dict[str, str]:
            return {}

    base: dict[str, Any] = {"prefix": "p-", "command_line": "run {item}", "items": ["a"], "sas": Sas()}
    return lambda: build_tasks(**{**base, **kwargs})


def job(**kw: Any) -> Callable[[], Any]:
    return lambda: JobSpec.coerce({"pool_id": "p", **kw})


def task(**kw: Any) -> Callable[[], Any]:
    return lambda: TaskSpec.coerce({"task_id": "t", "command_line": "run", **kw})


def pool(**kw: Any) -> Callable[[], Any]:
    return lambda: PoolSpec.coerce({**POOL, **kw})


def template(text: str) -> Callable[[], Any]:
    return lambda: check_command_template(text, "command_line")


def aci_body(containers: list[Any], **kw: Any) -> Callable[[], Any]:
    return lambda: build_group_body([ContainerSpec.coerce(c) for c in containers], **{"location": "w", **kw})


def sensor(**kw: Any) -> Callable[[], Any]:
    return lambda: BatchJobSensor(task_id="s", **{"job_id": "j", **kw})._check()


def split(data: bytes, mode: str = "lines", **kw: Any) -> Callable[[], Any]:
    return lambda: split_bytes(data, mode, **({"chunk_count": 1} | kw))


def jsonl(*shards: bytes) -> Callable[[], Any]:
    def merge() -> None:
        from airflow_azure_compute.merging import Shard

        joiner = make_joiner("jsonl")
        for i, data in enumerate(shards):
            joiner.start(Shard(i, f"part-{i:05d}.jsonl"))
            joiner.feed(data)
            joiner.end()

    return merge


C = {"name": "w", "image": "python:3.11"}

OTHERS: list[tuple[str, Callable[[], Any], str]] = [
    # job specs
    ("job: bad pool id", job(pool_id="bad id!"), "job.pool_id"),
    ("job: pool id too long", job(pool_id="p" * 65), "job.pool_id"),
    ("job: bad job id", job(job_id="job/1"), "job.job_id"),
    ("job: onAllTasksComplete", job(on_all_tasks_complete="finish"), "job.on_all_tasks_complete"),
    ("job: onTaskFailure", job(on_task_failure="terminate"), "job.on_task_failure"),
    ("job: retries below -1", job(max_task_retries=-2), "job.max_task_retries"),
    ("job: priority too high", job(priority=2000), "job.priority"),
    ("job: priority too low", job(priority=-2000), "job.priority"),
    ("job: release without preparation", job(release_task={"command_line": "x"}), "job.release_task"),
    ("job: unknown field", job(pool="p"), "pool"),
    # task specs
    ("task: bad id", task(task_id="a b"), "task_id"),
    ("task: empty command", task(command_line=""), "command_line"),
    ("task: bad dependency id", task(depends_on=("x y",)), "depends_on"),
    ("task: dependency action", task(failure_dependency_action="skip"), "failure_dependency_action"),
    ("task: job action", task(failure_job_action="explode"), "failure_job_action"),
    # pool specs
    ("pool: bad id", pool(pool_id="p!"), "pool_id"),
    ("pool: no VM size", pool(vm_size=""), "pool.vm_size"),
    ("pool: image not publisher:offer:sku", pool(image="ubuntu"), "pool.image"),
    ("pool: no node agent", pool(node_agent_sku_id=""), "pool.node_agent_sku_id"),
    ("pool: negative nodes", pool(dedicated_nodes=-1), "pool.dedicated_nodes"),
    (
        "pool: nodes and autoscale",
        pool(dedicated_nodes=2, autoscale_formula="$TargetDedicatedNodes=1;"),
        "pool.autoscale_formula",
    ),
    (
        "pool: autoscale interval",
        pool(autoscale_formula="$TargetDedicatedNodes=1;", autoscale_evaluation_minutes=1),
        "pool.autoscale_evaluation_minutes",
    ),
    ("pool: zero slots", pool(task_slots_per_node=0), "pool.task_slots_per_node"),
    ("pool: too many slots", pool(task_slots_per_node=1000), "pool.task_slots_per_node"),
    ("pool: unknown field", pool(nodes=3), "nodes"),
    # command templates
    ("template: {chunk_fil}", template("python app.py {chunk_fil}"), "command_line"),
    ("template: {chunkfile}", template("python app.py {chunkfile}"), "command_line"),
    ("template: {indx}", template("run {indx}"), "command_line"),
    ("template: {Index}", template("run {Index}"), "command_line"),
    ("template: {task_i}", template("run {task_i}"), "command_line"),
    ("template: {taskid}", template("run {taskid}"), "command_line"),
    ("template: {itme}", template("run {itme}"), "command_line"),
    ("template: {chunk_stm}", template("run {chunk_stm}"), "command_line"),
    ("template: {chnk}", template("run {chnk}"), "command_line"),
    ("fanout: misspelt placeholder", fanout(command_line="run {chunk_fil}"), "command_line"),
    (
        "fanout: misspelt placeholder in a manifest",
        fanout(items=None, manifest=[{"command_line": "x {indx}"}]),
        "manifest[0].command_line",
    ),
    # fan-out plans and manifests
    ("fanout: items and manifest", fanout(manifest=[{"command_line": "x"}]), "items"),
    ("fanout: neither items nor manifest", fanout(items=None), "items"),
    ("fanout: empty items", fanout(items=[]), "items"),
    ("fanout: items without command", fanout(command_line=None), "command_line"),
    (
        "fanout: forward dependency",
        fanout(items=None, manifest=[{"command_line": "a", "depends_on": [1]}, {"command_line": "b"}]),
        "manifest",
    ),
    (
        "fanout: unknown dependency",
        fanout(items=None, manifest=[{"command_line": "a", "depends_on": ["nope"]}]),
        "manifest",
    ),
    (
        "fanout: input file without container",
        fanout(items=None, manifest=[{"command_line": "a", "resource_files": ["f"]}]),
        "input_container",
    ),
    ("fanout: no SAS source", fanout(input_container="data", sas=None), "blob_conn_id"),
    ("fanout: shared prefix without container", fanout(common_prefixes=["lib/"]), "common_prefixes"),
    (
        "fanout: empty shared prefix",
        fanout(input_container="data", common_prefixes=["lib/"]),
        "common_prefixes",
    ),
    (
        "fanout: bad dependency action",
        fanout(items=None, manifest=[{"command_line": "a", "failure_dependency_action": "x"}]),
        "failure_dependency_action",
    ),
    # containers and blob paths
    ("container: uppercase", lambda: check_container_name("Data"), "container"),
    ("container: too short", lambda: check_container_name("ab"), "container"),
    ("container: too long", lambda: check_container_name("a" * 64), "container"),
    ("container: double hyphen", lambda: check_container_name("a--b"), "container"),
    ("container: leading hyphen", lambda: check_container_name("-ab"), "container"),
    ("container: underscore", lambda: check_container_name("a_b"), "container"),
    ("container: not a string", lambda: check_container_name(5), "container"),
    ("blob path: ..", lambda: check_blob_path("a/../b", field="blob"), "blob"),
    ("blob path: backslash", lambda: check_blob_path("a\\b", field="blob"), "blob"),
    ("prefix: absolute", lambda: normalize_prefix("/abs/"), "prefix"),
    ("prefix: not a string", lambda: normalize_prefix(5), "prefix"),
    # split inputs (SplitInputError carries the field to name)
    (
        "split: count and size",
        lambda: validate_plan(chunk_count=2, chunk_size=10, total_size=100),
        "chunk_count",
    ),
    (
        "split: neither count nor size",
        lambda: validate_plan(chunk_count=None, chunk_size=None, total_size=100),
        "chunk_count",
    ),
    (
        "split: zero chunks",
        lambda: validate_plan(chunk_count=0, chunk_size=None, total_size=100),
        "chunk_count",
    ),
    (
        "split: zero chunk size",
        lambda: validate_plan(chunk_count=None, chunk_size=0, total_size=100),
        "chunk_size",
    ),
    ("split: empty input", lambda: validate_plan(chunk_count=1, chunk_size=None, total_size=0), "source"),
    (
        "split: more chunks than bytes",
        lambda: validate_plan(chunk_count=10, chunk_size=None, total_size=5),
        "chunk_count",
    ),
    (
        "split: count of a stream",
        lambda: validate_plan(chunk_count=2, chunk_size=None, total_size=None),
        "chunk_count",
    ),
    ("split: unknown encoding", lambda: text_decoder("klingon"), "encoding"),
    ("split: not ASCII-compatible", lambda: text_decoder("utf-16"), "encoding"),
    ("split: bad UTF-8", split(b"ok\n\xff\xfe\n"), "encoding"),
    ("split: more chunks than lines", split(b"a\nb\n", chunk_count=5), "chunk_count"),
    # merge inputs
    ("merge: jsonl shard not JSON", jsonl(b'{"a": 1}\n', b"not json\n"), "shard 'part-00001.jsonl'"),
    ("merge: jsonl truncated record", jsonl(b'{"a": 1}\n{"b": '), "line 2"),
    ("merge: jsonl CSV shard", jsonl(b"a,b\n1,2\n"), "line 1"),
    ("merge: csv header differs", lambda: _csv_merge(b"a,b\n1,2\n", b"x,y\n3,4\n"), "header"),
    # ACI
    ("aci: group name uppercase", lambda: validate_group_name("Group"), "group_name"),
    ("aci: group name too long", lambda: validate_group_name("g" * 64), "group_name"),
    ("aci: no image", aci_body([{"name": "w", "image": ""}]), "containers[].image"),
    ("aci: zero cpu", aci_body([{**C, "cpu": 0}]), "containers[].cpu"),
    ("aci: no containers", aci_body([]), "containers"),
    ("aci: duplicate names", aci_body([C, C]), "containers"),
    ("aci: restart policy", aci_body([C], restart_policy="Sometimes"), "restart_policy"),
    ("aci: os type", aci_body([C], os_type="Plan9"), "os_type"),
    ("aci: no region", aci_body([C], location=None), "location"),
    ("aci: unknown container field", lambda: ContainerSpec.coerce({**C, "gpu": 1}), "containers"),
    # Durable
    ("durable: empty instance id", lambda: validate_instance_id(""), "instance_id"),
    ("durable: instance id with /", lambda: validate_instance_id("a/b"), "instance_id"),
    ("durable: instance id not a string", lambda: validate_instance_id(5), "instance_id"),
    # sensor settings
    ("sensor: bad job id", sensor(job_id="a b"), "job_id"),
    ("sensor: scope", sensor(scope="everything"), "scope"),
    ("sensor: prefix scope without prefix", sensor(scope="prefix"), "task_id_prefix"),
    ("sensor: tolerate above 100", sensor(tolerate_percent=150), "tolerate_percent"),
    ("sensor: failure policy", sensor(failure_policy="ignore"), "failure_policy"),
]


def _csv_merge(*shards: bytes) -> None:
    from airflow_azure_compute.merging import Shard

    joiner = make_joiner("csv")
    for i, data in enumerate(shards):
        joiner.start(Shard(i, f"part-{i:05d}.csv"))
        joiner.feed(data)
        joiner.end()


@pytest.mark.parametrize(("label", "call", "field"), OTHERS, ids=[c[0] for c in OTHERS])
def test_bad_input(label: str, call: Callable[[], Any], field: str) -> None:
    with pytest.raises((AzureComputeConfigError, SplitInputError, ValueError)) as info:
        call()
    err = info.value
    if isinstance(err, AzureComputeConfigError | SplitInputError):
        assert field_of(err) == field or field in str(err), f"{field_of(err)!r}: {err}"  # type: ignore[arg-type]
    else:  # merge joiners raise ValueError; the operator names the field (mode) around it
        assert field in str(err), str(err)


def test_the_table_is_large() -> None:
    assert len(CONNECTIONS) + len(OTHERS) >= 100
