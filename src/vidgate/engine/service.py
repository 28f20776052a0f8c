"""``Engine``: the library's entry point for running jobs — admit, start, watch, cancel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

from dbos import DBOS, DBOSClient, SetWorkflowID

from ..exceptions import InvalidRequest
from ..routing import RoutePlan, plan_route
from ..settings import Settings
from ..types import Job, JobEvent, JobStatus, RequestLogEntry, VideoRequest, new_id
from .runtime import (
    JOB_QUEUE,
    WORKFLOW_VERSION,
    Runtime,
    destroy_dbos,
    install,
    launch_dbos,
    uninstall,
)
from .store import DEFAULT_TENANT

__all__ = ["Engine"]


class Engine:
    """Runs vidgate jobs on DBOS in this process.

    ``async with Engine() as engine: job = await engine.submit(request)`` starts the job's
    workflow here; ``await engine.wait(job.id)`` follows it to the end. With ``worker=True`` the
    engine also takes jobs from the queue that ``enqueue()`` (``vidgate generate --detach``) fills.
    On start, DBOS resumes every unfinished job of this executor id (``VIDGATE_EXECUTOR_ID``).
    """

    def __init__(self, settings: Settings | None = None, *, worker: bool = False) -> None:
        self.settings = settings or Settings()
        self.worker = worker
        self._runtime: Runtime | None = None
        self._launched = False

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
        """Open the database (migrating it) and launch DBOS in this process."""
        if self._launched:
            return
        install(self.runtime)
        await asyncio.to_thread(launch_dbos, self.settings)
        self._launched = True
        if self.worker:
            await DBOS.register_queue_async(
                JOB_QUEUE,
                worker_concurrency=self.settings.worker_concurrency,
                polling_interval_sec=self.settings.queue_poll_interval,
            )

    async def close(self) -> None:
        if self._launched:
            await asyncio.to_thread(destroy_dbos)
            self._launched = False
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

    def _admit(self, request: VideoRequest, tenant: str) -> tuple[Job, bool]:
        request = _absolute_inputs(request)
        plan = self.plan(request)
        return self.runtime.store.create_job(
            new_id("job"), request, tenant=tenant, quote=plan.first.quote
        )

    async def submit(self, request: VideoRequest, *, tenant: str = DEFAULT_TENANT) -> Job:
        """Admit ``request`` and start its workflow in this process. With an idempotency key
        already used for the same request, returns that job instead of starting another."""
        await self.start()
        job, created = self._admit(request, tenant)
        if created:
            from .workflow import job_workflow

            with SetWorkflowID(job.id):
                await DBOS.start_workflow_async(job_workflow, job.id)
        return job

    def enqueue(self, request: VideoRequest, *, tenant: str = DEFAULT_TENANT) -> Job:
        """Admit ``request`` and leave it on the queue for a worker (``vidgate worker``).
        Needs no launched engine in this process."""
        job, created = self._admit(request, tenant)
        if created:
            client = DBOSClient(system_database_url=self.settings.resolved_database_url)
            try:
                options: Any = {
                    "queue_name": JOB_QUEUE,
                    "workflow_name": "vidgate.job",
                    "workflow_id": job.id,
                    "app_version": WORKFLOW_VERSION,
                }
                client.enqueue(options, job.id)
            finally:
                client.destroy()
        return job

    # -- reading ---------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        return self.runtime.store.get(job_id)

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


def _check_inputs(request: VideoRequest) -> None:
    """Local input files must exist and URLs must be http(s), before anything is queued."""
    for label, ref in (
        ("image", request.image),
        ("last_frame", request.last_frame),
        ("video", request.video),
    ):
        if ref is None:
            continue
        if "://" in ref:
            if not ref.startswith(("https://", "http://")):
                raise InvalidRequest(f"{label} must be a local file or an http(s) URL, not {ref!r}")
            continue
        if not Path(ref).expanduser().is_file():
            raise InvalidRequest(f"{label} file not found: {ref}", details={label: ref})


def _absolute_inputs(request: VideoRequest) -> VideoRequest:
    """Local input paths made absolute, so a worker in another directory finds them."""
    update = {
        field: str(Path(ref).expanduser().resolve())
        for field in ("image", "last_frame", "video")
        if (ref := getattr(request, field)) and "://" not in ref
    }
    return request.model_copy(update=update) if update else request
