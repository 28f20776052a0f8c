"""Table definitions (SQLAlchemy Core). Changing one needs a new migration in ``migrations/``."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_ts = sa.DateTime(timezone=True)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(128), nullable=False, server_default="default"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("progress", sa.Float, nullable=False, server_default="0"),
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("idempotency_key", sa.String(255)),
    sa.Column("provider", sa.String(64)),
    sa.Column("model", sa.String(255)),
    sa.Column("quote", sa.JSON),
    sa.Column("cost_usd", sa.Float),
    sa.Column("error", sa.JSON),
    sa.Column("output_asset_id", sa.String(64)),
    sa.Column("thumbnail_asset_id", sa.String(64)),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("updated_at", _ts, nullable=False),
    sa.Column("completed_at", _ts),
    # The routing decision: candidates in order and why other models were not used.
    sa.Column("routing", sa.JSON),
    sa.Column("deleted_at", _ts),
    sa.Column("hints", sa.JSON),  # the prompt linter's hints, from admission
    sa.Column("scan", sa.JSON),  # the content scan of the output (types.OutputScan)
    sa.Column("moderation", sa.JSON),  # the admission moderation's verdict (vidgate.safety)
    # A batch job held for the off-peak window is released at this instant (phase scheduled).
    sa.Column("not_before", _ts),
    sa.Column("cached", sa.JSON),  # served from the result cache: from which job, how matched
    sa.UniqueConstraint("tenant", "idempotency_key", name="uq_jobs_tenant_idempotency_key"),
    sa.Index("ix_jobs_tenant_created", "tenant", "created_at"),
    sa.Index("ix_jobs_status", "status"),
    sa.Index("ix_jobs_not_before", "not_before"),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("model", sa.String(255), nullable=False),
    sa.Column("reference", sa.String(128), nullable=False),
    sa.Column("remote_id", sa.String(255)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(32)),
    sa.Column("error", sa.JSON),
    sa.Column("progress", sa.Float, nullable=False, server_default="0"),
    sa.Column("cost_usd", sa.Float),
    # Where cost_usd comes from: billed (the provider said), computed, estimated.
    sa.Column("cost_basis", sa.String(16)),
    # The provider's final word on the charge was not read (a task given up on or cancelled
    # while it may still run): workers poll it again and settle the cost (late successes too).
    sa.Column("charge_open", sa.Boolean, nullable=False, server_default=sa.false()),
    # A create that failed ambiguously where the provider cannot be asked: a task may exist.
    sa.Column("possible_orphan", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("orphan_cost_usd", sa.Float),  # that task's estimated cost, from its quote
    sa.Column("prompt_sent", sa.JSON),  # the rendered prompt and negative this attempt sent
    sa.Column("submitted_at", _ts),
    sa.Column("finished_at", _ts),
    sa.UniqueConstraint("job_id", "number", name="uq_attempts_job_number"),
)

assets = sa.Table(
    "assets",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("key", sa.String(512), nullable=False),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("content_type", sa.String(128), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("media", sa.JSON),
    sa.Column("created_at", _ts, nullable=False),
    # The stored object is gone (the row stays, for the records): when, and why (delete |
    # retention). An object whose key another live row still names is kept.
    sa.Column("deleted_at", _ts),
    sa.Column("deleted_reason", sa.String(16)),
    sa.UniqueConstraint("job_id", "kind", name="uq_assets_job_kind"),
    sa.Index("ix_assets_key", "key"),
)

job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("at", _ts, nullable=False),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("progress", sa.Float, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Index("ix_job_events_job", "job_id", "id"),
)

request_log = sa.Table(
    "request_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(64), index=True),
    sa.Column("attempt_id", sa.String(64)),
    sa.Column("at", _ts, nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("request_id", sa.String(255)),
    sa.Column("error", sa.Text),
)

provider_health = sa.Table(
    "provider_health",
    metadata,
    sa.Column("provider", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # closed | open | half_open
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("opened_at", _ts),
    sa.Column("last_error", sa.Text),
    sa.Column("updated_at", _ts, nullable=False),
)

# The latest account balance each provider reported (read by workers every
# VIDGATE_BALANCE_INTERVAL seconds; vidgate.accounting.balances).
provider_balances = sa.Table(
    "provider_balances",
    metadata,
    sa.Column("provider", sa.String(64), primary_key=True),
    sa.Column("usd", sa.Float),
    sa.Column("credits", sa.Float),
    sa.Column("read_at", _ts, nullable=False),
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("executor_id", sa.String(128), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # alive | stopped | recovered
    sa.Column("started_at", _ts, nullable=False),
    sa.Column("heartbeat_at", _ts, nullable=False),
    sa.Column("recovered_by", sa.String(128)),
)

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("rate_limit", sa.Integer),  # requests per rate_period seconds; None: unlimited
    sa.Column("rate_period", sa.Float, nullable=False, server_default="60"),
    sa.Column("max_concurrent", sa.Integer),  # unfinished jobs at once
    sa.Column("daily_videos", sa.Integer),  # jobs per UTC day
    sa.Column("default_deadline", sa.Float),
    sa.Column("webhook_url", sa.Text),
    sa.Column("webhook_secret", sa.String(128), nullable=False),  # whsec_…, for client webhooks
    sa.Column("uncertain_submit", sa.String(16)),  # fallback | fail; None: VIDGATE_UNCERTAIN_SUBMIT
    # The tenant's own safety policy (JSON text, merged over VIDGATE_SAFETY_POLICY); None: that.
    sa.Column("safety_policy", sa.Text),
    sa.Column("default_priority", sa.String(16)),  # critical | standard | batch; None: settings
    sa.Column("strategies", sa.JSON),  # {priority: strategy}; a priority absent: settings
    sa.Column("cache_similarity", sa.Float),  # cache: "similar" threshold; None: the setting's
    # The tenant's own delivery profile (JSON text, merged over VIDGATE_DELIVERY_PROFILE).
    sa.Column("delivery_profile", sa.Text),
    # Days to keep originals, renditions, quarantined files ({originals_days, …}); None: settings.
    sa.Column("retention", sa.JSON),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("updated_at", _ts, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # the public part: key_…
    sa.Column("tenant", sa.String(128), sa.ForeignKey("tenants.name"), nullable=False),
    sa.Column("hash", sa.String(128), nullable=False),  # sha256 of the secret part, hex
    sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("name", sa.String(255)),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("revoked_at", _ts),
    sa.Column("last_used_at", _ts),
)

# A signed-in dashboard browser: the SHA-256 of its cookie token, the key it signed in with
# (revoking the key ends the session), its CSRF token, and when it ends (migration 0016).
dashboard_sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(64), sa.ForeignKey("api_keys.id"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("expires_at", _ts, nullable=False),
    sa.Column("ended_at", _ts),
    sa.Index("ix_dashboard_sessions_expires", "expires_at"),
)

rate_windows = sa.Table(
    "rate_windows",
    metadata,
    sa.Column("tenant", sa.String(128), primary_key=True),
    sa.Column("window_start", sa.Float, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # msg_…, the webhook-id header
    sa.Column("tenant", sa.String(128), nullable=False),
    sa.Column("job_id", sa.String(64), nullable=False, index=True),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("next_attempt_at", _ts, nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("delivered_at", _ts),
    # The lease of the process sending it now; due again once claimed_until has passed.
    sa.Column("claimed_by", sa.String(128)),
    sa.Column("claimed_until", _ts),
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

#: Secrets every process of one deployment must share (the Luma callback key, the signed-URL
#: key), made once by whichever process needs one first; see ``db/secrets.py``.
shared_secrets = sa.Table(
    "shared_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
    sa.Column("created_at", _ts, nullable=False),
)

#: Budgets (USD) and quotas (videos a day, seconds of output a month) per tenant, and per end
#: user of a tenant (``end_user`` = '' is the tenant-wide row). See ``vidgate.accounting``.
budgets = sa.Table(
    "budgets",
    metadata,
    sa.Column("tenant", sa.String(128), primary_key=True),
    sa.Column("end_user", sa.String(128), primary_key=True, server_default=""),
    sa.Column("daily_usd", sa.Float),
    sa.Column("monthly_usd", sa.Float),
    sa.Column("daily_videos", sa.Integer),
    sa.Column("monthly_seconds", sa.Float),
    # IANA time zone of the tenant's days and months (on the tenant-wide row); None: UTC.
    sa.Column("timezone", sa.String(64)),
    # Alert thresholds in percent of a budget, e.g. [50, 80, 100]; None: the default.
    sa.Column("thresholds", sa.JSON),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("updated_at", _ts, nullable=False),
)

#: Every movement of money, append-only: a reservation at admission, then a settlement (what
#: the attempts really cost) or a release (nothing was charged) when the job ends, and
#: adjustments for charges learned later. ``once`` makes a movement that must happen at most
#: once (a job's reservation, its closing) unique.
ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(128), nullable=False),
    sa.Column("end_user", sa.String(128), nullable=False, server_default=""),
    sa.Column("job_id", sa.String(64), nullable=False),
    sa.Column("attempt_id", sa.String(64)),
    sa.Column("kind", sa.String(16), nullable=False),  # reservation|settlement|release|adjustment
    sa.Column("provider", sa.String(64)),
    sa.Column("model", sa.String(255)),
    sa.Column("amount_usd", sa.Float, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False, server_default="0"),  # output seconds
    sa.Column("basis", sa.String(255)),  # estimated | computed | billed (or how it was reached)
    sa.Column("at", _ts, nullable=False),
    sa.Column("once", sa.String(160), unique=True),
    sa.Index("ix_ledger_tenant_at", "tenant", "at"),
    sa.Index("ix_ledger_job", "job_id", "kind"),
)

#: Alerts already sent: one per budget, period and threshold.
budget_alerts = sa.Table(
    "budget_alerts",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),  # tenant/user/period/start/threshold
    sa.Column("tenant", sa.String(128), nullable=False),
    sa.Column("fired_at", _ts, nullable=False),
)

#: Templates a tenant created through the API: one row per immutable version.
prompt_templates = sa.Table(
    "prompt_templates",
    metadata,
    sa.Column("tenant", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("created_at", _ts, nullable=False),
)

#: Every content-safety decision (vidgate.safety.audit): one row per stage checked.
safety_decisions = sa.Table(
    "safety_decisions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("job_id", sa.String(64)),
    sa.Column("tenant", sa.String(128), nullable=False),
    sa.Column("stage", sa.String(16), nullable=False),  # prompt | input_image | output | provider
    sa.Column("moderator", sa.String(255), nullable=False),  # the sources, joined
    sa.Column("action", sa.String(8), nullable=False),  # block | flag | allow
    sa.Column("categories", sa.JSON, nullable=False),  # the flagged categories
    sa.Column("scores", sa.JSON, nullable=False),  # category -> top score
    sa.Column("policy", sa.JSON, nullable=False),  # the policy snapshot that decided
    sa.Column("detail", sa.Text),
    sa.Column("created_at", _ts, nullable=False),
    sa.Index("ix_safety_decisions_tenant_created", "tenant", "created_at"),
    sa.Index("ix_safety_decisions_job", "job_id"),
)

# Outputs the content scan blocked (one row per attempt): held apart from servable media until
# an admin releases (status "released") or deletes ("deleted") them.
quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("tenant", sa.String(128), nullable=False),
    sa.Column("attempt_id", sa.String(64), nullable=False),
    sa.Column("attempt_number", sa.Integer, nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("model", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # held | released | deleted
    sa.Column("video_key", sa.String(512), nullable=False),
    sa.Column("thumbnail_key", sa.String(512)),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("sha256", sa.String(64)),
    sa.Column("media", sa.JSON),
    sa.Column("scan", sa.JSON, nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("resolved_at", _ts),
    sa.Column("resolved_by", sa.String(128)),
    sa.UniqueConstraint("attempt_id", name="uq_quarantine_attempt"),
    sa.Index("ix_quarantine_status_created", "status", "created_at"),
    sa.Index("ix_quarantine_job", "job_id"),
)

#: The result cache (``vidgate.caching``): one row per admitted job that could be reused, keyed
#: by tenant and the request's normalized key; a row counts only once its job has completed.
result_cache = sa.Table(
    "result_cache",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(128), nullable=False),
    sa.Column("end_user", sa.String(128), nullable=False, server_default=""),
    sa.Column("key", sa.String(64), nullable=False),  # sha256 of the whole normalized request
    sa.Column("rest_key", sa.String(64), nullable=False),  # … of all of it but the prompt
    sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id"), nullable=False, unique=True),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("embedding", sa.LargeBinary),  # float32 vector, made on first "similar" look-up
    sa.Column("embedding_model", sa.String(64)),
    sa.Column("created_at", _ts, nullable=False),
    sa.Index("ix_result_cache_key", "tenant", "key"),
    sa.Index("ix_result_cache_rest", "tenant", "rest_key"),
)
