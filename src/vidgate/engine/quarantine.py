"""The admin's quarantine desk: list, show, release and delete blocked outputs.

``Engine.quarantine`` is one of these; the CLI (``vidgate quarantine``) and the gateway
(``/v1/admin/quarantine``) go through it. Every action is audited (``safety.audit``, stage
``output``, moderator ``admin:<who>``).

- **release** (only a ``held`` item, of a job that has ended and was not delivered from another
  attempt) is recorded at once and carried out by a durable workflow (``engine/release.py``).
  One transaction moves the item to ``released`` (the guard in its UPDATE decides who wins) and
  puts the ``vidgate.release`` workflow on the release queue, id ``release-<job>``: no release
  without its workflow, and never two builds for one job. The workflow puts the held video and
  thumbnail at the servable keys (``videos/<job>.mp4``, ``thumbnails/<job>.jpg``), records
  them as the job's assets and removes the held copies; builds the delivery set when the job
  had no video (``delivering.redeliver``); then a failed job (no other attempt delivered)
  becomes ``completed`` with this attempt's provider and model, its error cleared and its scan
  marked ``released``, and ``video.completed`` goes out. Its charge was settled when it failed
  and does not change. ``wait_released`` follows the workflow to its end.
- **delete**: the guard, then the held files are removed. The job keeps its scan verdict and
  stays unservable (``output_quarantined``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dbos import DBOSClient, EnqueueOptions

from ..exceptions import NotFound, QuarantineConflict, VidgateError
from ..safety import audit
from ..safety import quarantine as book
from ..safety.policy import Decision, Finding, load_policy
from ..safety.quarantine import QuarantineItem, Status
from ..storage import IMMUTABLE
from ..types import Asset, Job, JobStatus, Phase, new_id
from .runtime import RELEASE_QUEUE, WORKFLOW_VERSION, Runtime, installed
from .scanning import SCAN_PROGRESS

__all__ = ["RELEASE_WORKFLOW", "QuarantineDesk", "release_id", "release_options"]

#: The durable release (``engine/release.py``), by name: the desk queues it without importing it.
RELEASE_WORKFLOW = "vidgate.release"


def release_id(job_id: str) -> str:
    """The release workflow's id: one per job, so releasing twice never builds twice."""
    return f"release-{job_id}"


def release_options(job_id: str) -> EnqueueOptions:
    return {
        "queue_name": RELEASE_QUEUE,
        "workflow_name": RELEASE_WORKFLOW,
        "workflow_id": release_id(job_id),
        "app_version": WORKFLOW_VERSION,
    }


class QuarantineDesk:
    """What an admin can do with quarantined outputs (see the module docstring)."""

    def __init__(self, runtime: Runtime, client: Callable[[], DBOSClient] | None = None) -> None:
        self._rt = runtime
        self._client = client

    async def list(
        self,
        *,
        status: Status | None = "held",
        tenant: str | None = None,
        job_id: str | None = None,
        limit: int = 100,
    ) -> list[QuarantineItem]:
        return await asyncio.to_thread(
            book.items,
            self._rt.store.engine,
            status=status,
            tenant=tenant,
            job_id=job_id,
            limit=limit,
        )

    async def get(self, item_id: str) -> QuarantineItem:
        found = await asyncio.to_thread(book.get, self._rt.store.engine, item_id)
        if found is None:
            raise NotFound(f"no quarantined output {item_id!r}", details={"id": item_id})
        return found

    async def release(self, item_id: str, *, by: str, wait: bool = False) -> QuarantineItem:
        """Record the release of a held output and queue its workflow (see the module
        docstring); the item, ``released``. ``wait`` also follows the workflow to its end."""
        item = await self.get(item_id)
        job = await asyncio.to_thread(self._rt.store.get, item.job_id)
        if item.status != "held":
            raise _not_held(item)
        if not job.status.terminal:
            raise QuarantineConflict(
                f"job {job.id} is still running; release its output once it has ended",
                details={"id": item.id, "job_id": job.id, "status": job.status.value},
            )
        if job.output is not None:
            raise QuarantineConflict(
                f"job {job.id} was delivered from another attempt; delete this output instead",
                details={"id": item.id, "job_id": job.id},
            )
        if not await asyncio.to_thread(self._record_release, item, by):
            raise _not_held(await self.get(item_id))
        await asyncio.to_thread(self._audit, item, "allow", by, "released from quarantine")
        await asyncio.to_thread(
            self._rt.store.add_event,
            job.id,
            job.phase,
            job.progress,
            f"the quarantined output of attempt {item.attempt_number} was released by {by}: "
            "delivering it",
        )
        if wait:
            await self.wait_released(job.id)
        return await self.get(item_id)

    def _record_release(self, item: QuarantineItem, by: str) -> bool:
        """The item ``released`` and its workflow queued, in one transaction; False when the
        item was no longer held."""
        if self._client is None:
            raise RuntimeError("a quarantine desk without a DBOS client cannot release")
        client = self._client()  # made before the transaction: see Engine.enqueue
        with self._rt.store.engine.begin() as conn:
            if not book.mark_in(conn, item.id, "released", by):
                return False
            client.enqueue_in_transaction(conn, release_options(item.job_id), item.id, by)
        return True

    def release_state(self, job_id: str) -> str | None:
        """The release workflow's DBOS status (``ENQUEUED``, ``PENDING``, ``SUCCESS``,
        ``ERROR``…); None when the job has none (blocking: one read)."""
        if self._client is None:
            return None
        found = self._client().list_workflows(workflow_ids=[release_id(job_id)])
        return str(found[0].status) if found else None

    async def wait_released(self, job_id: str, *, interval: float = 0.2) -> None:
        """Until the job's release workflow has ended (it raises what the workflow raised)."""
        if self._client is None:
            raise RuntimeError("a quarantine desk without a DBOS client cannot wait")
        handle: Any = await self._client().retrieve_workflow_async(release_id(job_id))
        await handle.get_result(polling_interval_sec=interval)

    async def delete(self, item_id: str, *, by: str) -> QuarantineItem:
        """Remove the held files; the item stays in the book as ``deleted``."""
        item = await self.get(item_id)
        if item.status != "held":
            raise _not_held(item)
        if not await asyncio.to_thread(book.mark, self._rt.store.engine, item.id, "deleted", by):
            raise _not_held(await self.get(item_id))
        for key in (item.video_key, item.thumbnail_key):
            if key is not None:
                await asyncio.to_thread(self._rt.storage.delete, key)
        store = self._rt.store
        job = await asyncio.to_thread(store.get, item.job_id)
        await asyncio.to_thread(
            store.add_event,
            job.id,
            job.phase,
            job.progress,
            f"the quarantined output of attempt {item.attempt_number} was deleted by {by}",
        )
        await asyncio.to_thread(self._audit, item, "block", by, "deleted from quarantine")
        return await self.get(item_id)

    # -- the release workflow's work (engine/release.py runs these as its steps) ------------

    async def deliver_set(self, job_id: str) -> None:
        """The released video's renditions, HLS and stills (``delivering.redeliver``). A set
        that cannot be made leaves the released video served as it is, and says why."""
        from .delivering import redeliver

        try:
            with installed(self._rt):  # the CLI releases without starting an engine
                await redeliver(job_id, f"videos/{job_id}.mp4")
        except VidgateError as exc:
            job = await asyncio.to_thread(self._rt.store.get, job_id)
            await asyncio.to_thread(
                self._rt.store.add_event,
                job_id,
                job.phase,
                job.progress,
                f"the released video is served as it is: its delivery set failed ({exc.code})",
            )

    def restore_files(self, item: QuarantineItem, job: Job) -> None:
        """The held files back at the keys they are served from."""
        rt = self._rt
        held = [("video", item.video_key, f"videos/{job.id}.mp4", "video/mp4")]
        if item.thumbnail_key is not None:
            held.append(("thumbnail", item.thumbnail_key, f"thumbnails/{job.id}.jpg", "image/jpeg"))
        for kind, source_key, key, content_type in held:
            if rt.storage.head(source_key) is None:
                continue  # nothing left to move (a release that crashed after moving it)
            stored = rt.storage.copy(source_key, key, content_type, cache_control=IMMUTABLE)
            rt.store.put_asset(
                job.id,
                Asset(
                    id=new_id("asset"),
                    kind=kind,
                    key=stored.key,
                    uri=stored.uri,
                    content_type=content_type,
                    size_bytes=stored.size_bytes,
                    sha256=stored.sha256,
                    media=item.media if kind == "video" else None,
                ),
            )
            rt.storage.delete(source_key)

    def complete_release(self, item: QuarantineItem, job: Job, by: str) -> None:
        """The job completed with the released output (when it had none) and the client told;
        run again after a crash, it finds the job completed and tells nobody twice."""
        rt = self._rt
        values: dict[str, object] = {}
        if job.scan is not None and job.scan.quarantine_id == item.id:
            values["scan"] = job.scan.model_copy(update={"released": True}).model_dump(mode="json")
        # A job that failed (by this block, or by later attempts) has a video now.
        delivered = job.status is JobStatus.FAILED
        if delivered:
            values.update(
                status=JobStatus.COMPLETED.value,
                phase=Phase.DONE.value,
                progress=100.0,
                error=None,
                provider=item.provider,
                model=item.model,
                completed_at=job.completed_at or datetime.now(UTC),
            )
        if values:  # a delivered job tells the client, as a completion by the workflow would
            rt.store.update_job(job.id, notify=JobStatus.COMPLETED if delivered else None, **values)
        rt.store.add_event(
            job.id,
            Phase.DONE if delivered else job.phase,
            max(job.progress, SCAN_PROGRESS),
            f"the quarantined output of attempt {item.attempt_number} was released by {by}: "
            "it is served now",
        )

    def _audit(self, item: QuarantineItem, action: str, by: str, detail: str) -> None:
        rt = self._rt
        findings = tuple(
            Finding(
                category=category,
                score=float(item.scan.scores.get(category, 0.0)),
                flagged=True,
                source=f"admin:{by}",
                detail=detail,
            )
            for category in item.scan.categories
        )
        decision = Decision(
            action="allow" if action == "allow" else "block",
            categories=tuple(item.scan.categories),
            findings=findings,
        )
        audit.record(
            rt.store.engine,
            tenant=item.tenant,
            job_id=item.job_id,
            stage="output",
            decision=decision,
            policy=load_policy(rt.store.engine, item.tenant, rt.settings),
            detail=f"{detail} ({item.id}) by {by}",
            moderator=f"admin:{by}",
        )


def _not_held(item: QuarantineItem) -> QuarantineConflict:
    return QuarantineConflict(
        f"quarantined output {item.id} is {item.status}, not held",
        details={"id": item.id, "status": item.status},
    )
