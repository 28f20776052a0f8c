"""The safety foundation: categories, per-tenant policy, decisions and their audit."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from vidgate._clock import utcnow
from vidgate.db import make_engine, tenants, upgrade
from vidgate.exceptions import InvalidRequest, InvalidSafetyPolicy, TenantNotFound
from vidgate.safety import (
    CATEGORIES,
    Finding,
    SafetyPolicy,
    audit,
    decide,
    default_policy,
    load_policy,
)
from vidgate.safety.policy import store_policy
from vidgate.settings import Settings


@pytest.fixture
def database(backend: str) -> sa.Engine:
    settings = Settings()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    with engine.begin() as conn:
        now = utcnow()
        conn.execute(
            tenants.insert().values(
                name="acme", webhook_secret="whsec_x", created_at=now, updated_at=now
            )
        )
    return engine


def test_the_categories_are_the_contracts() -> None:
    assert CATEGORIES == (
        "sexual", "sexual_minors", "violence", "self_harm", "hate", "harassment", "illicit",
        "weapons",
    )  # fmt: skip


def test_a_policy_round_trips_and_validates() -> None:
    policy = SafetyPolicy.from_json(
        {"actions": {"violence": "flag", "hate": "allow"}, "on_provider_refusal": "fail"}
    )
    assert policy.action("violence") == "flag"
    assert policy.action("sexual") == "block"  # the default
    assert SafetyPolicy.from_json(policy.to_json()) == policy
    for bad in (
        [],
        {"actions": {"nudity": "block"}},
        {"actions": {"violence": "maybe"}},
        {"default": "warn"},
        {"on_output_block": "retry"},
        {"colour": "red"},
        {"actions": ["violence"]},
    ):
        with pytest.raises(InvalidSafetyPolicy) as caught:
            SafetyPolicy.from_json(bad)
        assert caught.value.code == "safety_policy_invalid"
        assert caught.value.http_status == 400


def test_decide_takes_the_strongest_action_over_flagged_findings() -> None:
    policy = SafetyPolicy.from_json({"actions": {"violence": "flag", "hate": "allow"}})
    clean = [Finding("violence", 0.1, False, "rules")]
    assert decide(policy, clean).action == "allow"
    assert decide(policy, clean).categories == ()
    flagged = [Finding("violence", 0.9, True, "openai"), Finding("hate", 0.8, True, "rules")]
    decision = decide(policy, flagged)
    assert (decision.action, decision.categories) == ("flag", ("violence", "hate"))
    blocked = decide(policy, [*flagged, Finding("other", 1.0, True, "rules")])
    assert blocked.action == "block"  # "other" takes the default
    assert blocked.categories == ("violence", "hate", "other")


def test_the_operator_default_comes_from_json_or_a_file(tmp_path: Path) -> None:
    assert default_policy(Settings()).action("weapons") == "block"
    inline = Settings(safety_policy='{"actions": {"weapons": "flag"}}')
    assert default_policy(inline).action("weapons") == "flag"
    assert default_policy(inline).action("sexual") == "block"
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"default": "flag", "on_output_block": "fallback"}))
    from_file = default_policy(Settings(safety_policy=str(path)))
    assert from_file.on_output_block == "fallback"
    assert from_file.action("sexual") == "block"  # the built-in names every category
    with pytest.raises(InvalidSafetyPolicy):
        default_policy(Settings(safety_policy="{not json"))
    with pytest.raises(InvalidSafetyPolicy):
        default_policy(Settings(safety_policy=str(tmp_path / "missing.json")))


def test_a_tenant_policy_is_stored_merged_and_loaded(database: sa.Engine) -> None:
    assert load_policy(database, "acme").action("violence") == "block"
    assert load_policy(database, "nobody").action("violence") == "block"
    store_policy(database, "acme", {"actions": {"violence": "flag"}})
    store_policy(database, "acme", {"actions": {"hate": "allow"}, "on_provider_refusal": "fail"})
    policy = load_policy(database, "acme")
    assert (policy.action("violence"), policy.action("hate")) == ("flag", "allow")
    assert policy.on_provider_refusal == "fail"
    store_policy(database, "acme", {"actions": {"violence": None}})
    assert load_policy(database, "acme").action("violence") == "block"
    with pytest.raises(InvalidSafetyPolicy):
        store_policy(database, "acme", {"actions": {"violence": "sometimes"}})
    assert load_policy(database, "acme").action("hate") == "allow"  # nothing bad was written
    with pytest.raises(TenantNotFound):
        store_policy(database, "nobody", {"default": "flag"})
    store_policy(database, "acme", None)
    assert load_policy(database, "acme") == default_policy(Settings())


def test_every_decision_is_audited_and_queryable(database: sa.Engine) -> None:
    policy = SafetyPolicy.from_json({"actions": {"violence": "flag"}})
    findings = [
        Finding("violence", 0.7, True, "rules", detail="term list violence"),
        Finding("violence", 0.9, True, "openai"),
        Finding("hate", 0.2, False, "openai"),
    ]
    first = audit.record(
        database, tenant="acme", job_id="job_1", stage="prompt",
        decision=decide(policy, findings), policy=policy,
    )  # fmt: skip
    audit.record(
        database, tenant="acme", job_id=None, stage="prompt",
        decision=decide(policy, [Finding("sexual", 1.0, True, "rules")]), policy=policy,
    )  # fmt: skip
    audit.record(
        database, tenant="other", job_id="job_2", stage="provider",
        decision=decide(policy, []), policy=policy, moderator="runway",
    )  # fmt: skip
    rows = audit.query(database, job_id="job_1")
    assert [r.id for r in rows] == [first]
    row = rows[0]
    assert (row.action, row.categories, row.moderator) == ("flag", ("violence",), "openai,rules")
    assert row.scores == {"violence": 0.9, "hate": 0.2}
    assert row.policy["actions"]["violence"] == "flag"
    assert row.detail == "rules: term list violence"
    assert row.to_json()["created_at"]
    assert {r.action for r in audit.query(database, tenant="acme")} == {"flag", "block"}
    assert [r.moderator for r in audit.query(database, stage="provider")] == ["runway"]
    assert [r.tenant for r in audit.query(database, action="allow")] == ["other"]
    assert len(audit.query(database, limit=2)) == 2
    assert audit.query(database, since=utcnow() + timedelta(seconds=5)) == []
    with pytest.raises(InvalidRequest):
        audit.query(database, stage="elsewhere")
    with pytest.raises(InvalidRequest):
        audit.query(database, limit=0)
