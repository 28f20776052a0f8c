"""``simulated``: the built-in offline provider. It renders a real H.264 MP4 on this machine.

It behaves like a remote provider in the ways the engine must handle:

- Its tasks live outside the worker process, as JSON files under ``$VIDGATE_HOME/simulated``,
  and a task's state is derived from its submit time and ``VIDGATE_SIMULATED_LATENCY``. A job
  resumed by another process after a crash finds its task, as it would at a real provider.
- It reports ``queued`` for the first 15 % of the latency, then ``running`` with progress, then
  ``succeeded``; the output is rendered at download time (deterministic for prompt + seed).
- It can be told to misbehave, with markers in the prompt (``[simulate:fail]``) or the request
  metadata (``{"simulate": "fail,flaky-poll"}``). ``fault@N`` applies only to attempt N of a
  job (``[simulate:fail@1]`` fails the first provider and lets a fallback succeed):

  =====================  ===============================================================
  ``fail``               the task fails part-way (``generation_failed``)
  ``moderation``         the prompt is rejected at submit (``content_rejected``, input)
  ``moderation-output``  the finished video is rejected (``content_rejected``, output)
  ``hang``               the task runs forever at 50 %
  ``stuck-queued``       the task never leaves the provider's queue
  ``unavailable``        every create answers 503 and creates nothing (retryable)
  ``create-error``       the create makes the task, then answers 500 (an ambiguous failure)
  ``crash-after-create`` the process dies (exit 137) right after the task is made, once
  ``flaky-poll``         the first two status checks answer 503
  ``flaky-download``     the first download answers 503
  ``wrong-duration``     the video is half as long as asked (``output_mismatch``)
  ``corrupt``            the video file is truncated (``media_unreadable``)
  ``unsafe-output``      the video carries the synthetic unsafe-content marker (a magenta
                         block in its second half) that the ``marker`` content scanner flags
  ``black-output``       every frame is black; ``frozen-output``: every frame is the first;
                         ``silent-output``: the audio track is silence (technical scan checks)
  =====================  ===============================================================

Every create the simulated provider receives is appended to ``creates.jsonl`` under its
directory (``created()`` reads it), so tests can prove nothing was submitted twice.
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
    {
        "fail",
        "moderation",
        "moderation-output",
        "hang",
        "stuck-queued",
        "unavailable",
        "create-error",
        "crash-after-create",
        "flaky-poll",
        "flaky-download",
        "wrong-duration",
        "corrupt",
        "unsafe-output",
        "black-output",
        "frozen-output",
        "silent-output",
    }
)
#: The output faults drawn by the renderer (``SynthSpec.effect``).
_EFFECTS = {
    "unsafe-output": "marker",
    "black-output": "black",
    "frozen-output": "frozen",
    "silent-output": "silent",
}
_MARKER = re.compile(r"\[simulate:([a-z-]+(?:@\d+)?)\]")
_QUEUED_FRACTION = 0.15
_FLAKY_POLLS = 2


def faults_of(prompt: str, metadata: dict[str, str], attempt: int = 1) -> frozenset[str]:
    """The faults a request asks for on its ``attempt``-th provider attempt."""
    raw = [f.strip() for f in metadata.get("simulate", "").split(",") if f.strip()]
    raw += _MARKER.findall(prompt)
    chosen = set()
    for item in raw:
        name, _, only = item.partition("@")
        if name not in FAULTS:
            raise ProviderError(
                f"unknown simulated fault {name!r}; known: {', '.join(sorted(FAULTS))}",
                provider="simulated",
            )
        if not only or int(only) == attempt:
            chosen.add(name)
    return frozenset(chosen)


def _attempt_number(reference: str) -> int:
    tail = reference.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 1


def created(root: Path) -> list[dict[str, Any]]:
    """Every create the simulated provider under ``root`` received, oldest first."""
    path = root / "simulated" / "creates.jsonl"
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


class SimulatedProvider(Provider):
    """Offline provider backed by the synthetic renderer."""

    name: ClassVar[str] = "simulated"
    supports_lookup: ClassVar[bool] = True

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
        faults = faults_of(request.prompt, request.metadata, _attempt_number(submission.reference))
        if "unavailable" in faults:
            self._log("create", "-", started, 503, "simulated outage")
            raise ProviderUnavailable(
                "simulated provider is unavailable (503)", provider=self.name, status_code=503
            )
        if "moderation" in faults:
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
            "faults": sorted(faults),
            "poll_failures": 0,
            "download_failures": 0,
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
        with (self._root / "creates.jsonl").open("a", encoding="utf-8") as log:
            log.write(
                json.dumps({"reference": submission.reference, "remote_id": remote_id}) + "\n"
            )
        if "crash-after-create" in faults:
            marker = self._root / "crashed" / ref.name
            if not marker.exists():  # once per attempt, or the restarted worker would die too
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
                os._exit(137)  # as if killed -9 between the provider's answer and our checkpoint
        if "create-error" in faults:
            self._log("create", remote_id, started, 500, "simulated error after create")
            raise ProviderUnavailable(
                "simulated 500 after the task was created", provider=self.name, status_code=500
            )
        self._log("create", remote_id, started, 201, None)
        return SubmitResult(remote_id=remote_id, state=TaskState.QUEUED)

    async def find_by_reference(
        self, reference: str, submission: Submission, since: float
    ) -> str | None:
        try:
            return self._ref_path(reference).read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    async def poll(self, remote_id: str) -> TaskStatus:
        started = time.perf_counter()
        task = self._load(remote_id)
        if "flaky-poll" in task["faults"] and task["poll_failures"] < _FLAKY_POLLS:
            task["poll_failures"] += 1
            self._save(task)
            self._log("status", remote_id, started, 503, "simulated flaky status check")
            raise ProviderUnavailable(
                "simulated 503 on a status check", provider=self.name, status_code=503
            )
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
        faults = task["faults"]
        if "flaky-download" in faults and task["download_failures"] < 1:
            task["download_failures"] += 1
            self._save(task)
            self._log("content", remote_id, started, 503, "simulated flaky download")
            raise ProviderUnavailable(
                "simulated 503 on a download", provider=self.name, status_code=503
            )
        duration = task["duration"] / 2 if "wrong-duration" in faults else task["duration"]
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
            effect=next((_EFFECTS[f] for f in faults if f in _EFFECTS), None),
        )
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            await asyncio.to_thread(render, spec, dest)
        except VidgateError as exc:
            self._log("content", remote_id, started, 500, exc.message)
            raise
        if "corrupt" in faults:
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
    faults = task.get("faults", [])
    if "hang" in faults:
        fraction = min(fraction, 0.5)
    if "stuck-queued" in faults:
        return TaskStatus(state=TaskState.QUEUED, progress=0.0, raw_status="queued")
    if "fail" in faults and fraction >= 0.6:
        error = GenerationFailed(
            "the simulated generation failed part-way",
            provider="simulated",
            provider_code="simulated.generation_failed",
        )
        return TaskStatus(state=TaskState.FAILED, error=error.to_dict(), raw_status="failed")
    if fraction >= 1.0:
        if "moderation-output" in faults:
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
