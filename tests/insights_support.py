"""What the windowed-figure tests share: jobs, attempts and ledger rows written through the
real store and ledger paths, at the times a test chooses."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from tests.conftest import small_request
from vidgate.accounting import Reservation, close_job
from vidgate.accounting.ledger import reserve
from vidgate.engine.store import JobStore
from vidgate.types import Asset, AttemptStatus, JobError, MediaInfo


class Rows:
    """Builds a tenant's jobs and their attempts; ``settle`` closes a job in the ledger."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.store = JobStore(engine)
        self.count = 0

    def job(
        self,
        *,
        tenant: str = "acme",
        user: str | None = None,
        duration: float = 2,
        template: str | None = None,
    ) -> str:
        self.count += 1
        job_id = f"job{self.count:04d}"
        fields: dict[str, object] = {"duration": duration}
        if user:
            fields["user"] = user
        if template:
            fields["template"] = template
        self.store.create_job(job_id, small_request(**fields), tenant=tenant)
        return job_id

    def attempt(
        self,
        job_id: str,
        *,
        status: str,
        submitted: datetime | None,
        finished: datetime | None = None,
        provider: str = "runway",
        model: str = "gen4",
        cost: float | None = None,
        code: str | None = None,
        number: int = 1,
    ) -> str:
        attempt = self.store.ensure_attempt(job_id, number, provider, model)
        values: dict[str, object] = {
            "status": status,
            "submitted_at": submitted,
            "finished_at": finished,
            "cost_usd": cost,
        }
        if status == AttemptStatus.FAILED.value:
            error = JobError(code=code or "provider_error", message="it broke")
            values.update(error=error.model_dump(mode="json"), outcome=error.outcome.value)
        self.store.update_attempt(attempt.id, **values)
        return attempt.id

    def delivered(self, job_id: str, seconds: float) -> None:
        """The job's delivered video, measured at ``seconds``."""
        media = MediaInfo(
            container="mp4",
            video_codec="h264",
            width=640,
            height=360,
            duration=seconds,
            fps=24,
            frame_count=int(seconds * 24),
            size_bytes=1000,
        )
        self.store.put_asset(
            job_id,
            Asset(
                id=f"{job_id}-video",
                kind="video",
                key=f"videos/{job_id}.mp4",
                uri=f"/tmp/{job_id}.mp4",
                content_type="video/mp4",
                size_bytes=1000,
                sha256="0" * 64,
                media=media,
            ),
        )

    def settle(self, job_id: str, at: datetime, *, tenant: str = "acme", user: str = "") -> None:
        """The job's reservation and its closing (a settlement per charged attempt) at ``at``."""
        held = Reservation(tenant, user, job_id, 1.0, 2.0, "runway", "gen4", "estimated")
        with self.engine.begin() as conn:
            reserve(conn, held, now=at)
            close_job(conn, job_id, now=at)

    def spent(
        self,
        usd: float,
        at: datetime,
        *,
        tenant: str = "acme",
        user: str | None = None,
        provider: str = "runway",
        model: str = "gen4",
        template: str | None = None,
    ) -> str:
        """A job that succeeded, charged ``usd``, settled at ``at``."""
        job_id = self.job(tenant=tenant, user=user, template=template)
        self.attempt(
            job_id,
            status="succeeded",
            submitted=at,
            finished=at,
            provider=provider,
            model=model,
            cost=usd,
        )
        self.settle(job_id, at, tenant=tenant, user=user or "")
        return job_id
