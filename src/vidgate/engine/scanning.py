"""The scan step's work: an attempt's validated output through the content scanners.

``workflow.scan_step`` calls :func:`scan_output` after validation. In order:

1. the scanners in force (``VIDGATE_SCANNERS``; none: the scan is ``skipped``) run in the media
   lane (``safety.scan.scan_file``: one decode, frames sampled uniformly, at scene changes,
   first and last; the models load once per lane process), never on the event loop;
2. technical findings (black or blank, frozen, short, silent) make the output ``defective``:
   the attempt fails with ``output_defective`` and the job falls back, as for a bad output;
3. the other findings go to the tenant's policy (``safety.policy.decide``): ``allow``,
   ``flag`` (delivered, marked) or ``block``; the decision is audited (stage ``output``);
4. a blocked output is quarantined — its video and thumbnail put under ``quarantine/`` in
   storage, a row in the quarantine book — and the attempt fails with ``output_blocked``,
   whose ``details.fallback`` carries the policy's ``on_output_block``.

The verdict (:class:`~vidgate.types.OutputScan`) goes on the job and into its history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import cast

from ..exceptions import OutputBlocked, OutputDefective
from ..media.lane import unpack
from ..safety import audit
from ..safety import quarantine as book
from ..safety.policy import Decision, Finding, SafetyPolicy, decide, load_policy
from ..safety.scan import DEFECT, configured, findings_from, scan_file, triggered_frames
from ..types import Job, OutputScan, Phase
from .payloads import AttemptPayload, MediaPayload
from .runtime import current

__all__ = ["SCAN_PROGRESS", "quarantine_keys", "scan_output"]

SCAN_PROGRESS = 93.0


def quarantine_keys(job_id: str, number: int) -> tuple[str, str]:
    """Where attempt ``number``'s blocked video and thumbnail are held in storage: apart from
    ``videos/`` and ``thumbnails/``, which are the only keys that are ever served."""
    return f"quarantine/{job_id}/{number}.mp4", f"quarantine/{job_id}/{number}.jpg"


def _scores(findings: list[Finding]) -> dict[str, float]:
    top: dict[str, float] = {}
    for finding in findings:
        top[finding.category] = max(top.get(finding.category, 0.0), float(finding.score))
    return top


def _plain(finding: Finding) -> dict[str, object]:
    return {
        "source": finding.source,
        "category": finding.category,
        "score": float(finding.score),
        "flagged": finding.flagged,
        "detail": finding.detail,
    }


def _summary(scan: OutputScan) -> str:
    if scan.verdict == "skipped":
        return "scan skipped: no scanner is configured (VIDGATE_SCANNERS)"
    took = f"{scan.seconds:.2f} s" if scan.seconds is not None else "?"
    looked = f"{len(scan.scanners)} scanners, {scan.sampled_frames} frames, {took}"
    if scan.verdict == "allow":
        return f"scan: allowed ({looked})"
    flagged = ", ".join(f"{c} {scan.scores.get(c, 0.0):.2f}" for c in scan.categories)
    frames = ", ".join(f"{f.index}@{f.time:.2f}s" for f in scan.frames[:5])
    where = f"; frames {frames}" if frames else ""
    return f"scan: {scan.verdict} ({flagged}{where}; {looked})"


async def scan_output(
    job_id: str,
    attempt: AttemptPayload,
    path: Path,
    media: MediaPayload,
    on_queue: Callable[[int], None] | None = None,
) -> OutputScan:
    """Scan attempt ``attempt``'s output at ``path`` (see the module docstring). Returns the
    verdict for an allowed or flagged output; raises ``OutputDefective`` or ``OutputBlocked``."""
    rt = current()
    job = rt.store.get(job_id)
    names = configured(rt.settings)
    if not names:
        scan = OutputScan(verdict="skipped", attempt=attempt["number"])
        _note(job, scan)
        return scan
    rt.store.set_phase(
        job_id, Phase.SCANNING, SCAN_PROGRESS, f"scanning the output ({', '.join(names)})"
    )
    model = rt.catalog.get(f"{attempt['provider']}:{attempt['model']}")
    audio = bool(rt.provider(attempt["provider"]).expected_output(job.request, model).audio)
    result = unpack(
        await rt.media_lane().run(
            scan_file, str(path), names, rt.settings.scan_frames, audio, on_queue=on_queue
        )
    )
    findings = findings_from(result["findings"])
    defects = [f for f in findings if f.category == DEFECT and f.flagged]
    policy = await asyncio.to_thread(load_policy, rt.store.engine, job.tenant, rt.settings)
    decision = decide(policy, [f for f in findings if f.category != DEFECT])
    flagged = [f for f in findings if f.flagged]
    scan = OutputScan.model_validate(
        {
            "verdict": "defective" if defects else decision.action,
            "attempt": attempt["number"],
            "categories": sorted({*decision.categories, *(f.category for f in defects)}),
            "scores": _scores(findings),
            "frames": triggered_frames(flagged),
            "findings": [_plain(f) for f in findings],
            "scanners": names,
            "sampled_frames": len(result["sampled"]),
            "seconds": round(float(result["seconds"]), 3),
        }
    )
    await asyncio.to_thread(_audit, job, decision, policy, names)
    if defects:
        _note(job, scan)
        raise OutputDefective(
            "the output is defective: " + "; ".join(f.detail or f.category for f in defects),
            details={"findings": [_plain(f) for f in defects]},
        )
    if scan.verdict == "block":
        scan = await _quarantine(job, attempt, path, media, scan)
        _note(job, scan)
        raise OutputBlocked(
            f"the output of attempt {attempt['number']} was blocked by the content scan "
            f"({', '.join(scan.categories)}) and is held in quarantine",
            provider=attempt["provider"],
            categories=scan.categories,
            quarantine_id=cast(str, scan.quarantine_id),
            fallback=policy.on_output_block == "fallback",
        )
    _note(job, scan)
    return scan


def _audit(job: Job, decision: Decision, policy: SafetyPolicy, scanners: list[str]) -> None:
    """The output's decision, naming the scanners that ran (also when none found anything)."""
    audit.record(
        current().store.engine,
        tenant=job.tenant,
        job_id=job.id,
        stage="output",
        decision=decision,
        policy=policy,
        moderator=",".join(sorted(scanners)),
    )


def _note(job: Job, scan: OutputScan) -> None:
    store = current().store
    store.update_job(job.id, scan=scan.model_dump(mode="json"))
    store.add_event(job.id, Phase.SCANNING, max(job.progress, SCAN_PROGRESS), _summary(scan))


async def _quarantine(
    job: Job, attempt: AttemptPayload, path: Path, media: MediaPayload, scan: OutputScan
) -> OutputScan:
    """Hold the blocked video (and its thumbnail) apart; the work files are removed so that a
    next attempt does not find them."""
    rt = current()
    video_key, thumb_key = quarantine_keys(job.id, attempt["number"])
    thumb = path.with_name("thumbnail.jpg")
    stored = await asyncio.to_thread(rt.storage.put_file, video_key, path, "video/mp4")
    held_thumb: str | None = None
    if thumb.is_file():
        await asyncio.to_thread(rt.storage.put_file, thumb_key, thumb, "image/jpeg")
        held_thumb = thumb_key
    item_id = await asyncio.to_thread(
        book.hold,
        rt.store.engine,
        job_id=job.id,
        tenant=job.tenant,
        attempt_id=attempt["attempt_id"],
        attempt_number=attempt["number"],
        provider=attempt["provider"],
        model=attempt["model"],
        video_key=stored.key,
        thumbnail_key=held_thumb,
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
        media=dict(media),
        scan=scan.model_dump(mode="json"),
    )
    path.unlink(missing_ok=True)
    thumb.unlink(missing_ok=True)
    return scan.model_copy(update={"quarantine_id": item_id})
