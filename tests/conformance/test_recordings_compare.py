"""The recorded-traffic comparison itself: operations, id mapping, field counting, divergences."""

from __future__ import annotations

from tests.conformance.recordings import (
    Exchange,
    Outcome,
    compare,
    field_paths,
    load,
    recorded_ids,
    sessions,
    summary,
)


def _exchange(status: int = 200, response: object = None, headers: dict[str, str] | None = None) -> Exchange:
    return Exchange("GET", "/pools/p1", {}, None, status, headers or {}, response)


def test_operation_names_ids_as_placeholders() -> None:
    exchange = Exchange("POST", "/jobs/j1/tasks/t1/reactivate", {}, None, 204, {}, None)
    assert exchange.operation == "POST /jobs/{id}/tasks/{id}/reactivate"
    assert _exchange().operation == "GET /pools/{id}"


def test_recorded_ids_are_mapped_everywhere() -> None:
    assert {"batch_job1_", "batch_job2_"} <= recorded_ids("batch", "test_batch_jobs")
    exchanges = load("batch", "test_batch_jobs", {"batch_job1_": "mine-1", "batch_job2_": "mine-2"})
    assert exchanges[0].body["id"] == "mine-1" and exchanges[1].path == "/jobs/mine-1"
    assert {item["id"] for item in exchanges[6].response["value"]} == {"mine-1", "mine-2"}
    assert not any("batch_job" in e.path for e in exchanges)


def test_every_kept_recording_loads() -> None:
    assert sessions("batch")
    for name in sessions("batch"):
        assert load("batch", name, {}), name


def test_field_paths_count_every_occurrence() -> None:
    body = {"a": 1, "b": {"c": "x"}, "d": [{"e": 1}, {"e": 2}]}
    assert list(field_paths(body)) == ["a", "b", "b.c", "d", "d[].e", "d[].e"]


def test_compare_counts_missing_fields_headers_and_error_codes() -> None:
    recorded = _exchange(200, {"id": "p", "policy": {"fill": "Spread"}}, {"ETag": "0x1", "Date": "x"})
    outcome = Outcome("s", 0, recorded.operation, 200, 200)
    compare(recorded, 200, {"request-id": "r"}, {"id": "p", "policy": {}}, outcome)
    assert outcome.problems == ["policy.fill: missing", "header ETag: missing"]
    assert (outcome.fields, outcome.fields_ok) == (3, 2)
    assert outcome.status_ok and not outcome.shape_ok and not outcome.headers_ok

    error = _exchange(404, {"code": "PoolNotFound", "message": {"value": "gone"}})
    outcome = Outcome("s", 1, error.operation, 404, 404)
    compare(error, 404, {}, {"code": "ResourceNotFound", "message": {"value": "?"}}, outcome)
    assert outcome.problems == ["code: 'ResourceNotFound', Azure sends 'PoolNotFound'"]


def test_status_mismatch_and_refusals_count_as_not_matching() -> None:
    recorded = _exchange(200, {"id": "p"})
    wrong = Outcome("s", 0, recorded.operation, 404, 200)
    compare(recorded, 404, {}, None, wrong)
    refused = Outcome("s", 1, recorded.operation, 400, 200, refused="FeatureNotEmulated: x")
    compare(recorded, 400, {}, None, refused)
    figures = summary([wrong, refused])
    counts = [figures[key] for key in ("requests", "status_ok", "fields", "fields_ok")]
    assert counts == [2, 0, 2, 0]
    assert figures["refused"] == ["s#1 GET /pools/{id}: FeatureNotEmulated: x"]
