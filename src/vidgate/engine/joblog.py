"""One log line when a job starts and one when it ends, from the process that runs it.

``LoggedJobStore`` is the job store every engine uses: it writes through ``JobStore`` and then
logs to ``vidgate.jobs`` at INFO — the job id, the provider, the outcome code and how long the
job took — never the prompt, a URL or a key. The logging module decides where the lines go (the
``vidgate worker`` and ``vidgate serve`` commands print them on stderr; a library stays silent
unless its application configures logging).
"""

from __future__ import annotations

import logging
from typing import Any

from ..types import JobError, JobStatus, Phase
from .store import JobStore

__all__ = ["LoggedJobStore"]

log = logging.getLogger("vidgate.jobs")


class LoggedJobStore(JobStore):
    def set_phase(
        self, job_id: str, phase: Phase, progress: float, message: str, **values: Any
    ) -> None:
        super().set_phase(job_id, phase, progress, message, **values)
        if phase is Phase.ROUTING and log.isEnabledFor(logging.INFO):
            job = self.get(job_id)
            if not job.done:
                log.info(
                    "job %s started: tenant %s, model %s",
                    job_id,
                    job.tenant,
                    job.request.model or "auto",
                )

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        message: str,
        *,
        error: JobError | None = None,
        **values: Any,
    ) -> None:
        was_done = self.get(job_id).done
        super().finish(job_id, status, message, error=error, **values)
        if was_done or not log.isEnabledFor(logging.INFO):
            return  # a re-run step or a lost race: the first finisher logged it
        job = self.get(job_id)
        provider = job.provider or (job.attempts[-1].provider if job.attempts else "-")
        code = job.error.code if job.error else job.status.value
        took = ((job.completed_at or job.updated_at) - job.created_at).total_seconds()
        log.info(
            "job %s %s: provider %s, code %s, %.1f s",
            job_id,
            job.status.value,
            provider,
            code,
            took,
        )
