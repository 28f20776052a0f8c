"""``vidgate simulator``: serve every provider's wire format on localhost, with faults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..settings import Settings
from ._console import err, fail, friendly


@friendly
def simulator(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8790,
    latency: Annotated[
        float | None,
        typer.Option(help="Seconds a generation takes (default $VIDGATE_SIMULATOR_LATENCY or 3)."),
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(help='Global fault rates as JSON, e.g. \'{"500-poll": 0.1, "429": 0.05}\'.'),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the fault profile's draws.")] = 0,
    public_url: Annotated[
        str | None, typer.Option(help="URL clients reach this server at (for output links).")
    ] = None,
    openai_webhook_url: Annotated[
        str | None, typer.Option(help="Where to deliver OpenAI-style video webhooks.")
    ] = None,
    openai_webhook_secret: Annotated[
        str | None, typer.Option(help="The whsec_ secret that signs them.")
    ] = None,
    media_dir: Annotated[
        Path | None, typer.Option(help="Where rendered outputs are cached.")
    ] = None,
    generic_renders: Annotated[
        bool,
        typer.Option(
            "--generic-renders",
            help="Render every output as the same card (one render per size, duration, fps, "
            "audio and output fault, shared by all tasks): for load runs, so the simulator's "
            "own rendering is not what is measured.",
        ),
    ] = False,
) -> None:
    """Serve every provider's video API on localhost, with faults, for tests and demos.

    Runway, Luma, Luma Agents, OpenAI, Replicate, fal, Gemini and Vertex. Point an official SDK
    at http://HOST:PORT/runway, /luma/dream-machine/v1, /luma-agents/v1, /openai/v1,
    /replicate or /gemini/; point vidgate at it with VIDGATE_SIMULATOR_URL."""
    from ..simulator.faults import FaultProfile, UnknownFault
    from ..simulator.server import serve
    from ..simulator.state import SimulatorConfig

    if latency is None:
        latency = Settings().simulator_latency
    try:
        profile = FaultProfile(rates=json.loads(faults) if faults else {}, seed=seed)
    except (json.JSONDecodeError, UnknownFault, TypeError) as exc:
        fail(f"--faults must be a JSON object of fault rates: {exc}", exit_code=2)
    config = SimulatorConfig(
        latency=latency,
        public_url=public_url or f"http://{host}:{port}",
        profile=profile,
        openai_webhook_url=openai_webhook_url,
        generic_renders=generic_renders,
    )
    if openai_webhook_secret:
        config.openai_webhook_secret = openai_webhook_secret
    if media_dir is not None:
        config.media_dir = media_dir
    shared = ", generic renders" if generic_renders else ""
    err.print(f"vidgate simulator on {config.public_url} (latency {latency:g} s{shared})")
    for prefix in (
        "runway",
        "luma/dream-machine/v1",
        "luma-agents/v1",
        "openai/v1",
        "replicate",
        "fal",
        "gemini/",
        "vertex",
    ):
        err.print(f"  {config.public_url}/{prefix}")
    if openai_webhook_url:
        err.print(
            f"  OpenAI webhooks to {openai_webhook_url}, secret {config.openai_webhook_secret}"
        )
    serve(config, host, port)
