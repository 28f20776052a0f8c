"""``simulated``: the built-in offline provider. It renders a real H.264 MP4 on this machine.

It behaves like a remote provider in the ways the engine must handle:

- Its tasks live outside the worker process, as JSON files under ``$VIDGATE_HOME/simulated``,
  and a task's state is derived from its submit time and ``VIDGATE_SIMULATED_LATENCY``. A job
  resumed by another process after a crash finds its task, as it would at a real provider.
- It reports ``queued`` for the first 15 % of the latency, then ``running`` with progress, then
  ``succeeded``; the output is rendered at download time (deterministic for prompt + seed).
- It can be told to misbehave, with a marker in the prompt (``[simulate:fail]``) or the request
  metadata (``{"simulate": "fail"}``):

  ==================  ==================================================================
  ``fail``            the task fails part-way (``generation_failed``)
  ``moderation``      the prompt is rejected at submit (``content_rejected``, input)
  ``moderation-output``  the finished video is rejected (``content_rejected``, output)
  ``hang``            the task runs forever at 50 %
  ``unavailable``     submit answers like a 503 (``provider_unavailable``, retryable)
  ``wrong-duration``  the video is half as long as asked (``output_mismatch``)
  ``corrupt``         the video file is truncated (``media_unreadable``)
  ==================  ==================================================================
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from .. import requestlog
from ..exceptions import (
    ContentRejected,
    GenerationFailed,
    ProviderError,
    ProviderUnavailable,
    VidgateError,
)
from ..media.geometry import dimensions_for
from .base import OutputRef, Provider, Submission, SubmitResult, TaskState, TaskStatus

__all__ = ["FAULTS", "SimulatedProvider"]

FAULTS = frozenset(
    {"fail", "moderation", "moderation-output", "hang", "unavailable", "wrong-duration", "corrupt"}
)
_MARKER = re.compile(r"\[simulate:([a-z-]+)\]")
_QUEUED_FRACTION = 0.15


def fault_of(prompt: str, metadata: dict[str, str]) -> str | None:
    """The fault a request asks for, from its metadata or a prompt marker."""
    found = metadata.get("simulate")
    if found is None:
        match = _MARKER.search(prompt)
        found = match[1] if match else None
    if found is not None and found not in FAULTS:
        raise ProviderError(
            f"unknown simulated fault {found!r}; known: {', '.join(sorted(FAULTS))}",
            provider="simulated",
        )
    return found


class SimulatedProvider(Provider):
    """Offline provider backed by the synthetic renderer."""

    name: ClassVar[str] = "simulated"

    @property
    def _root(self) -> Path:
        return self.settings.resolved_home / "simulated"

    def _task_path(self, remote_id: str) -> Path:
        if not re.fullmatch(r"sim_[a-z0-9]+", remote_id):
            raise ProviderError(f"not a simulated task id: {remote_id!r}", provider=self.name)
        return self._root / "tasks" / f"{remote_id}.json"

    def _ref_path(self, reference: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", reference)
        return self._root / "refs" / safe

    def _log(self, op: str, remote_id: str, started: float, status: int, error: str | None) -> None:
        requestlog.record(
            self.name,
            "LOCAL",
            f"simulated://tasks/{remote_id}/{op}",
            status_code=status,
            latency_ms=(time.perf_counter() - started) * 1000,
            request_id=remote_id,
            error=error,
        )

    def _load(self, remote_id: str) -> dict[str, Any]:
        path = self._task_path(remote_id)
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProviderError(
                f"simulated task {remote_id} does not exist", provider=self.name, status_code=404
            ) from None
        return data

    def _save(self, task: dict[str, Any]) -> None:
        path = self._task_path(task["id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, json.dumps(task).encode())

    async def submit(self, submission: Submission) -> SubmitResult:
        started = time.perf_counter()
        request = submission.request
        fault = fault_of(request.prompt, request.metadata)
        if fault == "unavailable":
            self._log("create", "-", started, 503, "simulated outage")
            raise ProviderUnavailable(
                "simulated provider is unavailable (503)", provider=self.name, status_code=503
            )
        if fault == "moderation":
            self._log("create", "-", started, 400, "moderation")
            raise ContentRejected(
                "the prompt was rejected by the simulated moderation filter",
                provider=self.name,
                stage="input",
                charged=False,
                status_code=400,
                provider_code="moderation_blocked",
            )
        width, height = dimensions_for(request.resolution, request.aspect_ratio)
        remote_id = "sim_" + secrets.token_hex(10)
        task = {
            "id": remote_id,
            "reference": submission.reference,
            "submitted_at": time.time(),
            "latency": self.settings.simulated_latency,
            "fault": fault,
            "prompt": _MARKER.sub("", request.prompt).strip() or request.prompt,
            "seed": request.seed if request.seed is not None else secrets.randbelow(2**31),
            "duration": request.duration,
            "width": width,
            "height": height,
            "fps": submission.fps,
            "audio": submission.audio,
            "image": _local_file(request.image),
            "last_frame": _local_file(request.last_frame),
            "canceled_at": None,
        }
        self._save(task)
        ref = self._ref_path(submission.reference)
        ref.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(ref, remote_id.encode())
        self._log("create", remote_id, started, 201, None)
        return SubmitResult(remote_id=remote_id, state=TaskState.QUEUED)

    async def find_by_reference(self, reference: str) -> str | None:
        try:
            return self._ref_path(reference).read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    async def poll(self, remote_id: str) -> TaskStatus:
        started = time.perf_counter()
        task = self._load(remote_id)
        status = _status_at(task, time.time())
        self._log("status", remote_id, started, 200, None)
        return status

    async def cancel(self, remote_id: str) -> bool:
        started = time.perf_counter()
        task = self._load(remote_id)
        if _status_at(task, time.time()).state.terminal:
            self._log("cancel", remote_id, started, 409, "already finished")
            return False
        task["canceled_at"] = time.time()
        self._save(task)
        self._log("cancel", remote_id, started, 200, None)
        return True

    async def download(self, output: OutputRef, dest: Path) -> None:
        from ..media.synth import SynthSpec, render

        started = time.perf_counter()
        remote_id = output.url.removeprefix("simulated://tasks/").split("/", 1)[0]
        task = self._load(remote_id)
        fault = task["fault"]
        duration = task["duration"] / 2 if fault == "wrong-duration" else task["duration"]
        spec = SynthSpec(
            prompt=task["prompt"],
            seed=int(task["seed"]),
            duration=duration,
            width=int(task["width"]),
            height=int(task["height"]),
            fps=int(task["fps"]),
            audio=bool(task["audio"]),
            first_frame=Path(task["image"]) if task["image"] else None,
            last_frame=Path(task["last_frame"]) if task["last_frame"] else None,
        )
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            await asyncio.to_thread(render, spec, dest)
        except VidgateError as exc:
            self._log("content", remote_id, started, 500, exc.message)
            raise
        if fault == "corrupt":
            size = dest.stat().st_size
            with dest.open("r+b") as handle:
                handle.truncate(size // 2)
        self._log("content", remote_id, started, 200, None)


def _status_at(task: dict[str, Any], now: float) -> TaskStatus:
    """A task's state at time ``now``: pure, so any process derives the same answer."""
    if task.get("canceled_at"):
        return TaskStatus(state=TaskState.CANCELED, raw_status="canceled")
    latency = float(task["latency"])
    elapsed = now - float(task["submitted_at"])
    fraction = 1.0 if latency <= 0 else min(elapsed / latency, 1.0)
    fault = task["fault"]
    if fault == "hang":
        fraction = min(fraction, 0.5)
    if fault == "fail" and fraction >= 0.6:
        error = GenerationFailed(
            "the simulated generation failed part-way",
            provider="simulated",
            provider_code="simulated.generation_failed",
        )
        return TaskStatus(state=TaskState.FAILED, error=error.to_dict(), raw_status="failed")
    if fraction >= 1.0:
        if fault == "moderation-output":
            rejected = ContentRejected(
                "the finished video was rejected by the simulated output filter",
                provider="simulated",
                stage="output",
                charged=False,
            )
            return TaskStatus(state=TaskState.FAILED, error=rejected.to_dict(), raw_status="failed")
        return TaskStatus(
            state=TaskState.SUCCEEDED,
            progress=1.0,
            outputs=[
                OutputRef(
                    url=f"simulated://tasks/{task['id']}/output.mp4", content_type="video/mp4"
                )
            ],
            raw_status="succeeded",
        )
    if fraction < _QUEUED_FRACTION:
        return TaskStatus(state=TaskState.QUEUED, progress=0.0, raw_status="queued")
    return TaskStatus(state=TaskState.RUNNING, progress=round(fraction, 4), raw_status="running")


def _local_file(ref: str | None) -> str | None:
    """A local image input as an absolute path; URLs are not fetched by the offline provider."""
    if not ref or "://" in ref:
        return None
    return str(Path(ref).expanduser().resolve())


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
