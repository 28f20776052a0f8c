"""The durable release of a quarantined output: the ``vidgate.release`` workflow.

``QuarantineDesk.release`` records the release and queues this workflow (id ``release-<job>``)
in one transaction on the release queue, which every process with DBOS launched takes work
from (a worker, ``vidgate serve``, the CLI that released it). Its steps, each safe to run again
after a crash (DBOS resumes the workflow on its executor's restart, or another live process
takes it over when that executor's lease runs out, ``engine/leases.py``)::

    release_workflow:  restore (held files ─▶ servable keys, asset rows)
                       ─▶ deliver (the delivery set, when the job had no video)
                       ─▶ complete (job completed, scan released, video.completed queued)
"""

from __future__ import annotations

import asyncio
from typing import Any

from dbos import DBOS

from ..exceptions import NotFound
from ..safety import quarantine as book
from ..safety.quarantine import QuarantineItem
from ..types import JobStatus
from .outage import step
from .quarantine import RELEASE_WORKFLOW, QuarantineDesk
from .runtime import current

__all__ = ["release_workflow"]


def _item(item_id: str) -> QuarantineItem:
    found = book.get(current().store.engine, item_id)
    if found is None:
        raise NotFound(f"no quarantined output {item_id!r}")
    return found


@step("vidgate.release.restore")
async def restore_step(item_id: str) -> dict[str, Any]:
    """The held files at the servable keys; the job, and whether it had no video (then it
    needs its delivery set). A run after a crash finds the held copies gone and moves nothing
    again."""
    rt = current()
    item = await asyncio.to_thread(_item, item_id)
    job = await asyncio.to_thread(rt.store.get, item.job_id)
    await asyncio.to_thread(QuarantineDesk(rt).restore_files, item, job)
    return {"job_id": job.id, "deliver": job.status is JobStatus.FAILED}


@step("vidgate.release.deliver")
async def deliver_step(job_id: str) -> None:
    """Renditions, HLS and stills of the released video (a failure is noted; the video is then
    served as it is)."""
    await QuarantineDesk(current()).deliver_set(job_id)


@step("vidgate.release.complete")
async def complete_step(item_id: str, by: str) -> None:
    """The job completed with the released video, and ``video.completed`` queued (once)."""
    rt = current()
    item = await asyncio.to_thread(_item, item_id)
    job = await asyncio.to_thread(rt.store.get, item.job_id)
    await asyncio.to_thread(QuarantineDesk(rt).complete_release, item, job, by)


@DBOS.workflow(name=RELEASE_WORKFLOW)
async def release_workflow(item_id: str, by: str) -> str:
    restored = await restore_step(item_id)
    if restored["deliver"]:
        await deliver_step(restored["job_id"])
    await complete_step(item_id, by)
    return "released"
