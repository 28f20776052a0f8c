"""The process-wide pieces the workflow steps use, and the DBOS lifecycle around them.

DBOS workflows are module-level functions, so the state they need (settings, the job store,
storage, provider instances) lives in one ``Runtime`` installed when the engine starts.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from dbos import DBOS
from dbos._error import DBOSAwaitedWorkflowCancelledError, DBOSWorkflowCancelledError

from .. import requestlog
from .._logging import CurrentStderr
from ..accounting.pricing import priced_catalog
from ..catalog import Catalog
from ..db import make_dbos_engine, make_engine, upgrade
from ..media.lane import MediaLane
from ..providers.base import Provider
from ..providers.registry import provider_class
from ..settings import Settings
from ..storage import Storage
from ..storage.select import open_storage
from .health import HealthBook
from .joblog import LoggedJobStore
from .leases import Leases
from .poller import Pollers
from .retry import RetryPolicy
from .store import JobStore
from .wakeups import Wakeups

__all__ = [
    "JOB_QUEUE",
    "MAINTENANCE_QUEUE",
    "RELEASE_QUEUE",
    "WORKFLOW_VERSION",
    "Runtime",
    "current",
    "install",
    "provider_queue",
    "uninstall",
]

#: The queue detached jobs wait on until a worker takes them.
JOB_QUEUE = "vidgate-jobs"
#: Releases of quarantined outputs (``engine/release.py``): every process with DBOS launched
#: takes them, a worker or the CLI that released one.
RELEASE_QUEUE = "vidgate-release"
#: The retention sweep (``engine/sweeping.py``): global concurrency one, so one sweep at a time.
MAINTENANCE_QUEUE = "vidgate-maintenance"
#: Each provider's attempts run on their own queue, which carries the provider's limits.
PROVIDER_QUEUE_PREFIX = "vidgate-provider-"


def provider_queue(provider: str) -> str:
    return PROVIDER_QUEUE_PREFIX + provider


#: Pinned so that queued and recovered work is picked up by any worker running this code line
#: (DBOS would otherwise version workflows by a hash of the source). Bump it when the workflow's
#: step sequence changes incompatibly.
WORKFLOW_VERSION = "vidgate-wf-2"


@dataclass
class Runtime:
    settings: Settings
    store: JobStore
    storage: Storage
    catalog: Catalog
    health: HealthBook
    leases: Leases
    wakeups: Wakeups
    pollers: Pollers
    _providers: dict[str, Provider] = field(default_factory=dict)
    _media: MediaLane | None = None

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        settings.ensure_dirs()
        engine = make_engine(
            settings.resolved_database_url, synchronous=settings.sqlite_synchronous
        )
        upgrade(engine)
        # DBOS's own tables too, so a process that only enqueues (DBOSClient) finds them.
        DBOS.migrate(settings.resolved_database_url)
        wakeups = Wakeups(settings.wake_interval)
        store = LoggedJobStore(engine)

        def note(job_id: str, reason: str) -> None:
            job = store.get(job_id)
            store.add_event(job_id, job.phase, job.progress, reason)

        return cls(
            settings=settings,
            store=store,
            storage=open_storage(settings),
            catalog=priced_catalog(settings),
            health=HealthBook(
                engine, threshold=settings.circuit_threshold, cooldown=settings.circuit_cooldown
            ),
            leases=Leases(
                engine, settings.resolved_executor_id, lease_seconds=settings.lease_seconds
            ),
            wakeups=wakeups,
            pollers=Pollers(
                settings,
                wakeups.wake,
                lambda provider: RetryPolicy.for_provider(provider, settings.retry_overrides),
                note,
            ),
        )

    def retry_policy(self, provider: str) -> RetryPolicy:
        return RetryPolicy.for_provider(provider, self.settings.retry_overrides)

    def provider(self, name: str) -> Provider:
        if name not in self._providers:
            self._providers[name] = provider_class(name)(self.settings)
        return self._providers[name]

    async def close_providers(self) -> None:
        """Close provider clients on the loop that opened them (before DBOS stops it)."""
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()

    def media_lane(self) -> MediaLane:
        """The process pool media work runs in, started on first use (``media/lane.py``)."""
        if self._media is None:
            self._media = MediaLane(self.settings.resolved_media_workers)
        return self._media

    async def aclose(self) -> None:
        await self.pollers.aclose()
        await self.wakeups.aclose()
        await self.close_providers()
        if self._media is not None:
            # A plain call: DBOS shut the loop's default executor down with it, and no step is
            # left to wait for (at most one media call per process finishes first).
            self._media.shutdown()
            self._media = None
        self.store.engine.dispose()


_current: Runtime | None = None


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the vidgate engine is not started (use vidgate.Engine)")
    return _current


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime
    requestlog.set_sink(runtime.store.record_call)


@contextlib.contextmanager
def installed(runtime: Runtime) -> Iterator[Runtime]:
    """``runtime`` as the current one for a block, in a process whose engine was not started
    (a CLI command acting on stored jobs); the started engine's own runtime otherwise."""
    if _current is not None:
        yield _current
        return
    install(runtime)
    try:
        yield runtime
    finally:
        uninstall()


def uninstall() -> None:
    global _current
    _current = None
    requestlog.set_sink(None)


def dbos_config(settings: Settings) -> dict[str, object]:
    config: dict[str, object] = {
        "name": "vidgate",
        "system_database_url": settings.resolved_database_url,
        "application_version": WORKFLOW_VERSION,
        "executor_id": settings.resolved_executor_id,
        "notification_listener_polling_interval_sec": min(1.0, settings.queue_poll_interval),
        "log_level": settings.log_level.upper(),
    }
    engine = dbos_engine(settings)
    if engine is not None:
        config["system_database_engine"] = engine
    return config


#: The engine DBOS runs on in this process (SQLite only; see ``make_dbos_engine``), disposed
#: of when DBOS is destroyed (DBOS does not dispose of an engine it was handed).
_dbos_engine: sa.Engine | None = None


def dbos_engine(settings: Settings) -> sa.Engine | None:
    """A new engine for DBOS's system database in this process, with vidgate's SQLite pragmas
    (``VIDGATE_SQLITE_SYNCHRONOUS``); None on PostgreSQL. Replaces (and disposes of) the last
    one: DBOS runs once per process."""
    global _dbos_engine
    if _dbos_engine is not None:
        _dbos_engine.dispose()
    _dbos_engine = make_dbos_engine(
        settings.resolved_database_url, synchronous=settings.sqlite_synchronous
    )
    return _dbos_engine


#: An attempt's workflow id: ``<job id>-<n>``.
_ATTEMPT_ID = re.compile(r".+-\d+")
#: DBOS's warnings when a run hands its workflow over (a cancel, or another executor took it):
#: DBOS then waits for the recorded outcome. Routine, so they are debug-level here.
_HANDOVER = ("is no longer owned by this execution", "was cancelled during execution")


class _QuietCancel(logging.Filter):
    """A cancel (``vidgate jobs cancel``, the API) stops a running job's workflows, and DBOS
    logs each one's end as an error with a 30-line traceback of its own cancellation error.
    That is the expected end of a cancelled job, not a fault: it becomes one INFO line for the
    job (none for its attempts) on ``vidgate.engine``."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, DBOSAwaitedWorkflowCancelledError | DBOSWorkflowCancelledError):
            workflow_id = getattr(exc, "workflow_id", None)
            if workflow_id and not _ATTEMPT_ID.fullmatch(workflow_id):
                logging.getLogger("vidgate.engine").info(
                    "job %s was canceled: its workflow stopped here", workflow_id
                )
            return False
        if record.levelno == logging.WARNING and any(
            text in record.getMessage() for text in _HANDOVER
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger("dbos").isEnabledFor(logging.DEBUG)
        return True


def _route_dbos_logs(level: str) -> None:
    # DBOS adds its own stderr handler only when its logger has none; ours follows sys.stderr,
    # so DBOS's messages go where the CLI's go, even when stderr is swapped (tests, daemons).
    dbos_logger = logging.getLogger("dbos")
    if not any(isinstance(f, _QuietCancel) for f in dbos_logger.filters):
        dbos_logger.addFilter(_QuietCancel())
    if not dbos_logger.handlers:
        handler = CurrentStderr()
        handler.setFormatter(logging.Formatter("%(asctime)s dbos %(levelname)s: %(message)s"))
        dbos_logger.addHandler(handler)
        dbos_logger.propagate = False
    dbos_logger.setLevel(level)


def launch_dbos(settings: Settings, queues: list[str] | None) -> None:
    """Start DBOS in this process: it recovers this executor's unfinished workflows at once.
    ``queues`` limits which queues this process takes work from (None: all of them). The
    workflows must be registered first: ``engine/service.py`` imports ``engine/workflow.py``
    (which imports this module, never the other way round)."""
    _route_dbos_logs(settings.log_level.upper())
    DBOS(config=dbos_config(settings))  # type: ignore[arg-type]
    if queues is not None:
        DBOS.listen_queues(queues)
    DBOS.launch()


def destroy_dbos() -> None:
    global _dbos_engine
    DBOS.destroy(destroy_registry=False)
    if _dbos_engine is not None:
        _dbos_engine.dispose()
        _dbos_engine = None
