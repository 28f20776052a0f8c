"""``Engine``: the library's entry point for running jobs — admit, start, watch, cancel."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, DBOSClient, SetWorkflowID

from .. import requestlog
from .._clock import utcnow
from ..accounting import Reservation, admit
from ..accounting.alerts import AlertWatcher
from ..accounting.balances import BalanceReading
from ..accounting.balances import latest as latest_balances
from ..accounting.charges import attempt_charge
from ..accounting.ledger import job_money
from ..caching import ResultCache
from ..catalog import Catalog
from ..db import make_dbos_engine
from ..exceptions import (
    InvalidRequest,
    NotFound,
    ProviderAuthError,
    ProviderError,
    TenantNotFound,
    VidgateError,
)
from ..insights import ProviderStats, SpendSeries, provider_stats, spend_series
from ..prompts.admission import PromptContext, expand_template, hints
from ..prompts.sources import TemplateLibrary
from ..prompts.store import TemplateStore
from ..providers.registry import provider_classes
from ..routing import RoutePlan, plan_route, plan_with_defaults
from ..safety.admission import SafetyGate
from ..safety.policy import policy_from
from ..safety.scan import image_scanner
from ..safety.validate import validate_request
from ..settings import Settings
from ..storage.retention import RetentionPolicy
from ..types import (
    Asset,
    AttemptStatus,
    CacheHit,
    Job,
    JobEvent,
    JobStatus,
    Phase,
    PromptHint,
    RequestLogEntry,
    VideoRequest,
    new_id,
)
from ..webhooks import WebhookDispatcher
from . import jobsearch, retention
from .batches import hold_until, release_due, release_loop, scheduled_note
from .cached import create_cached_job
from .charging import read_balances, reconcile_open_charges
from .fairshare import (
    adopt_legacy,
    job_options,
    job_queue_limits,
    partition_key,
    provider_queue_limits,
)
from .figures import JobFigures, read_figures
from .files import StoredFile
from .health import Health
from .priorities import decide, ranked, routing_record
from .quarantine import QuarantineDesk
from .release import release_workflow  # noqa: F401  (registers the release workflow)
from .runtime import (
    JOB_QUEUE,
    MAINTENANCE_QUEUE,
    RELEASE_QUEUE,
    Runtime,
    destroy_dbos,
    install,
    launch_dbos,
    provider_queue,
    uninstall,
)
from .store import DEFAULT_TENANT
from .sweeping import sweep_options, sweep_workflow  # noqa: F401  (registers the sweep)
from .tenant_view import TenantView, read_tenant
from .workflow import PROVIDER_EVENT, job_workflow  # importing it registers the workflows

log = logging.getLogger("vidgate.engine")

__all__ = ["Engine"]

#: How long one client-webhook POST may take.
_SEND_TIMEOUT = 10.0


class Engine:
    """Runs vidgate jobs on DBOS in this process.

    ``async with Engine() as engine: job = await engine.submit(request)`` starts the job's
    workflow here; ``await engine.wait(job.id)`` follows it to the end. With ``worker=True`` the
    engine also takes jobs from the queue that ``enqueue()`` (``vidgate generate --detach``) fills,
    and sends the client webhooks that jobs queue (from any process sharing the database).
    On start, DBOS resumes every unfinished job of this executor id (``VIDGATE_EXECUTOR_ID``).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        worker: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings or Settings()
        self.worker = worker
        #: The time batch scheduling and the windowed figures decide by (tests pass their own).
        self.clock = clock
        self._batches: asyncio.Task[None] | None = None
        self._runtime: Runtime | None = None
        self._launched = False
        self._keeper: asyncio.Task[None] | None = None
        self._money: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._alerts: asyncio.Task[None] | None = None
        self._stop_sending: asyncio.Event | None = None
        self._dbos_client: DBOSClient | None = None
        self._dbos_client_engine: sa.Engine | None = None
        self._templates: TemplateLibrary | None = None
        self._safety: SafetyGate | None = None
        self._cache: ResultCache | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime.create(self.settings)
        return self._runtime

    async def start(self) -> None:
        """Open the database (migrating it), launch DBOS in this process, register the queues,
        and start heartbeating. Every process runs provider attempts; only workers take jobs
        from the job queue."""
        if self._launched:
            return
        install(self.runtime)
        await self._adopt_legacy()
        provider_queues = [provider_queue(name) for name in provider_classes()]
        # Releases of quarantined outputs and the retention sweep run wherever DBOS runs.
        listen = None if self.worker else [*provider_queues, RELEASE_QUEUE, MAINTENANCE_QUEUE]
        await _off_loop(launch_dbos, self.settings, listen)
        self._launched = True
        # Each queue is partitioned by tenant where it has limits (engine/fairshare.py).
        for name in provider_classes():
            await DBOS.register_queue_async(
                provider_queue(name), **provider_queue_limits(self.settings, name)
            )
        if self.worker:
            await DBOS.register_queue_async(JOB_QUEUE, **job_queue_limits(self.settings))
        await DBOS.register_queue_async(
            RELEASE_QUEUE,
            worker_concurrency=1,  # media work: one release at a time per process
            polling_interval_sec=self.settings.queue_poll_interval,
        )
        await DBOS.register_queue_async(
            MAINTENANCE_QUEUE,
            concurrency=1,  # global: one sweep at a time across every process
            polling_interval_sec=self.settings.queue_poll_interval,
        )
        await self._keep_lease()
        self._keeper = asyncio.create_task(self._lease_loop(), name="vidgate-lease")
        if self.worker:
            self._start_webhooks()
            if self.settings.balance_interval > 0:
                self._money = asyncio.create_task(self._money_loop(), name="vidgate-money")
            self._batches = asyncio.create_task(
                release_loop(self.release_scheduled, self.settings.batch_release_interval),
                name="vidgate-batches",
            )

    def _start_webhooks(self) -> None:
        """Workers send client webhooks: every process that completes jobs claims due outbox
        rows with a lease, so an event goes out once however many workers run."""
        settings = self.settings
        dispatcher = WebhookDispatcher(
            self.runtime.store.engine,
            retry_base=settings.webhook_retry_base,
            max_attempts=settings.webhook_max_attempts,
            ssrf_allow=settings.ssrf_allow,
            owner=settings.resolved_executor_id,
            timeout=_SEND_TIMEOUT,
        )
        self._stop_sending = asyncio.Event()
        self._sender = asyncio.create_task(
            dispatcher.run(self._stop_sending, min(1.0, settings.webhook_retry_base)),
            name="vidgate-webhooks",
        )
        watcher = AlertWatcher(
            self.runtime.store.engine,
            operator_url=settings.alert_webhook_url,
            anomaly_factor=settings.spend_anomaly_factor,
            anomaly_min_usd=settings.spend_anomaly_min_usd,
        )
        self._alerts = asyncio.create_task(
            watcher.run(self._stop_sending, settings.alert_interval), name="vidgate-alerts"
        )

    async def _stop_webhooks(self) -> None:
        """Let the delivery in flight finish (its claims on the rest are given back); a send
        that hangs past the HTTP timeout is cut off, and its row is due again after the lease."""
        if self._sender is None or self._stop_sending is None:
            return
        self._stop_sending.set()
        with suppress(TimeoutError):  # wait_for cancels it
            await asyncio.wait_for(self._sender, timeout=_SEND_TIMEOUT + 5)
        if self._alerts is not None:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._alerts, timeout=_SEND_TIMEOUT)
        self._sender = self._stop_sending = self._alerts = None

    async def _keep_lease(self) -> None:
        """Heartbeat, and take over the unfinished jobs of processes that are gone."""
        leases = self.runtime.leases
        await asyncio.to_thread(leases.heartbeat)
        for dead in await asyncio.to_thread(leases.claim_dead):
            handles = await asyncio.to_thread(DBOS._recover_pending_workflows, [dead])
            if handles:
                log.warning("resuming %d unfinished job steps of executor %s", len(handles), dead)
                await self._adopt_legacy()  # a process from before partitions may have died

    async def _adopt_legacy(self) -> None:
        """Queue entries from before the queues were partitioned join the default partition
        (a partitioned queue would never run them)."""
        # Before DBOS launches, the loop's default executor may be the one a previous engine's
        # DBOS shut down; the lifecycle thread is always there.
        loop = asyncio.get_running_loop()
        engine = self.runtime.store.engine
        adopted = await loop.run_in_executor(_lifecycle_thread, adopt_legacy, engine)
        if adopted:
            log.info("%d queued workflows from an earlier version joined the queues", adopted)

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval)
            try:
                await self._keep_lease()
            except Exception:  # a database hiccup must not stop the heartbeat for good
                log.exception(
                    "heartbeat failed; trying again in %s s", self.settings.heartbeat_interval
                )

    async def _money_loop(self) -> None:
        """Workers read provider balances and settle open charges (tasks given up on, whose
        final charge or late success is read from the provider) every
        ``VIDGATE_BALANCE_INTERVAL`` seconds."""
        while True:
            try:
                await read_balances(self.runtime)
                await reconcile_open_charges(self.runtime)
            except Exception:  # a provider or database hiccup must not stop the loop
                log.exception("reading balances and open charges failed; trying again later")
            await asyncio.sleep(self.settings.balance_interval)

    async def close(self) -> None:
        if self._batches is not None:
            self._batches.cancel()
            with suppress(asyncio.CancelledError):
                await self._batches
            self._batches = None
        if self._money is not None:
            self._money.cancel()
            with suppress(asyncio.CancelledError):
                await self._money
            self._money = None
        if self._dbos_client is not None:
            self._dbos_client.destroy()
            self._dbos_client = None
        if self._dbos_client_engine is not None:
            self._dbos_client_engine.dispose()
            self._dbos_client_engine = None
        await self._stop_webhooks()
        if self._keeper is not None:
            self._keeper.cancel()
            with suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        if self._runtime is not None:
            await self._runtime.close_providers()
        if self._launched:
            await _off_loop(destroy_dbos)
            self._launched = False
            # DBOS shut the loop's default executor down with it: a plain call, it is short.
            self.runtime.leases.stopped()
        uninstall()
        if self._runtime is not None:
            await self._runtime.aclose()
            self._runtime = None

    # -- admission -------------------------------------------------------------------------

    def plan(self, request: VideoRequest) -> RoutePlan:
        """Which models would serve ``request``, in order; raises before anything is spent if
        none can (unsupported parameters, retired model, missing key)."""
        _check_inputs(request)
        return plan_route(request, self.runtime.catalog)

    @property
    def templates(self) -> TemplateLibrary:
        """The prompt templates: built-in, the operator's directory, each tenant's own."""
        if self._templates is None:
            store = TemplateStore(self.runtime.store.engine)
            self._templates = TemplateLibrary(store, self.settings.templates_dir)
        return self._templates

    @property
    def safety(self) -> SafetyGate:
        """Admission's content-safety check (``vidgate.safety.admission``): the moderation
        chain and the tenant's policy, and the content scanners on local input images."""
        if self._safety is None:
            self._safety = SafetyGate(
                self.database,
                self.settings,
                self.runtime.catalog,
                image_scanner=image_scanner(self.settings),
            )
        return self._safety

    def resolve(
        self,
        request: VideoRequest,
        *,
        tenant: str = DEFAULT_TENANT,
        view: TenantView | None = None,
    ) -> tuple[VideoRequest, RoutePlan]:
        """``request`` with its template applied (``prompts.admission``), its prompt texts
        validated (``safety.validate``: ``prompt_invalid``) and the defaults it left unset
        decided (``routing.plan_with_defaults``), and its plan: what create runs and estimate
        quotes. ``view`` is the tenant's row when the caller has read it (``tenant_view``)."""
        request = expand_template(request, PromptContext(tenant, self.templates))
        validate_request(request, self.runtime.catalog)
        # The priority and strategy (engine/priorities.py): the plan in the strategy's order.
        if view is None:
            view = read_tenant(self.database, tenant)
        request, decision = decide(self.settings, request, view)
        return plan_with_defaults(
            request,
            self.runtime.catalog,
            lambda r: ranked(self.settings, self.database, self.plan(r), r, decision),
            self.settings.default_duration,
        )

    @property
    def cache(self) -> ResultCache:
        """The result cache (``vidgate.caching``): admission asks it before anything is spent."""
        if self._cache is None:
            rt = self.runtime
            self._cache = ResultCache(rt.store.engine, rt.catalog, rt.storage, self.settings)
        return self._cache

    def cached(
        self, request: VideoRequest, plan: RoutePlan, *, tenant: str = DEFAULT_TENANT
    ) -> CacheHit | None:
        """The earlier job whose video create would serve this resolved request (estimate)."""
        return self.cache.probe(request, [c.ref for c in plan.candidates], tenant).hit

    def hints(self, request: VideoRequest, plan: RoutePlan) -> list[PromptHint]:
        """The prompt linter's hints for the model the plan chose first."""
        return hints(request, plan.first.model)

    def _admit(
        self,
        request: VideoRequest,
        tenant: str,
        guard: Callable[[Any], None] | None,
        then: Callable[[Any, str], None] | None = None,
    ) -> tuple[Job, bool]:
        partition_key(tenant)  # refused here, before anything is queued where no worker looks
        view = read_tenant(self.database, tenant)  # the tenant's row, read once per create
        request, plan = self.resolve(_absolute_inputs(request), tenant=tenant, view=view)
        # Moderation before anything is reserved or queued: a blocked request raises here.
        tried = [c.model for c in plan.candidates[: self.settings.max_attempts]]
        policy = policy_from(view.safety_policy, self.settings)
        verdict = self.safety.check(request, tried, tenant, policy)
        job_id = new_id("job")
        probe = self.cache.probe(request, [c.ref for c in plan.candidates], tenant)
        if probe.hit is not None and (copies := self.cache.copy(probe.hit, job_id)) is not None:
            return create_cached_job(  # completed at once, at no cost: nothing is queued
                self.runtime.store,
                self.cache,
                job_id,
                request,
                tenant=tenant,
                hit=probe.hit,
                copies=copies,
                guard=guard,
                hints=self.hints(request, plan),
            )
        held = _reservation(tenant, job_id, request, plan, self.settings.max_attempts)
        # A batch job outside the off-peak window waits (engine/batches.py): not queued now.
        not_before = hold_until(self.settings, request, self.clock())
        scheduled = scheduled_note(self.settings, not_before) if not_before else None
        note = "; ".join(n for n in (plan.picked, scheduled, probe.note) if n) or None

        def check(conn: sa.Connection) -> None:
            if guard is not None:
                guard(conn)
            admit(conn, held)  # budgets and quotas, and the job's reservation in the ledger
            if verdict is not None:  # the moderation decision, in the same commit as the job
                self.safety.record(verdict, tenant=tenant, job_id=job_id, connection=conn)

        def after(conn: sa.Connection) -> None:
            self.cache.remember(conn, probe, tenant=tenant, user=request.user, job_id=job_id)
            if then is not None and not not_before:  # a scheduled job is queued on release
                then(conn, job_id)

        return self.runtime.store.create_job(
            job_id,
            request,
            tenant=tenant,
            quote=plan.first.quote,
            hints=self.hints(request, plan),
            note=note,
            guard=check,
            then=after,
            moderation=verdict.mark if verdict is not None else None,
            routing=routing_record(plan),
            not_before=not_before,
            tenant_webhook=view.webhook_url,
        )

    async def submit(
        self,
        request: VideoRequest,
        *,
        tenant: str = DEFAULT_TENANT,
        guard: Callable[[Any], None] | None = None,
    ) -> Job:
        """Admit ``request`` and start its workflow in this process. With an idempotency key
        already used for the same request, returns that job instead of starting another.
        ``guard(connection)`` runs in the transaction that inserts the job (tenant limits)."""
        await self.start()
        job, created = self._admit(request, tenant, guard)
        # A job served from the cache is done already; a worker releases a scheduled one.
        if created and not job.done and job.phase is not Phase.SCHEDULED:
            with SetWorkflowID(job.id):
                await DBOS.start_workflow_async(job_workflow, job.id)
        return job

    def _client(self) -> DBOSClient:
        """One DBOS client per engine (it holds a connection pool), made on first use."""
        if self._dbos_client is None:
            url, synchronous = self.settings.resolved_database_url, self.settings.sqlite_synchronous
            # On SQLite, an engine with vidgate's pragmas (VIDGATE_SQLITE_SYNCHRONOUS).
            self._dbos_client_engine = make_dbos_engine(url, synchronous=synchronous)
            self._dbos_client = DBOSClient(
                system_database_url=url, system_database_engine=self._dbos_client_engine
            )
        return self._dbos_client

    def enqueue(
        self,
        request: VideoRequest,
        *,
        tenant: str = DEFAULT_TENANT,
        guard: Callable[[Any], None] | None = None,
    ) -> Job:
        """Admit ``request`` and leave it on the queue for a worker (``vidgate worker``).
        Needs no launched engine in this process. The tenant checks, the job, its first history
        line, its outbox event and the DBOS queue entry are one transaction (DBOS's tables live
        in the same database): one commit, and no job without its queue entry or the reverse."""
        _ = self.runtime  # the database made and migrated before the client connects to it
        # Made here, not in the transaction below: on SQLite its first connection would wait
        # for the write lock that transaction holds.
        client = self._client()

        def on_queue(conn: sa.Connection, job_id: str) -> None:
            client.enqueue_in_transaction(conn, job_options(job_id, tenant), job_id)

        job, _ = self._admit(request, tenant, guard, on_queue)
        return job

    async def cancel(self, job_id: str, *, tenant: str | None = None) -> Job:
        """Cancel a job: stop its workflow (and its attempt's), cancel the remote task where the
        provider allows, and mark it ``canceled``. A finished job is returned unchanged. Works
        from any process sharing the database."""
        store = self.runtime.store
        job = store.get(job_id, tenant=tenant)
        if job.done:
            return job
        if job.phase is Phase.SCHEDULED:  # ended first, so no worker releases it after this
            store.finish(job_id, JobStatus.CANCELED, "canceled by request while scheduled")
        await asyncio.to_thread(self._client().cancel_workflow, job_id, cancel_children=True)
        # A job and its attempt waiting in this process stop at once; elsewhere, within one
        # VIDGATE_WAKE_INTERVAL (their process's one check sees the workflows cancelled).
        wakeups = self.runtime.wakeups
        wakeups.wake(job_id, "canceled")
        for attempt in job.attempts:
            wakeups.wake(attempt.id, "canceled")
        store.finish(job_id, JobStatus.CANCELED, "canceled by request")
        for attempt in store.get(job_id).attempts:
            if attempt.status is not AttemptStatus.RUNNING or attempt.remote_id is None:
                continue
            provider = self.runtime.provider(attempt.provider)
            canceled = False
            with requestlog.bind(job_id, attempt.id), suppress(VidgateError):
                canceled = await provider.cancel(attempt.remote_id)
            charge = attempt_charge(
                self.runtime.catalog,
                f"{attempt.provider}:{attempt.model}",
                job.request,
                how="canceled",
            )
            store.update_attempt(
                attempt.id,
                status=AttemptStatus.CANCELED.value,
                finished_at=datetime.now(UTC),
                cost_usd=charge.usd,
                cost_basis=charge.basis,
                charge_open=charge.open,
            )
            store.add_event(
                job_id,
                job.phase,
                job.progress,
                f"cancelled task {attempt.remote_id} at {attempt.provider}"
                if canceled
                else f"{attempt.provider} could not cancel task {attempt.remote_id}",
            )
        store.update_job(job_id, cost_usd=store.charged(job_id))
        return store.get(job_id)

    async def release_scheduled(self, now: datetime | None = None) -> list[str]:
        """Release the scheduled batch jobs due at ``now`` (default: the engine's clock) onto
        the job queue for workers; their ids. Workers call it every
        ``VIDGATE_BATCH_RELEASE_INTERVAL`` seconds."""
        client = self._client()  # made before the transactions (SQLite's write lock)
        return await asyncio.to_thread(
            release_due,
            self.database,
            client,
            now or self.clock(),
            self.settings.batch_release_max,
        )

    def notify(self, job_id: str, attempt_id: str, event: dict[str, Any] | None = None) -> None:
        """Wake the job's waiting attempt now (a provider webhook arrived); it polls at once.
        Polling stays the backstop, so a lost notification only costs time."""
        self.runtime.store.get(job_id)
        self._client().send(attempt_id, event or {}, PROVIDER_EVENT)
        # A hold in this process polls at once; in another, within one VIDGATE_WAKE_INTERVAL.
        self.runtime.wakeups.wake(attempt_id)

    async def delete(self, job_id: str, *, tenant: str | None = None) -> Job:
        """Cancel the job if it still runs, delete its stored files (every asset, unless
        another job's asset names the same object, and any held quarantine files), and hide it
        from every reader (its rows stay, for the records, marked deleted)."""
        job = self.get(job_id, tenant=tenant)
        if not job.done:
            job = await self.cancel(job_id, tenant=tenant)
        # Files first: when storage fails the job stays visible, and deleting it again
        # finishes the work (its rows are already marked, so nothing serves them meanwhile).
        await asyncio.to_thread(retention.delete_job_files, self.runtime, job_id)
        await asyncio.to_thread(self.runtime.store.mark_deleted, job_id)
        return job

    @property
    def quarantine(self) -> QuarantineDesk:
        """Outputs the content scan blocked: list, show, release, delete (admins)."""
        return QuarantineDesk(self.runtime, self._client)

    def stored_file(self, asset: Asset, *, check: bool = False) -> StoredFile | None:
        """How to serve a stored asset; None when its object is gone (deleted, expired, or
        missing from this host's disk). ``check`` asks the backend that the object exists
        (a HEAD on S3) instead of trusting the asset row."""
        if asset.deleted_at is not None:
            return None
        storage = self.runtime.storage
        path = storage.local_path(asset.key)
        if path is not None and not path.is_file():
            return None
        if path is None and check and storage.head(asset.key) is None:
            return None
        return StoredFile(
            storage=storage,
            key=asset.key,
            size_bytes=asset.size_bytes,
            sha256=asset.sha256,
            content_type=asset.content_type,
            path=path,
            ttl=int(self.settings.signed_url_ttl),
        )

    def stored_object(
        self, key: str, content_type: str, *, etag: str | None = None
    ) -> StoredFile | None:
        """How to serve a stored key that has no asset row of its own (a file of an HLS set):
        its size (and sha256, where the backend keeps it) from the backend's HEAD; ``etag``
        (unquoted) stands in where the backend has no sha256 (local files). None when the
        object is missing. Blocking."""
        storage = self.runtime.storage
        info = storage.head(key)
        if info is None:
            return None
        return StoredFile(
            storage=storage,
            key=key,
            size_bytes=info.size_bytes,
            sha256=info.sha256 or etag or info.etag,
            content_type=content_type,
            path=storage.local_path(key),
            ttl=int(self.settings.signed_url_ttl),
        )

    def signed_storage_url(
        self, key: str, *, content_type: str | None = None, filename: str | None = None
    ) -> str | None:
        """A presigned URL for any stored key (an HLS segment, a playlist), valid for
        ``VIDGATE_SIGNED_URL_TTL``; None when the backend has no signed URLs (local)."""
        return self.runtime.storage.signed_url(
            key,
            expires=int(self.settings.signed_url_ttl),
            filename=filename,
            content_type=content_type,
        )

    def ensure_storage_cors(self) -> bool:
        """Keep vidgate's CORS rule on an S3 bucket when ``VIDGATE_S3_CORS_ORIGINS`` is set, so
        browsers may read the presigned URLs segments are redirected to (blocking). True when
        the bucket changed; a backend without bucket CORS (local disk) is left alone. Raises
        ``StorageError`` (e.g. the credentials may not change the bucket's CORS)."""
        origins = self.settings.s3_cors_origins
        ensure = getattr(self.runtime.storage, "ensure_cors", None)
        if not origins or ensure is None:
            return False
        return bool(ensure(origins))

    # -- retention (engine/retention.py) -----------------------------------------------------

    def sweep_storage(self, *, dry_run: bool = False) -> retention.SweepReport:
        """Apply every tenant's retention policy once (blocking)."""
        return retention.sweep(self.runtime, now=self.clock(), dry_run=dry_run)

    async def retention_loop(self) -> None:
        """Every ``VIDGATE_RETENTION_INTERVAL`` seconds until cancelled (``vidgate serve`` runs
        it), queue the sweep of this interval (``queue_sweep``). A failure to queue is logged
        and tried again next time."""
        while True:
            await asyncio.sleep(self.settings.retention_interval)
            try:
                await asyncio.to_thread(self.queue_sweep)
            except Exception as exc:  # a database hiccup must not stop the loop for good
                log.warning("could not queue the retention sweep: %s", exc)

    def queue_sweep(self) -> str:
        """Queue the retention sweep of the current interval (``engine/sweeping.py``): one
        workflow per interval however many processes ask, run by one process at a time, by any
        process with DBOS launched. Its workflow id (blocking)."""
        options = sweep_options(self.clock(), self.settings.retention_interval)
        self._client().enqueue(options)
        return options["workflow_id"]

    def storage_usage(self) -> list[retention.UsageRow]:
        """Bytes kept in storage per tenant and asset kind (blocking)."""
        return retention.usage(self.runtime)

    def retention_policy(self, tenant: str) -> RetentionPolicy:
        """The retention policy that applies to ``tenant`` (its own over the operator's)."""
        default, own = retention.policies(self.runtime)
        return own.get(tenant, default)

    def set_retention_policy(self, tenant: str, policy: dict[str, Any] | None) -> RetentionPolicy:
        """Store ``tenant``'s own retention policy (None: the operator's default applies).
        Raises ``InvalidRequest`` for a bad policy, ``TenantNotFound`` for no such tenant."""
        try:
            return retention.set_policy(self.runtime, tenant, policy)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        except KeyError:
            raise TenantNotFound(tenant) from None

    def receive_webhook(
        self,
        provider: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        url_token: str | None = None,
    ) -> bool:
        """Verify a provider's push (its adapter's ``parse_webhook``) and wake the attempt
        waiting for it. True when an attempt was woken; False when the push was genuine but
        about nothing we wait on (acknowledge it, or the provider keeps retrying). Raises
        ``NotFound`` for a provider that is not installed and ``ProviderAuthError`` for a
        forged, stale or unverifiable push. Blocking: verifying may fetch a key the first time."""
        if provider not in provider_classes():
            raise NotFound(f"no provider named {provider!r} is installed")
        try:
            event = self.runtime.provider(provider).parse_webhook(
                headers, body, url_token=url_token
            )
        except ProviderAuthError:
            raise
        except ProviderError as exc:
            log.info("ignored a %s webhook: %s", provider, exc.message)
            return False
        found = self.runtime.store.attempt_by_remote_id(provider, event.remote_id)
        if found is None:
            log.info("a %s webhook for unknown task %s was ignored", provider, event.remote_id)
            return False
        job_id, attempt_id = found
        self.notify(job_id, attempt_id, event.status.model_dump(mode="json"))
        return True

    # -- what the gateway reads --------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The model catalogue this engine routes with."""
        return self.runtime.catalog

    @property
    def database(self) -> sa.Engine:
        """The SQLAlchemy engine on vidgate's tables, where the gateway keeps its own books
        (tenants and keys, client-webhook deliveries) in the same database as the jobs."""
        return self.runtime.store.engine

    def unready(self) -> str | None:
        """None when the database answers; else why not (an error class name, no details)."""
        try:
            with self.database.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            return type(exc).__name__
        return None

    def figures(self) -> JobFigures:
        """Job and attempt figures for ``/metrics``, read from the database now."""
        return read_figures(self.database)

    def provider_stats(self, window: str = "day", *, tenant: str | None = None) -> ProviderStats:
        """Provider and model figures over the last hour, day or week (``vidgate.insights``)."""
        return provider_stats(self.database, window, now=self.clock(), tenant=tenant)

    def spend_series(
        self,
        *,
        by: str = "provider",
        window: str = "day",
        bucket: str | None = None,
        tenant: str | None = None,
        top: int = 5,
    ) -> SpendSeries:
        """Spend per bucket and group, the month to date, the dearest users and templates."""
        return spend_series(
            self.database,
            by=by,
            window=window,
            bucket=bucket,
            now=self.clock(),
            tenant=tenant,
            top=top,
        )

    def health(self) -> list[Health]:
        """Every installed provider's circuit breaker."""
        return [self.runtime.health.get(name) for name in provider_classes()]

    # -- reading ---------------------------------------------------------------------------

    def get(self, job_id: str, *, tenant: str | None = None) -> Job:
        """The job (``JobNotFound`` if it does not exist, or belongs to another tenant)."""
        return self.runtime.store.get(job_id, tenant=tenant)

    def page(
        self, *, tenant: str, after: str | None = None, limit: int = 20, order: str = "desc"
    ) -> tuple[list[Job], bool]:
        """A page of a tenant's jobs by creation time after the job ``after``, and whether
        more follow."""
        return self.runtime.store.page(tenant=tenant, after=after, limit=limit, order=order)

    def search(
        self,
        where: jobsearch.JobFilter,
        *,
        after: str | None = None,
        limit: int = 50,
        newest_first: bool = True,
    ) -> tuple[list[Job], bool]:
        """The jobs matching a filter by creation time, after ``after`` (engine/jobsearch.py)."""
        ids, more = jobsearch.search(
            self.database, where, after=after, limit=limit, newest_first=newest_first
        )
        return [self.runtime.store.get(i) for i in ids], more

    def balances(self) -> dict[str, BalanceReading]:
        """Each provider's latest account balance, where its API tells it (the money loop)."""
        return latest_balances(self.database)

    def money(self, job_id: str) -> dict[str, float]:
        """The job's ledger by kind: reservation, settlement, release, adjustment."""
        return job_money(self.database, job_id)

    def last_change(self, where: jobsearch.JobFilter) -> tuple[datetime | None, int]:
        return jobsearch.latest_change(self.database, where)

    def list_jobs(self, *, status: JobStatus | None = None, limit: int = 50) -> list[Job]:
        return self.runtime.store.list_jobs(status=status, limit=limit)

    def events(self, job_id: str) -> list[JobEvent]:
        self.runtime.store.get(job_id)
        return self.runtime.store.events(job_id)

    def calls(self, job_id: str) -> list[RequestLogEntry]:
        self.runtime.store.get(job_id)
        return self.runtime.store.calls(job_id)

    async def watch(self, job_id: str, *, interval: float = 0.2) -> AsyncIterator[Job]:
        """Yield the job each time its status, phase or progress changes, ending with its
        terminal state. Works for jobs run by any process sharing the database."""
        last: tuple[Any, ...] | None = None
        while True:
            job = self.runtime.store.get(job_id)
            key = (job.status, job.phase, job.progress)
            if key != last:
                last = key
                yield job
            if job.done:
                return
            await asyncio.sleep(interval)

    async def wait(self, job_id: str, *, interval: float = 0.2) -> Job:
        async for _ in self.watch(job_id, interval=interval):
            pass
        return self.get(job_id)


_lifecycle_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="vidgate-dbos")


async def _off_loop(func: Callable[..., None], *args: Any) -> None:
    """Run DBOS's blocking launch/destroy off the event loop. Not on the loop's default executor:
    DBOS installs its own there and shuts it down on destroy, so a loop that starts a second
    engine would find it closed."""
    await asyncio.get_running_loop().run_in_executor(_lifecycle_thread, func, *args)


def _reservation(
    tenant: str, job_id: str, request: VideoRequest, plan: RoutePlan, max_attempts: int
) -> Reservation:
    """What admission holds for the job: the dearest quote among the candidates it may try
    (a fallback may cost more than the first choice)."""
    chain = [c for c in plan.candidates[:max_attempts] if c.quote is not None]
    dearest = max(chain, key=lambda c: c.quote.usd if c.quote else 0.0, default=None)
    usd = dearest.quote.usd if dearest is not None and dearest.quote is not None else 0.0
    first = plan.first
    return Reservation(
        tenant=tenant,
        user=request.user or "",
        job_id=job_id,
        amount_usd=usd,
        seconds=request.duration,
        provider=first.model.provider,
        model=first.model.id,
        basis=f"estimated: the dearest of {len(plan.candidates[:max_attempts])} candidates"
        + (f" ({dearest.ref})" if dearest is not None else ""),
    )


def _check_inputs(request: VideoRequest) -> None:
    """Local input files must exist and URLs must be http(s), before anything is queued."""
    for label, ref in (
        ("image", request.image),
        ("last_frame", request.last_frame),
        ("video", request.video),
    ):
        if ref is None:
            continue
        if label == "video" and _PROVIDER_REF.fullmatch(ref):
            continue  # a provider's own id for an earlier generation (e.g. Luma's dm:<uuid>)
        if "://" in ref:
            if not ref.startswith(("https://", "http://")):
                raise InvalidRequest(f"{label} must be a local file or an http(s) URL, not {ref!r}")
            continue
        if not Path(ref).expanduser().is_file():
            raise InvalidRequest(f"{label} file not found: {ref}", details={label: ref})


#: A provider's own id for an earlier generation, passed through as ``video`` to extend it.
_PROVIDER_REF = re.compile(r"[a-z][a-z0-9_]*:[A-Za-z0-9:_-]+")


def _absolute_inputs(request: VideoRequest) -> VideoRequest:
    """Local input paths made absolute, so a worker in another directory finds them."""
    update = {
        field: str(Path(ref).expanduser().resolve())
        for field in ("image", "last_frame", "video")
        if (ref := getattr(request, field))
        and "://" not in ref
        and not _PROVIDER_REF.fullmatch(ref)
    }
    return request.model_copy(update=update) if update else request
