"""The cutover state contract, run against SQLite and DynamoDB (DynamoDB through moto:
AWS cannot run here): versioned transitions, the audit trail, bounded records."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from onsflux.cutover.state import (
    ComparisonRecord,
    CutoverState,
    CutoverStore,
    DynamoCutoverStore,
    MismatchRecord,
    SqliteCutoverStore,
    StaleState,
    Thresholds,
    whoami,
)
from onsflux.exceptions import ConfigError


@pytest.fixture
def dynamo(monkeypatch: pytest.MonkeyPatch) -> Iterator[CutoverStore]:
    """DynamoDB through moto (AWS cannot run here), the state table's key schema."""
    from moto import mock_aws

    for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        from onsflux.state.dynamodb import DynamoStateStore

        DynamoStateStore("onsflux-state", region="us-east-1").create_table()
        yield DynamoCutoverStore("onsflux-state", region="us-east-1")


@pytest.fixture(params=["sqlite", "dynamodb-moto"])
def store(request: pytest.FixtureRequest, tmp_path) -> CutoverStore:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return SqliteCutoverStore(tmp_path / "s.sqlite", max_comparisons=50, max_mismatches=3)
    return request.getfixturevalue("dynamo")  # type: ignore[no-any-return]


def test_fresh_store_is_blue_and_unconfigured(store: CutoverStore) -> None:
    st = store.get_state()
    assert st.phase == "blue" and st.version == 0
    assert store.audit() == [] and store.comparisons() == [] and store.mismatches() == []


def test_transitions_are_versioned_and_audited(store: CutoverStore) -> None:
    st = store.get_state()
    s1 = store.transition(replace(st, phase="shadow", blue="files", files_path="/data"),
                          expected_version=0, action="shadow", who="os:ana", reason="start")
    assert (s1.phase, s1.version, s1.updated_by) == ("shadow", 1, "os:ana")
    s2 = store.transition(replace(s1, phase="canary", percent=5.0), expected_version=1,
                          action="shift", who="arn:aws:iam::1:role/ops", reason="5%",
                          forced=True, gate={"ok": False, "checks": [{"name": "verify"}]})
    again = store.get_state()
    assert again == s2 and again.files_path == "/data" and again.percent == 5.0
    with pytest.raises(StaleState):  # a second process acting on what it read before
        store.transition(replace(s1, phase="rolled-back"), expected_version=1,
                         action="rollback", who="os:bob", reason="late")
    trail = store.audit()
    assert [(a.action, a.from_phase, a.to_phase) for a in trail] == [
        ("shadow", "blue", "shadow"), ("shift", "shadow", "canary")]
    assert trail[1].who == "arn:aws:iam::1:role/ops" and trail[1].forced
    assert trail[1].gate["checks"][0]["name"] == "verify" and trail[1].percent == 5.0


def test_thresholds_round_trip(store: CutoverStore) -> None:
    th = Thresholds().with_changes(min_comparisons="200", rollback_error_rate=0.2)
    assert th.min_comparisons == 200 and isinstance(th.min_comparisons, int)
    store.transition(CutoverState(phase="shadow", thresholds=th), expected_version=0,
                     action="shadow", who="os:x", reason="")
    assert store.get_state().thresholds == th
    with pytest.raises(ConfigError, match="unknown threshold"):
        th.with_changes(nope=1)
    with pytest.raises(ConfigError, match="must be a number"):
        th.with_changes(min_comparisons="many")


def _cmp(i: int, outcome: str = "match") -> ComparisonRecord:
    return ComparisonRecord(1_700_000_000.0 + i, f"h{i}", outcome, False, "blue", 1.5, 2.5,
                            False, outcome == "error")


def test_comparisons_newest_and_since(store: CutoverStore) -> None:
    store.add_comparisons([_cmp(i) for i in range(10)] + [_cmp(10, "error")])
    got = store.comparisons(limit=3)
    assert [c.spec_hash for c in got] == ["h8", "h9", "h10"]
    assert got[-1].green_error and not got[-1].blue_error and got[-1].blue_ms == 1.5
    assert [c.spec_hash for c in store.comparisons(since=1_700_000_008.0)] == ["h8", "h9", "h10"]


def test_mismatch_records_keep_spec_digests_and_diffs(store: CutoverStore) -> None:
    rec = MismatchRecord(1_700_000_000.0, "abc", {"measurement": "generation_data"}, "value",
                         False, "d1", "d2", 3, 3, {"value": 1, "missing": 0, "extra": 0},
                         [{"kind": "value", "time": "2024-03-01T00:00:00Z", "control": 1.0,
                           "candidate": 2.0}], "")
    store.add_mismatch(rec)
    (got,) = store.mismatches()
    assert got == rec


def test_sqlite_records_are_bounded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = SqliteCutoverStore(tmp_path / "b.sqlite", max_comparisons=50, max_mismatches=3)
    s.add_comparisons([_cmp(i) for i in range(120)])
    kept = s.comparisons()
    assert len(kept) == 50 and kept[-1].spec_hash == "h119"
    for i in range(5):
        s.add_mismatch(MismatchRecord(float(i), f"m{i}", {}, "value", False, None, None, 0, 0,
                                      {}, [], ""))
    assert [m.spec_hash for m in s.mismatches()] == ["m4", "m3", "m2"]


def test_who_is_the_iam_principal_when_sts_answers() -> None:
    """STS through botocore's Stubber (AWS cannot run here), real service model."""
    import boto3
    from botocore.stub import Stubber

    sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="k",
                       aws_secret_access_key="s")
    with Stubber(sts) as stub:
        stub.add_response("get_caller_identity", {
            "UserId": "AIDA", "Account": "123456789012",
            "Arn": "arn:aws:sts::123456789012:assumed-role/ops/ana"})
        assert whoami(sts=sts) == "arn:aws:sts::123456789012:assumed-role/ops/ana"
        stub.add_client_error("get_caller_identity", "ExpiredToken")
        assert whoami(sts=sts).startswith("os:")
