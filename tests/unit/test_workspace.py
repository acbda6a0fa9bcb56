"""The run workspace: deterministic, valid, isolated names."""

from __future__ import annotations

import pytest

from airflow_azure_compute.blob_paths import check_container_name
from airflow_azure_compute.exceptions import AzureComputeConfigError
from airflow_azure_compute.workspace import OUTPUT_SUFFIX, Location, RunWorkspace, locate

RUN_IDS = [
    "scheduled__2026-01-01T00:00:00+00:00",
    "manual__2026-12-02T04:11:52.123456+00:00",
    "backfill__2026-01-02T00:00:00+00:00",
    "a-_b--c__",
]


@pytest.mark.parametrize("run_id", RUN_IDS)
@pytest.mark.parametrize("dag_id", ["count_words", "A" * 250, "x", "Dag.With-Dots_and--hyphens"])
def test_per_run_containers_are_valid_names(dag_id: str, run_id: str) -> None:
    ws = RunWorkspace.for_run(dag_id, run_id)
    check_container_name(ws.container)
    check_container_name(ws.output_container)
    assert ws.output_container == ws.container + OUTPUT_SUFFIX
    assert ws.prefix == "" and ws.owns_containers
    assert ws.containers == [ws.container, ws.output_container]


def test_deterministic_and_distinct_per_run() -> None:
    a = RunWorkspace.for_run("dag", RUN_IDS[0])
    assert a == RunWorkspace.for_run("dag", RUN_IDS[0])
    assert a.container != RunWorkspace.for_run("dag", RUN_IDS[1]).container
    assert a.container != RunWorkspace.for_run("dag2", RUN_IDS[0]).container


def test_named_container_gives_a_per_run_prefix() -> None:
    a = RunWorkspace.for_run("dag", RUN_IDS[0], container="shared-data")
    b = RunWorkspace.for_run("dag", RUN_IDS[1], container="shared-data")
    assert a.container == a.output_container == "shared-data"
    assert a.prefix.startswith("runs/") and a.prefix.endswith("/")
    assert a.prefix != b.prefix and not a.owns_containers
    assert a.containers == ["shared-data"]
    assert a.path("chunks/") == a.prefix + "chunks/"
    assert a.path("out", "x.txt") == a.prefix + "out/x.txt"


def test_bad_named_container_names_the_field() -> None:
    with pytest.raises(AzureComputeConfigError, match=r"^container: container name 'Bad_Name'"):
        RunWorkspace.for_run("dag", "run", container="Bad_Name")


def test_round_trip_through_xcom_form() -> None:
    ws = RunWorkspace.for_run("dag", RUN_IDS[0])
    assert RunWorkspace.from_dict(ws.to_dict()) == ws


class _TI:
    def __init__(self, run_id: str = RUN_IDS[0], map_index: int = -1) -> None:
        self.dag_id, self.run_id, self.map_index = "dag", run_id, map_index


def test_locate_defaults_named_container_and_explicit_place() -> None:
    ctx = {"ti": _TI()}
    ws = RunWorkspace.for_run("dag", RUN_IDS[0])
    assert locate(ctx, None, None, default="chunks/") == Location(ws, ws.container, "chunks/")
    assert locate(ctx, None, None, default="outputs/", outputs=True).container == ws.output_container
    named = locate(ctx, "shared", None, default="chunks/")
    assert named.container == "shared" and named.prefix == named.workspace.prefix + "chunks/"
    assert locate(ctx, "shared", "fixed/p", declared_prefix="fixed/p").prefix == "fixed/p/"
    assert locate(ctx, "shared", "", declared_prefix="").prefix == ""  # a literal "" is the root
    mapped = locate({"ti": _TI(map_index=3)}, None, None, default="chunks/")
    assert mapped.prefix == "chunks/3/"


def test_locate_refuses_an_empty_rendered_template_and_bad_names() -> None:
    ctx = {"ti": _TI()}
    with pytest.raises(AzureComputeConfigError, match=r"^output_prefix: the template '\{\{ params.p \}\}'"):
        locate(ctx, "shared", "", declared_prefix="{{ params.p }}", prefix_field="output_prefix")
    with pytest.raises(AzureComputeConfigError, match=r"^output_container: container name 'x'"):
        locate(ctx, "x", None, container_field="output_container")


def test_the_template_macro_is_the_run_workspace() -> None:
    from airflow_azure_compute.plugins.macros import AzureComputePlugin, workspace

    assert workspace(_TI()) == RunWorkspace.for_run("dag", RUN_IDS[0])
    assert workspace(_TI(), "shared").prefix.startswith("runs/")
    assert AzureComputePlugin.name == "azure_compute" and workspace in AzureComputePlugin.macros
