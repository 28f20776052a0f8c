"""A tenant's retention policy through the admin API: set, shown, refused when wrong, cleared."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.test_gateway import Server, running_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gateway(
        tmp_path_factory.mktemp("retention-api"), retention_originals_days=30
    ) as server:
        yield server


def test_a_tenant_retention_policy_is_set_shown_checked_and_cleared(gateway: Server) -> None:
    gateway.key("keeps")  # the tenant exists
    with gateway.client(gateway.key("ops", admin=True)) as ops:
        shown = ops.get("/v1/admin/tenants/keeps").json()
        assert shown["retention"] == {
            "originals_days": 30.0,
            "renditions_days": None,
            "quarantine_days": None,
        }
        changed = ops.patch(
            "/v1/admin/tenants/keeps", json={"retention": {"renditions_days": 7, "rate_limit": 1}}
        )
        assert changed.status_code == 400 and changed.json()["error"]["details"] == {
            "field": "retention"
        }
        assert ops.get("/v1/admin/tenants/keeps").json()["rate_limit"] is None, "nothing changed"
        changed = ops.patch(
            "/v1/admin/tenants/keeps",
            json={"retention": {"renditions_days": 7}, "max_concurrent": 3},
        )
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert body["retention"]["renditions_days"] == 7.0 and body["max_concurrent"] == 3
        assert body["retention"]["originals_days"] == 30.0  # the operator's, under the tenant's
        cleared = ops.patch("/v1/admin/tenants/keeps", json={"retention": None}).json()
        assert cleared["retention"]["renditions_days"] is None
