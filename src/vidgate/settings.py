"""Settings: one documented place, read from ``VIDGATE_*`` environment variables.

Provider API keys are not settings: each provider reads its own conventional variable
(``RUNWAYML_API_SECRET``, ``REPLICATE_API_TOKEN``...), as listed in its catalogue file. The two
webhook secrets that follow a provider's naming (``OPENAI_WEBHOOK_SECRET``,
``REPLICATE_WEBHOOK_SECRET``) are settings under those names.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from vidgate.delivery.profile import DeliveryProfile, parse_profile

from .priority.model import DEFAULT_STRATEGIES, Priority, Strategy, parse_strategies
from .priority.window import BatchWindow

__all__ = ["Settings"]


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("vidgate", appauthor=False))


class Settings(BaseSettings):
    """Every knob vidgate has. Each field is the environment variable ``VIDGATE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="VIDGATE_", extra="ignore", populate_by_name=True)

    home: Path = Field(
        default_factory=_default_home,
        description="where the database, stored media and working files live",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///$VIDGATE_HOME/vidgate.sqlite",
    )
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        default="NORMAL",
        description="SQLite's synchronous pragma (WAL mode): NORMAL keeps the database consistent "
        "after a crash and may lose the last commits on power loss; FULL fsyncs every commit",
    )
    key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="how long the gateway trusts a verified API key without reading it again "
        "(a revoked key stops working within this time); 0 reads the key on every request",
    )
    metrics_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        description="how long /metrics reuses the last hour's provider figures (success ratio, "
        "generation p50/p95) before reading them again; 0 reads them on every scrape",
    )
    storage_dir: Path | None = Field(
        default=None, description="local storage root; default $VIDGATE_HOME/media"
    )
    storage_url: str | None = Field(
        default=None,
        max_length=1024,
        description="where stored media lives when not on local disk: s3://bucket/prefix for "
        "S3-compatible storage shared by every host (needs the s3 extra; credentials from the "
        "AWS chain); unset: the local VIDGATE_STORAGE_DIR",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        max_length=1024,
        description="the S3 API's URL for a server other than AWS (MinIO, Ceph, R2…): it is "
        "then addressed by path; unset: AWS",
    )
    s3_region: str | None = Field(
        default=None, max_length=64, description="the S3 region; unset: the AWS chain's"
    )
    s3_multipart_threshold: int = Field(
        default=64 * 1024 * 1024,
        ge=5 * 1024 * 1024,
        description="files of this many bytes or more go up to S3 as a multipart upload",
    )
    s3_part_size: int = Field(
        default=16 * 1024 * 1024,
        ge=5 * 1024 * 1024,
        le=5 * 1024 * 1024 * 1024,
        description="bytes per part of a multipart upload (one part is in memory at a time)",
    )
    s3_cors_origins: list[str] = Field(
        default_factory=list,
        description="origins whose players may read presigned URLs from the bucket: when set, "
        "`vidgate serve` keeps one CORS rule (id vidgate-playback: GET/HEAD, Range) on the bucket "
        'at start-up, other rules untouched; ["*"] fits players on any origin (a redirect from '
        "the gateway to the bucket sends Origin: null from a page on a third origin); unset: "
        "vidgate leaves the bucket's CORS alone (hls.js and native HLS then need the operator's "
        "own rule)",
    )
    executor_id: str | None = Field(
        default=None,
        description="this process's id for DBOS; a restart with the same id resumes its jobs at "
        "once (default: unique per process; a dead process's jobs are taken over after its lease)",
    )
    poll_interval: float = Field(
        default=2.0, gt=0, description="seconds between status polls of a running provider task"
    )
    poll_max_interval: float = Field(
        default=15.0, gt=0, description="the longest poll interval, reached while a task is queued"
    )
    poll_concurrency: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="status calls a worker makes at once to one provider, for the tasks it polls "
        "one by one (a provider without a list endpoint, or tasks older than the pages read)",
    )
    wake_interval: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="seconds between a worker's one check, for all its waiting jobs at once, "
        "for webhooks, finished attempts and cancels that other processes recorded",
    )
    default_deadline: float = Field(
        default=600.0, gt=0, description="seconds a job may take when the request sets no deadline"
    )
    tenant_deadlines: dict[str, float] = Field(
        default_factory=dict,
        description='per-tenant default deadline in seconds, e.g. {"acme": 300}',
    )
    download_timeout: float = Field(
        default=600.0, gt=0, description="seconds one download of a finished output may take"
    )
    provider_queue_timeout: float = Field(
        default=300.0,
        gt=0,
        description="seconds a task may wait in a provider's queue before it is cancelled and the "
        "job moves to the next provider",
    )
    max_attempts: int = Field(
        default=3, ge=1, description="providers one job may try, the first included"
    )
    fallback_on_moderation: bool = Field(
        default=False, description="try the next provider when one rejects the content"
    )
    uncertain_submit: Literal["fallback", "fail"] = Field(
        default="fallback",
        description="what a create that may have succeeded at a provider that cannot be asked "
        "does next: `fallback` tries a candidate on another provider and records the possible "
        "orphan (with its estimated cost) on the attempt; `fail` ends the job (submit_uncertain). "
        "A tenant's own setting overrides this",
    )
    retry_overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='per-provider retry policy, e.g. {"runway": {"max_attempts": 8}}',
    )
    provider_limits: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description='per-provider queue limits, e.g. {"runway": {"concurrency": 4, '
        '"per_minute": 60}}: tasks in flight at once, and task starts per minute',
    )
    circuit_threshold: int = Field(
        default=5, ge=1, description="consecutive failures that open a provider's circuit"
    )
    circuit_cooldown: float = Field(
        default=60.0, gt=0, description="seconds an open circuit waits before one probe"
    )
    outage_wait: float = Field(
        default=900.0,
        ge=0,
        description="seconds a new job waits, before its first attempt, for a provider to come "
        "back when every provider it could use has its circuit open (0: fail at once); not "
        "counted against the job's deadline",
    )
    heartbeat_interval: float = Field(
        default=5.0, gt=0, description="seconds between a process's heartbeats"
    )
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="a process silent this long is presumed dead and its jobs are taken over",
    )
    queue_poll_interval: float = Field(
        default=1.0, gt=0, description="seconds between checks of the job queue by a worker"
    )
    worker_concurrency: int = Field(
        default=1000,
        ge=1,
        description="jobs one worker has in flight at once, waiting at providers included "
        "(media work is bounded separately by media_workers)",
    )
    tenant_job_share: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="the largest part of a worker's job slots (worker_concurrency) one tenant "
        "may fill, so that one tenant's burst leaves slots for the others; 1 lets one tenant "
        "fill them all",
    )
    tenant_provider_share: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="the largest part of a provider's limits (provider_limits: concurrency "
        "and starts per minute) one tenant may hold; below 1 keeps slots free for other "
        "tenants at all times, at 1 tenants waiting for a provider take turns as slots free",
    )
    media_workers: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="processes one worker runs probe, validation, thumbnails, the content scan "
        "and the delivery set (renditions, HLS, stills) in (default: CPU count - 1, at least 1)",
    )
    scanners: str | None = Field(
        default=None,
        pattern=r"^\s*([A-Za-z_][\w.]*(:[A-Za-z_]\w*)?\s*(,\s*|$))*$",
        description="the content scanners every output video (and input image) goes through, "
        "comma-separated: technical, nudenet, open_nsfw (the `safety` extra), marker (tests), "
        "or package.module:Class; default technical plus the models that are installed; "
        "empty scans nothing",
    )
    scan_frames: int = Field(
        default=8,
        ge=1,
        le=64,
        description="frames spread evenly over a video that the scanners look at, besides the "
        "first, the last and the first frame of each scene",
    )
    delivery_profile: str | None = Field(
        default=None,
        description="what every job delivers (a tenant's own profile is merged over it), JSON: "
        '{"tiers": ["720p", "480p"], "webm": false, "av1": false, "hls": true, "poster": true, '
        '"sprite": true, "preview": true}; default: the browser-safe MP4 at the source size, a '
        "480p tier, HLS, poster, sprite and preview",
    )
    simulated_latency: float = Field(
        default=4.0, ge=0, description="seconds the simulated provider takes to 'generate'"
    )
    http_timeout: float = Field(default=60.0, gt=0, description="seconds per provider HTTP call")
    log_level: str = Field(default="WARNING", description="log level (DEBUG, INFO, WARNING…)")
    allow_retired: str | None = Field(
        default=None,
        description="comma-separated providers or provider:model ids a request may still name "
        "after their retirement",
    )
    catalog_dir: Path | None = Field(
        default=None,
        description="a folder of extra catalogue TOML files; a file for an existing provider "
        "replaces it",
    )
    templates_dir: Path | None = Field(
        default=None,
        description="a folder of the operator's own prompt templates (TOML, one version per "
        "file), beside the built-in ones; a name@version the built-ins have is refused",
    )
    # -- money (issue 11) --
    prices: Path | None = Field(
        default=None,
        description="a TOML or JSON file of per-model price overrides (negotiated rates), "
        "keyed by 'provider:model'; shown with status 'override', source 'operator'",
    )
    default_duration: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="seconds: a request that sets no duration gets the shortest duration the "
        "chosen model offers at or above this",
    )
    cache: bool = Field(
        default=True,
        description="serve a request identical to an earlier completed one (explicit seed, a "
        "model marked deterministic_seed) from its stored video at no cost; a request's "
        "cache: false bypasses it",
    )
    cache_ttl: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="seconds after its job completed that a result may be served from the cache",
    )
    cache_scope: Literal["tenant", "user"] = Field(
        default="tenant",
        description="who shares cached results: the whole tenant, or only the same end user "
        "(the request's user); never across tenants",
    )
    cache_similarity: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description='cache: "similar" reuses a video whose prompt\'s embedding is at least this '
        "similar (cosine); a tenant's own threshold overrides it",
    )
    balance_interval: float = Field(
        default=600.0,
        ge=0,
        description="seconds between reads of provider account balances by a worker "
        "(0: never read)",
    )
    # -- content safety (issue 12 §3) --
    safety_policy: str | None = Field(
        default=None,
        description="the operator's default safety policy: JSON (or the path of a JSON file) "
        'like {"actions": {"violence": "flag"}, "on_provider_refusal": "fail"}, over the '
        "built-in policy that blocks every category; a tenant's own policy is merged over it",
    )
    safety_terms: Path | None = Field(
        default=None,
        description="a file of extra term lists for the local rules moderator (TOML: "
        'category = ["term", …]), added to the built-in conservative list',
    )
    moderation: str = Field(
        default="rules",
        max_length=200,
        description="the moderators that check every prompt at admission, in order, "
        "comma-separated: rules (the local term lists), openai (OpenAI's moderation API, "
        "needs OPENAI_API_KEY); empty: none",
    )
    moderation_timeout: float = Field(
        default=10.0, gt=0, le=120, description="seconds one moderation API call may take"
    )
    moderation_on_error: Literal["closed", "open"] = Field(
        default="closed",
        description="what admission does when a moderator errors or times out: closed refuses "
        "the request (503 moderation_unavailable) when any category the policy blocks is "
        "left unchecked; open admits it and records the failure in the audit",
    )
    # -- priority, strategy and off-peak batches (issue 11 §6) --
    default_priority: Priority = Field(
        default=Priority.STANDARD,
        description="the priority of a request that sets none and whose tenant has no default",
    )
    strategies: Annotated[dict[Priority, Strategy], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_STRATEGIES),
        description="which routing strategy each priority uses unless its tenant says, e.g. "
        "batch=cheapest,critical=reliable (or the same as a JSON object); the default is "
        "critical=reliable, standard=cheapest, batch=cheapest, and a priority left out keeps it",
    )
    figures_window: int = Field(
        default=200,
        ge=1,
        le=100_000,
        description="recent attempts per model the fastest (p50) and reliable strategies weigh",
    )
    figures_ttl: float = Field(
        default=30.0,
        ge=0,
        description="seconds a process reuses the live model figures before reading them again",
    )
    batch_window: str | None = Field(
        default=None,
        description="the daily off-peak window batch jobs wait for, e.g. 22:00-06:00 "
        "(unset: batch jobs run at once)",
    )
    batch_timezone: str = Field(
        default="UTC", description="the IANA time zone VIDGATE_BATCH_WINDOW is in"
    )
    batch_release_interval: float = Field(
        default=30.0,
        gt=0,
        description="seconds between a worker's checks for scheduled batch jobs whose window "
        "has opened",
    )
    batch_release_max: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="scheduled jobs a worker releases per check (the rest at the next check)",
    )

    @field_validator("storage_url")
    @classmethod
    def _storage_url(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("s3://") or len(value) <= len("s3://")):
            raise ValueError("VIDGATE_STORAGE_URL must be s3://bucket or s3://bucket/prefix")
        return value

    @field_validator("strategies", mode="before")
    @classmethod
    def _strategies(cls, value: Any) -> dict[Priority, Strategy]:
        if isinstance(value, str) and value.lstrip().startswith("{"):
            value = json.loads(value)
        return {**DEFAULT_STRATEGIES, **parse_strategies(value)}

    @model_validator(mode="after")
    def _window(self) -> Settings:
        if self.batch_window is not None and self.batch_window.strip():
            BatchWindow.parse(self.batch_window, self.batch_timezone)
        if self.delivery_profile is not None:
            parse_profile(self.delivery_profile, where="VIDGATE_DELIVERY_PROFILE")
        return self

    @property
    def resolved_delivery_profile(self) -> DeliveryProfile:
        """``VIDGATE_DELIVERY_PROFILE`` over the built-in default."""
        return parse_profile(self.delivery_profile, where="VIDGATE_DELIVERY_PROFILE")

    @property
    def resolved_batch_window(self) -> BatchWindow | None:
        """The parsed off-peak window, or None when batch jobs run at once."""
        if self.batch_window is None or not self.batch_window.strip():
            return None
        return BatchWindow.parse(self.batch_window, self.batch_timezone)

    # -- provenance: Content Credentials (C2PA) on every delivered file --
    deployment_name: str | None = Field(
        default=None,
        max_length=200,
        description="this deployment's name as written into every file's Content Credentials "
        "(e.g. `acme-prod`); unset names none",
    )
    c2pa_cert: Path | None = Field(
        default=None,
        description="PEM file of the operator's C2PA signing certificate chain (end-entity "
        "first, then intermediates; not the root); with c2pa_key, delivered files are signed",
    )
    c2pa_key: Path | None = Field(
        default=None,
        description="PEM file of the private key of c2pa_cert (unencrypted PKCS#8; EC P-256/"
        "384/521, RSA or Ed25519); read by the signing process only, never logged",
    )
    c2pa_tsa_url: str | None = Field(
        default=None,
        max_length=2048,
        description="an RFC 3161 time-stamp authority the signer asks to countersign each "
        "manifest (so it stays valid after the certificate expires); unset: no time-stamp",
    )
    c2pa_trust_anchors: Path | None = Field(
        default=None,
        description="PEM file of root certificates `vidgate provenance` trusts; a signer "
        "chaining to one is reported `trusted`, any other valid signature `valid`",
    )
    c2pa_required: bool = Field(
        default=False,
        description="refuse to deliver unsigned files: without c2pa_cert and c2pa_key, "
        "signing fails with a configuration error instead of delivering without credentials",
    )

    # -- where providers are (their simulator twins in tests and demos) --
    simulator_url: str | None = Field(
        default=None,
        description="the provider simulator's address: every adapter without its own base URL "
        "setting talks to its twin there",
    )
    runway_base_url: str | None = Field(default=None, description="Runway's API root")
    luma_base_url: str | None = Field(default=None, description="Luma Dream Machine's API root")
    luma_agents_base_url: str | None = Field(default=None, description="Luma Agents' API root")
    openai_base_url: str | None = Field(default=None, description="OpenAI's API root (…/v1)")
    replicate_base_url: str | None = Field(default=None, description="Replicate's API root")
    fal_queue_url: str | None = Field(default=None, description="fal's queue API root")
    fal_jwks_url: str | None = Field(default=None, description="fal's webhook-key JWKS URL")
    gemini_base_url: str | None = Field(default=None, description="the Gemini API root")
    vertex_base_url: str | None = Field(
        default=None, description="the Vertex AI API root (default: the project's region)"
    )
    # -- provider webhooks --
    webhook_secret: str | None = Field(
        default=None,
        description="the key of the tokens in Luma callback URLs; default: a random key made "
        "once and stored in the database, so every process sharing it verifies every callback",
    )
    openai_webhook_secret: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_WEBHOOK_SECRET"),
        description="OPENAI_WEBHOOK_SECRET: the whsec_ secret of the OpenAI project's webhook",
    )
    replicate_webhook_secret: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REPLICATE_WEBHOOK_SECRET"),
        description="REPLICATE_WEBHOOK_SECRET: the account's whsec_ webhook secret; default: "
        "fetched from Replicate once",
    )
    # -- the dashboard (served by vidgate serve) --
    dashboard: bool = Field(
        default=True, description="serve the web dashboard (sign in with an API key)"
    )
    dashboard_path: str = Field(
        default="/",
        pattern=r"^/([A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*)?$",
        description="the path the dashboard is served under, e.g. `/console` (default: `/`)",
    )
    dashboard_session_ttl: float = Field(
        default=12 * 3600.0,
        gt=0,
        description="seconds a dashboard sign-in lasts (revoking its key ends it at once)",
    )
    dashboard_secure_cookie: bool | None = Field(
        default=None,
        description="mark the session cookie Secure (HTTPS only); default: when "
        "VIDGATE_PUBLIC_URL is https",
    )
    dashboard_refresh: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="seconds between the dashboard's checks for changed jobs (its live list)",
    )
    # -- vidgate simulator --
    simulator_latency: float = Field(
        default=3.0, ge=0, description="seconds a `vidgate simulator` task takes to generate"
    )
    # -- the client of a running gateway (vidgate.Client) --
    api_key: str | None = Field(default=None, description="the gateway key vidgate.Client sends")
    url: str = Field(
        default="http://127.0.0.1:8000", description="the gateway vidgate.Client talks to"
    )
    # -- the gateway (vidgate serve) --
    signing_secret: str | None = Field(
        default=None,
        description="HMAC key for signed content URLs; default: a random key made once and "
        "stored in the database, so every process sharing it signs alike",
    )
    signed_url_ttl: float = Field(default=3600.0, gt=0, description="signed URL lifetime, s")
    content_redirect: bool = Field(
        default=False,
        description="answer /content with a redirect to a signed, CDN-cacheable URL",
    )
    public_url: str | None = Field(
        default=None, description="the gateway's external URL, for links in responses"
    )
    content_delivery: Literal["auto", "redirect", "proxy"] = Field(
        default="auto",
        description="how /content serves a file kept in storage with signed URLs (S3): "
        "`redirect` answers 302 to a presigned URL that expires after VIDGATE_SIGNED_URL_TTL, "
        "`proxy` streams the bytes through the gateway (Range, ETag); `auto` is redirect. "
        "Local files are always served by the gateway",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="origins whose players may fetch content cross-origin, e.g. "
        '["https://app.example.com"], or ["*"] for any (content and signed-file routes only)',
    )
    retention_originals_days: float | None = Field(
        default=None,
        gt=0,
        description="days a completed job's video and thumbnail are kept before the sweeper "
        "deletes them (a tenant's own policy overrides); unset: kept until deleted",
    )
    retention_renditions_days: float | None = Field(
        default=None,
        gt=0,
        description="days derived files (renditions, posters, previews) are kept; unset: as long "
        "as originals",
    )
    retention_quarantine_days: float | None = Field(
        default=None,
        gt=0,
        description="days a quarantined output is held before the sweeper deletes it; unset: "
        "until an admin resolves it",
    )
    retention_interval: float = Field(
        default=3600.0,
        gt=0,
        description="seconds between retention sweeps: every `vidgate serve` queues the sweep "
        "of the current interval, one process runs it (give every process the same value)",
    )
    ssrf_allow: list[str] = Field(
        default_factory=list,
        description="hosts or CIDRs user-supplied URLs may point at despite the SSRF guard",
    )
    max_body_bytes: int = Field(
        default=25 * 1024 * 1024, gt=0, description="the largest request body (uploads included)"
    )
    webhook_retry_base: float = Field(
        default=5.0, gt=0, description="first client-webhook retry delay, s (then doubling)"
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, description="deliveries of one client webhook before it is failed"
    )
    alert_webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        description="the operator's webhook for budget and spend alerts (plain JSON)",
    )
    alert_interval: float = Field(
        default=30.0, gt=0, description="seconds between a worker's checks of budget alerts"
    )
    spend_anomaly_factor: float = Field(
        default=5.0,
        gt=1,
        description="alert when the last hour's spend is this many times the trailing hourly mean",
    )
    spend_anomaly_min_usd: float = Field(
        default=1.0, ge=0, description="no spend-rate alert for an hour that spent less than this"
    )

    @property
    def resolved_executor_id(self) -> str:
        if self.executor_id is None:
            # Unique per process: two live processes must never share an executor id.
            self.executor_id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        return self.executor_id

    @property
    def resolved_media_workers(self) -> int:
        """The media lane's size: ``VIDGATE_MEDIA_WORKERS``, else one core left to the event
        loop that submits and polls."""
        if self.media_workers is not None:
            return self.media_workers
        return max(1, (os.cpu_count() or 1) - 1)

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'vidgate.sqlite'}"

    @property
    def resolved_storage_dir(self) -> Path:
        return (self.storage_dir or self.resolved_home / "media").expanduser()

    @property
    def work_dir(self) -> Path:
        """Scratch space for downloads between the download and store steps."""
        return self.resolved_home / "work"

    def signing_key(self) -> bytes:
        """The content-URL signing key: ``VIDGATE_SIGNING_SECRET``, else the one stored in the
        database (made by the first process that needs it; a key file an earlier version kept
        in $VIDGATE_HOME seeds it, so URLs it signed stay valid)."""
        if self.signing_secret:
            return self.signing_secret.encode()
        legacy = self.resolved_home / "signing.key"
        initial = legacy.read_text(encoding="ascii").strip() if legacy.is_file() else None
        return self._shared_secret("signed-urls", initial).encode()

    def webhook_key(self) -> bytes:
        """The key of provider callback URL tokens: ``VIDGATE_WEBHOOK_SECRET``, else the one
        stored in the database, so a callback minted by any process verifies in every other."""
        if self.webhook_secret:
            return self.webhook_secret.encode()
        return self._shared_secret("provider-callbacks").encode()

    def _shared_secret(self, name: str, initial: str | None = None) -> str:
        from .db.secrets import shared_secret

        if self.resolved_database_url.startswith("sqlite"):
            self.ensure_dirs()  # the database file's folder
        return shared_secret(self.resolved_database_url, name, initial=initial)

    def ensure_dirs(self) -> None:
        for path in (self.resolved_home, self.resolved_storage_dir, self.work_dir):
            path.mkdir(parents=True, exist_ok=True)
