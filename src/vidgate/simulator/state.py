"""The simulator's shared machinery: tasks and their timeline, rendered outputs behind signed
URLs, what was received (stats), and webhook delivery with faults.

Provider modules (``simulator/<provider>.py``) own their wire format; they keep tasks here and
ask this module what state a task is in at a given moment, so every provider's timeline,
faults and outputs behave the same way.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import httpx
from starlette.requests import Request

from ..media.geometry import dimensions_for
from .faults import FaultProfile, Faults

__all__ = [
    "GENERIC_PROMPT",
    "RenderKey",
    "RenderSpec",
    "SimState",
    "SimTask",
    "SimulatorConfig",
    "Timeline",
    "sim_state",
]

log = logging.getLogger("vidgate.simulator")

Phase = Literal["throttled", "queued", "running", "succeeded", "failed", "canceled"]

#: Fractions of the latency spent queued before running.
_QUEUED_FRACTION = 0.15


@dataclass
class SimulatorConfig:
    latency: float = 3.0
    #: The address clients reach the simulator at; output URLs are built on it.
    public_url: str = "http://127.0.0.1:8790"
    media_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "vidgate-simulator")
    profile: FaultProfile = field(default_factory=FaultProfile)
    #: Lifetime of signed output URLs, in seconds.
    url_ttl: float = 3600.0
    #: OpenAI-style project webhooks: where to deliver, and the ``whsec_`` signing secret.
    openai_webhook_url: str | None = None
    openai_webhook_secret: str = field(
        default_factory=lambda: "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    )
    #: Webhook deliveries retry this many times on a non-2xx answer.
    webhook_retries: int = 3
    #: Render every output as the same card (no prompt, seed 0), so that outputs are shared by
    #: every task of one size, duration, fps, audio and output fault: for load runs, where the
    #: simulator's own rendering must not be what is measured.
    generic_renders: bool = False


@dataclass(frozen=True)
class RenderSpec:
    """What the output video should be (before output faults)."""

    prompt: str
    duration: float
    width: int
    height: int
    fps: int = 24
    seed: int = 0
    audio: bool = False

    @classmethod
    def from_request(
        cls,
        prompt: str,
        duration: float,
        resolution: str,
        aspect_ratio: str,
        *,
        fps: int = 24,
        seed: int | None = None,
        audio: bool = False,
    ) -> RenderSpec:
        width, height = dimensions_for(resolution, aspect_ratio)
        return cls(
            prompt=prompt,
            duration=duration,
            width=width,
            height=height,
            fps=fps,
            seed=seed if seed is not None else secrets.randbelow(2**31),
            audio=audio,
        )


#: What a ``generic_renders`` output shows.
GENERIC_PROMPT = "vidgate simulator"


class RenderKey(NamedTuple):
    """What an output's bytes depend on: one render per distinct key."""

    prompt: str
    seed: int
    duration: float
    width: int
    height: int
    fps: int
    audio: bool
    damage: str  # "" | "truncated" | "corrupt"


@dataclass(frozen=True)
class Timeline:
    """A task's state at one moment."""

    phase: Phase
    progress: float  # 0..1
    failure: str | None = None  # "fail" | "moderation" when phase is failed


@dataclass(slots=True)
class SimTask:
    id: str
    provider: str
    spec: RenderSpec
    faults: Faults
    latency: float
    created_at: float = field(default_factory=time.time)
    reference: str | None = None
    model: str | None = None
    #: The provider module's own fields (the request body, callback URL, …).
    extra: dict[str, Any] = field(default_factory=dict)
    canceled_at: float | None = None
    deleted: bool = False
    polls: int = 0
    downloads: int = 0

    def at(self, now: float | None = None) -> Timeline:
        now = time.time() if now is None else now
        if self.canceled_at is not None:
            return Timeline("canceled", 0.0)
        latency = self.latency * (5 if "slow" in self.faults else 1)
        elapsed = now - self.created_at
        if "moderation-after" in self.faults and elapsed >= self.faults.value(
            "moderation-after", 1.0
        ):
            return Timeline("failed", min(elapsed / latency, 1.0) if latency else 1.0, "moderation")
        if "throttled" in self.faults and elapsed < latency:
            return Timeline("throttled", 0.0)
        fraction = 1.0 if latency <= 0 else min(elapsed / latency, 1.0)
        if "hang" in self.faults:
            fraction = min(fraction, 0.5)
        if "fail" in self.faults and fraction >= 0.6:
            return Timeline("failed", fraction, "fail")
        if fraction >= 1.0:
            return Timeline("succeeded", 1.0)
        if fraction < _QUEUED_FRACTION:
            return Timeline("queued", 0.0)
        return Timeline("running", round(fraction, 4))

    def changes_at(self, now: float) -> float | None:
        """The first moment after ``now`` at which :meth:`at` may answer another phase (None once
        it cannot change by itself), so a watcher sleeps on a timer until then instead of
        checking every few milliseconds. (A cancel is not foreseen: it happens on a request.)"""
        if self.canceled_at is not None or self.at(now).phase in ("succeeded", "failed"):
            return None
        latency = self.latency * (5 if "slow" in self.faults else 1)
        moments = [_QUEUED_FRACTION * latency]
        if "fail" in self.faults:
            moments.append(0.6 * latency)
        if "hang" not in self.faults:
            moments.append(latency)
        if "moderation-after" in self.faults:
            moments.append(self.faults.value("moderation-after", 1.0))
        later = [self.created_at + moment for moment in moments if self.created_at + moment > now]
        return min(later) if later else None

    def next_look(self, now: float, limit: float) -> float | None:
        """When a watcher of this task should look again: the timeline's next change, or (a
        task that hangs) the wall-clock ``limit`` it gives up at; None once ``limit`` passed."""
        if now >= limit:
            return None
        moment = self.changes_at(now)
        return limit if moment is None else min(moment, limit)

    def first_polls_fail(self, count: int = 2) -> bool:
        """Count a status check; True while the ``500-poll`` fault should still answer 500."""
        self.polls += 1
        return "500-poll" in self.faults and self.polls <= count

    def first_download_fails(self) -> bool:
        self.downloads += 1
        return "500-download" in self.faults and self.downloads <= 1


class SimState:
    """Everything the running simulator knows. One per app."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.tasks: dict[str, SimTask] = {}
        self.creates: Counter[str] = Counter()
        self.creates_by_reference: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.requests: Counter[str] = Counter()
        self.webhooks: list[dict[str, Any]] = []
        self.once: set[tuple[str, str]] = set()
        self._url_key = secrets.token_bytes(32)
        #: Rendered outputs by what shapes their bytes, renders in progress, and how many
        #: renders were made (``/_simulator/stats``).
        self._renders: dict[RenderKey, Path] = {}
        self._rendering: dict[RenderKey, asyncio.Task[Path]] = {}
        self._thumb_locks: dict[Path, asyncio.Lock] = {}
        self.render_count = 0
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Task[Any]] = set()
        #: Tasks followed on the loop's timer (see :meth:`watch`), and their next timer.
        self._watches: dict[str, Callable[[float], float | None]] = {}
        self._watch_timers: dict[str, asyncio.TimerHandle] = {}

    # -- tasks -----------------------------------------------------------------------------

    def new_id(self, style: Literal["uuid", "hex"] = "uuid", prefix: str = "") -> str:
        return prefix + (str(uuid.uuid4()) if style == "uuid" else secrets.token_hex(12))

    def add(self, task: SimTask) -> SimTask:
        self.tasks[task.id] = task
        self.record_create(task.provider, task.reference)
        return task

    def record_create(self, provider: str, reference: str | None) -> None:
        self.creates[provider] += 1
        self.creates_by_reference[provider][reference or "-"] += 1

    def get(self, provider: str, task_id: str) -> SimTask | None:
        task = self.tasks.get(task_id)
        if task is None or task.provider != provider or task.deleted:
            return None
        return task

    def first_time(self, fault: str, key: str) -> bool:
        """True once per (fault, key): for faults that must fail once and then let a retry pass."""
        marker = (fault, key)
        if marker in self.once:
            return False
        self.once.add(marker)
        return True

    def draw(self, names: list[str], requested: Faults) -> Faults:
        """A request's faults: what it asked for, plus the global profile's draw."""
        return requested.merged(self.config.profile.draw(names))

    # -- outputs ---------------------------------------------------------------------------

    def signed_url(self, task: SimTask, *, suffix: str = "mp4", ttl: float | None = None) -> str:
        """A URL for the task's output that stops working after ``ttl`` seconds; each call
        signs afresh (as Runway refreshes its output URLs on every status read)."""
        lifetime = self.config.url_ttl if ttl is None else ttl
        if "expired-url" in task.faults:
            lifetime = -60
        expires = int(time.time() + lifetime)
        token = self._sign(f"{task.id}.{suffix}.{expires}")
        return (
            f"{self.config.public_url}/_simulator/files/{task.id}.{suffix}"
            f"?expires={expires}&sig={token}"
        )

    def _sign(self, text: str) -> str:
        return hmac.new(self._url_key, text.encode(), hashlib.sha256).hexdigest()[:32]

    def check_signature(self, name: str, expires: int, sig: str) -> bool:
        """Whether ``sig`` signs ``name`` (``<task id>.<suffix>``) until ``expires``."""
        return hmac.compare_digest(self._sign(f"{name}.{expires}"), sig)

    def render_key(self, task: SimTask) -> RenderKey:
        """Everything that changes the bytes of ``task``'s output: the size, duration, fps and
        audio after the output faults, the fault that damages the file, and the prompt and seed
        the synthetic renderer draws (left out with ``generic_renders``, where every output is
        the same card)."""
        spec, faults = task.spec, task.faults
        duration = spec.duration / 2 if "wrong-duration" in faults else spec.duration
        width, height = spec.width, spec.height
        if "wrong-aspect" in faults:
            width, height = height, width
        damage = "truncated" if "truncated" in faults else "corrupt" if "corrupt" in faults else ""
        prompt, seed = (
            (GENERIC_PROMPT, 0) if self.config.generic_renders else (spec.prompt, spec.seed)
        )
        return RenderKey(prompt, seed, duration, width, height, spec.fps, spec.audio, damage)

    async def render(self, task: SimTask) -> Path:
        """The task's output file (``<media_dir>/<task id>.mp4``): a link to the render of its
        key, which is made once however many tasks (or concurrent downloads) share it."""
        rendered = await self._rendered(self.render_key(task))
        path = self.config.media_dir / f"{task.id}.mp4"
        if not path.is_file():
            tmp = path.with_name(f".{task.id}.{secrets.token_hex(4)}.mp4")
            try:
                os.link(rendered, tmp)
            except OSError:
                shutil.copyfile(rendered, tmp)
            os.replace(tmp, path)
        return path

    async def _rendered(self, key: RenderKey) -> Path:
        """The render of ``key``; concurrent callers wait for the one render in progress."""
        done = self._renders.get(key)
        if done is not None:
            return done
        pending = self._rendering.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().create_task(self._render(key))
            self._rendering[key] = pending
        try:
            path = await asyncio.shield(pending)
        finally:
            if pending.done():
                self._rendering.pop(key, None)
        self._renders[key] = path
        return path

    async def _render(self, key: RenderKey) -> Path:
        from ..media.synth import SynthSpec, render

        folder = self.config.media_dir / "renders"
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:24]
        path = folder / f"{digest}.mp4"
        tmp = folder / f".{digest}.{secrets.token_hex(4)}.mp4"
        synth = SynthSpec(
            prompt=key.prompt,
            seed=key.seed,
            duration=key.duration,
            width=key.width,
            height=key.height,
            fps=key.fps,
            audio=key.audio,
        )
        self.render_count += 1
        await asyncio.to_thread(render, synth, tmp)
        if key.damage == "truncated":
            with tmp.open("r+b") as handle:
                handle.truncate(tmp.stat().st_size // 2)
        elif key.damage == "corrupt":
            # Zero a block in the middle of the media data: the file keeps its size and
            # opens, but frames no longer decode (deterministic, unlike random bit flips).
            data = bytearray(tmp.read_bytes())
            start, end = int(len(data) * 0.4), int(len(data) * 0.7)
            data[start:end] = bytes(end - start)
            tmp.write_bytes(bytes(data))
        os.replace(tmp, path)
        return path

    async def thumbnail(self, task: SimTask) -> Path:
        """The poster frame of the task's output, made once per render."""
        from ..media.thumbnail import thumbnail

        video = await self._rendered(self.render_key(task))
        thumb = video.with_suffix(".jpg")
        lock = self._thumb_locks.setdefault(video, asyncio.Lock())
        async with lock:
            if not thumb.is_file():
                await asyncio.to_thread(thumbnail, video, thumb)
        return thumb

    # -- timers ----------------------------------------------------------------------------

    def call_at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        """Runs ``callback`` on the running loop at the wall-clock moment ``when``: an entry in
        the loop's timer heap, with no task (or wake-up) per waiting task until then."""
        loop = asyncio.get_running_loop()
        return loop.call_at(loop.time() + max(0.0, when - time.time()), callback)

    def watch(self, task: SimTask, check: Callable[[float], float | None]) -> None:
        """Follows ``task`` on the loop's timer: ``check(now)`` does whatever is due (sends a
        webhook) and answers when to look again (None: never). It runs now, then only at the
        moments it names, and at once after :meth:`poke` (a cancel or delete), so a waiting
        task costs one timer entry, not a coroutine that wakes every few milliseconds."""
        self._watches[task.id] = check
        self._run_watch(task.id)

    def poke(self, task: SimTask) -> None:
        """Something outside the timeline changed ``task`` (a cancel, a delete): its watch, if
        it has one, looks again on the loop's next turn."""
        if task.id not in self._watches:
            return
        handle = self._watch_timers.pop(task.id, None)
        if handle is not None:
            handle.cancel()
        asyncio.get_running_loop().call_soon(self._run_watch, task.id)

    def _run_watch(self, task_id: str) -> None:
        self._watch_timers.pop(task_id, None)
        check = self._watches.get(task_id)
        if check is None:
            return
        try:
            wake = check(time.time())
        except Exception:  # a twin's bug must not stop every other task's timer
            log.exception("simulator watch of %s failed", task_id)
            wake = None
        if wake is None:
            self._watches.pop(task_id, None)
            return
        self._watch_timers[task_id] = self.call_at(wake, lambda: self._run_watch(task_id))

    # -- webhooks --------------------------------------------------------------------------

    def _webhook_client(self) -> httpx.AsyncClient:
        """One client (one connection pool, one TLS context) for every delivery made on the
        running loop: making one per delivery costs milliseconds of CPU each."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client, self._client_loop = httpx.AsyncClient(timeout=10), loop
        return self._client

    def send_webhook(
        self,
        url: str,
        body: dict[str, Any],
        *,
        faults: Faults,
        headers_for: Any = None,
        kind: str = "webhook",
    ) -> None:
        """Deliver ``body`` to ``url`` in the background, with the webhook faults applied.
        ``headers_for(raw_bytes) -> dict`` signs each delivery (None: unsigned)."""
        task = asyncio.get_running_loop().create_task(
            self._deliver(url, body, faults, headers_for, kind)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _deliver(
        self, url: str, body: dict[str, Any], faults: Faults, headers_for: Any, kind: str
    ) -> None:
        record: dict[str, Any] = {"kind": kind, "url": url, "attempts": 0, "status": None}
        self.webhooks.append(record)
        if "webhook-drop" in faults:
            record["status"] = "dropped"
            return
        if "webhook-late" in faults:
            await asyncio.sleep(faults.value("webhook-late", 5.0))
        raw = json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        if headers_for is not None:
            headers.update(headers_for(raw))
        if "webhook-forged" in faults:
            headers = {
                k: (v[:-4] + "AAAA" if "signature" in k.lower() else v) for k, v in headers.items()
            }
        copies = 2 if "webhook-duplicate" in faults else 1
        client = self._webhook_client()
        for _ in range(copies):
            for attempt in range(self.config.webhook_retries):
                record["attempts"] += 1
                try:
                    response = await client.post(url, content=raw, headers=headers)
                    record["status"] = response.status_code
                    if response.status_code < 300:
                        break
                except httpx.HTTPError as exc:
                    record["status"] = f"error: {exc}"
                await asyncio.sleep(0.2 * (attempt + 1))

    # -- stats -----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return {
            "creates": dict(self.creates),
            "creates_by_reference": {p: dict(c) for p, c in self.creates_by_reference.items()},
            "tasks": len(self.tasks),
            "watching": len(self._watches),
            "renders": self.render_count,
            "requests": dict(self.requests),
            "webhooks": self.webhooks,
        }


def sim_state(request: Request) -> SimState:
    """The simulator state of the app serving ``request`` (every twin's routes read it here)."""
    state: SimState = request.app.state.sim
    return state
