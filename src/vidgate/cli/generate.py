"""``vidgate generate``: run one job on the embedded engine, with a live progress bar."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn
from rich.table import Table

from ..accounting import check_user
from ..engine import Engine
from ..exceptions import InvalidRequest
from ..settings import Settings
from ..types import Job, JobStatus, Phase, VideoRequest
from ._caching import CacheOption, NoCacheOption, cache_mode
from ._console import EXIT_FAILED, err, fail, friendly, out, print_json
from ._priority import PriorityOption, StrategyOption
from ._prompting import (
    Action,
    Atmosphere,
    Camera,
    Lighting,
    Style,
    Subject,
    TemplateName,
    Vars,
    prompt_fields,
    show_hints,
)

__all__ = ["generate"]


@friendly
def generate(
    prompt: Annotated[
        str | None,
        typer.Argument(help="What the video shows (the subject, with --camera and the like)."),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option("--duration", "-d", help="Seconds (default 5, or the model's default)."),
    ] = None,
    aspect: Annotated[
        str | None, typer.Option("--aspect", "-a", help="W:H, e.g. 16:9, 9:16 (default 16:9).")
    ] = None,
    resolution: Annotated[
        str | None, typer.Option(help="480p, 720p, 1080p, 4k (default 720p).")
    ] = None,
    fps: Annotated[int | None, typer.Option(help="Frames per second (model default).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed, where the model takes one.")] = None,
    negative: Annotated[str | None, typer.Option(help="What to avoid (negative prompt).")] = None,
    image: Annotated[str | None, typer.Option(help="First frame: a path or URL.")] = None,
    last_frame: Annotated[str | None, typer.Option(help="Last frame: a path or URL.")] = None,
    audio: Annotated[
        bool | None, typer.Option("--audio/--no-audio", help="With or without sound.")
    ] = None,
    provider: Annotated[str | None, typer.Option(help="Use this provider.")] = None,
    model: Annotated[str | None, typer.Option(help="Use this model: PROVIDER:MODEL.")] = None,
    priority: PriorityOption = None,
    strategy: StrategyOption = None,
    out_arg: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help="Copy the finished video to this file, or into this directory as <job id>.mp4.",
        ),
    ] = None,
    deadline: Annotated[
        float | None, typer.Option(help="Give up after this many seconds (default 600).")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Run at most one job for this key.")
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(help="The end user it is for: their budget and quotas apply."),
    ] = None,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the job as JSON.")] = False,
    detach: Annotated[
        bool, typer.Option(help="Queue the job for `vidgate worker` and print its id.")
    ] = False,
    subject: Subject = None,
    action: Action = None,
    camera: Camera = None,
    lighting: Lighting = None,
    atmosphere: Atmosphere = None,
    style: Style = None,
    template: TemplateName = None,
    var: Vars = None,
) -> None:
    """Generate a video from a prompt and wait for it, showing progress."""
    # Only what was given: an unset duration lets routing fall back to a model's default.
    given: dict[str, float | str] = {"duration": duration} if duration is not None else {}
    # Only what was given: a template's default parameters fill the rest.
    shape = {"aspect_ratio": aspect, "resolution": resolution}
    given |= {k: v for k, v in shape.items() if v is not None}
    request = VideoRequest(
        **prompt_fields(
            prompt,
            negative=negative,
            subject=subject,
            action=action,
            camera=camera,
            lighting=lighting,
            atmosphere=atmosphere,
            style=style,
            template=template,
            variables=var,
        ),
        **given,
        fps=fps,
        seed=seed,
        audio=audio,
        image=image,
        last_frame=last_frame,
        model=model,
        providers=(provider,) if provider else (),
        idempotency_key=idempotency_key,
        deadline_seconds=deadline,
        user=check_user(user) if user else None,
        priority=priority,
        strategy=strategy,
        cache=cache_mode(cache, no_cache),
    )
    settings = Settings()
    out_path = Path(out_arg).expanduser() if out_arg else None
    if detach and out_path is not None:
        raise InvalidRequest(
            "--out needs the job to finish here, not with --detach: copy the video from "
            "the path `vidgate jobs show JOB_ID` prints once a worker has made it"
        )
    # Before anything is spent: the destination must be writable.
    folder = _writable_destination(out_arg) if out_arg else None
    if detach:
        engine = Engine(settings)
        try:
            _announce(engine, request, quiet=json_output)
            job = engine.enqueue(request)
        finally:
            asyncio.run(engine.close())
        if json_output:
            print_json(job)
        else:
            out.print(job.id)
        return
    job = asyncio.run(_run(settings, request, quiet=json_output))
    if job.phase is Phase.SCHEDULED:
        if json_output:
            print_json(job)
        else:
            when = f"{job.not_before:%Y-%m-%d %H:%M} UTC" if job.not_before else "later"
            err.print(
                f"job {job.id} is a batch job, scheduled for the off-peak window (not before "
                f"{when}); a worker (`vidgate worker`) releases and runs it"
            )
            out.print(job.id)
        return
    copied_to: Path | None = None
    problem: str | None = None
    if job.status is JobStatus.COMPLETED and out_path is not None and job.output is not None:
        target = out_path if folder is None else folder / f"{job.id}.mp4"
        try:
            shutil.copyfile(job.output.uri, target)
            copied_to = target
        except OSError as exc:
            problem = (
                f"the video was made but could not be written to {target} "
                f"({exc.strerror or exc}); it is kept as job {job.id}, stored at "
                f"{job.output.uri}"
            )
    if json_output:
        print_json(job)
    else:
        _report(job, copied_to)
    if problem is not None:
        fail(problem, code="output_not_written", exit_code=EXIT_FAILED)
    if job.status is not JobStatus.COMPLETED:
        raise typer.Exit(EXIT_FAILED)


def _writable_destination(out: str) -> Path | None:
    """Check ``--out`` before the job is submitted, making its parent directories. Returns the
    directory when ``--out`` names one (an existing directory, or a path ending in a
    separator): the video is then written there as ``<job id>.mp4``."""
    out_path = Path(out).expanduser()
    is_dir = out_path.is_dir() or out.endswith(("/", os.sep))
    folder = out_path if is_dir else out_path.parent
    if not is_dir and out_path.exists() and not out_path.is_file():
        raise InvalidRequest(f"--out {out_path} exists and is not a regular file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise InvalidRequest(
            f"--out {out_path}: cannot write to {folder} ({exc.strerror or exc})"
        ) from None
    return folder if is_dir else None


def _announce(engine: Engine, request: VideoRequest, *, quiet: bool) -> None:
    resolved, plan = engine.resolve(request)  # the defaults create decides, before it is spent
    if plan.notice and not quiet:
        err.print(f"[yellow]note:[/] {plan.notice}")
    if not quiet:
        show_hints(engine.hints(resolved, plan))


async def _run(settings: Settings, request: VideoRequest, *, quiet: bool) -> Job:
    engine = Engine(settings)
    try:
        _announce(engine, request, quiet=quiet)
        job = await engine.submit(request)
        if job.phase is Phase.SCHEDULED:
            return job  # held for the batch window: nothing to watch here
        started = time.monotonic()
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[elapsed]}"),
        )
        try:
            with Progress(*columns, console=err, transient=True, disable=quiet) as bar:
                task = bar.add_task("queued", total=100, elapsed="0s")
                async for snapshot in engine.watch(job.id):
                    where = f" on {snapshot.provider}:{snapshot.model}" if snapshot.provider else ""
                    bar.update(
                        task,
                        completed=snapshot.progress,
                        description=f"{snapshot.phase.value}{where}",
                        elapsed=f"{time.monotonic() - started:.0f}s",
                    )
        except asyncio.CancelledError:
            err.print(f"stopped watching; job {job.id} is kept and `vidgate worker` will finish it")
            raise
        return engine.get(job.id)
    finally:
        await engine.close()


def _report(job: Job, copied_to: Path | None) -> None:
    if job.status is not JobStatus.COMPLETED:
        error = job.error
        label = f"[{error.code}] {error.message}" if error else job.status.value
        err.print(f"[bold red]job {job.id} {job.status.value}:[/] {escape(label)}")
        return
    assert job.output is not None
    media = job.output.media
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("file", str(copied_to or job.output.uri))
    if media is not None:
        table.add_row(
            "video",
            f"{media.width}x{media.height}, {media.duration:.2f} s, {media.fps or 0:g} fps, "
            f"{media.video_codec}"
            + (f" + {media.audio_codec}" if media.has_audio else "")
            + f", {media.container}, {media.size_bytes / 1e6:.2f} MB",
        )
    table.add_row("provider", f"{job.provider}:{job.model}")
    table.add_row("cost", f"${job.cost_usd:.2f}" if job.cost_usd is not None else "unknown")
    if job.thumbnail is not None:
        table.add_row("thumbnail", job.thumbnail.uri)
    table.add_row("job", job.id)
    out.print(table)
